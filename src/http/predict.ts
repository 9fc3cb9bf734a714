import express, { Router, type Request, type Response } from 'express';
import { AppError, invalid } from '../errors.ts';
import type { AppDeps } from './deps.ts';
import { decodeFor, runInference, shedLoad } from './infer.ts';
import { instancesToTensors, tensorsToPredictions } from './rows.ts';
import { describeIssue, PredictRequest } from './schemas.ts';

/** Row format: POST /predict (default model) and POST /v1/models/<name>:predict (KServe V1 / TF Serving). */
export function predictRoutes(deps: AppDeps): Router {
  const router = Router();
  const json = express.json({ limit: deps.config.BODY_LIMIT, type: () => true });
  const requireJson = (req: Request, _res: Response, next: (err?: unknown) => void) => {
    if (!req.is(['application/json', '+json'])) {
      const got = req.get('content-type');
      next(new AppError('unsupported_media_type', 415, `expected content-type application/json, got ${got ? JSON.stringify(got.slice(0, 100)) : 'none'}`));
      return;
    }
    next();
  };

  /** The model a row-format route names: the default one, or <name>[/versions/<v>] before ":predict". */
  const modelFor = (req: Request) => {
    const params = req.params as Record<string, string | undefined>;
    if (params.target === undefined) return deps.repository.resolve(undefined);
    if (!params.target.endsWith(':predict')) {
      throw new AppError('route_not_found', 404, `no route POST ${req.path.slice(0, 200)}; expected /v1/models/<name>[/versions/<v>]:predict`);
    }
    const target = params.target.slice(0, -':predict'.length);
    return params.name === undefined ? deps.repository.resolve(target) : deps.repository.resolve(params.name, target);
  };

  const predict = async (req: Request, res: Response) => {
    const model = modelFor(req);
    const body = decodeFor(model, () => {
      const parsed = PredictRequest.safeParse(req.body);
      if (!parsed.success) throw invalid(describeIssue(parsed.error, ''));
      return parsed.data;
    });
    const inputs = decodeFor(model, () => instancesToTensors(model, body.instances));
    const outputs = await runInference(deps, res, model, inputs, body.parameters?.timeout_ms);
    res.json({ model: model.name, version: String(model.version), predictions: tensorsToPredictions(model, outputs, body.instances.length) });
  };

  // Express cannot put a literal ":" after a parameter, so ":predict" is split off the last segment.
  for (const path of ['/predict', '/v1/models/:target', '/v1/models/:name/versions/:target']) {
    router.post(path, requireJson, shedLoad(modelFor), json, predict);
  }
  return router;
}
