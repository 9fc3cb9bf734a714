import express, { Router, type Request, type Response } from 'express';
import { AppError, invalid } from '../errors.ts';
import type { AppDeps } from './deps.ts';
import { decodeFor, runInference } from './infer.ts';
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

  const predict = async (req: Request, res: Response, name: string | undefined, version?: string) => {
    const model = deps.repository.resolve(name, version);
    const body = decodeFor(model, () => {
      const parsed = PredictRequest.safeParse(req.body);
      if (!parsed.success) throw invalid(describeIssue(parsed.error, ''));
      return parsed.data;
    });
    const inputs = decodeFor(model, () => instancesToTensors(model, body.instances));
    const outputs = await runInference(deps, res, model, inputs, body.parameters?.timeout_ms);
    res.json({ model: model.name, version: String(model.version), predictions: tensorsToPredictions(model, outputs, body.instances.length) });
  };

  router.post('/predict', requireJson, json, (req, res) => predict(req, res, undefined));
  // Express cannot put a literal ":" after a parameter, so ":predict" is split off by hand.
  const v1 = (req: Request, res: Response) => {
    const target = String(req.params.target);
    if (!target.endsWith(':predict')) throw new AppError('route_not_found', 404, `no route POST ${req.path.slice(0, 200)}; expected /v1/models/<name>:predict`);
    return predict(req, res, target.slice(0, -':predict'.length), req.params.version as string | undefined);
  };
  router.post('/v1/models/:target', requireJson, json, v1);
  router.post('/v1/models/:name/versions/:target', requireJson, json, (req, res) => {
    const target = String(req.params.target);
    if (!target.endsWith(':predict')) throw new AppError('route_not_found', 404, `no route POST ${req.path.slice(0, 200)}; expected /v1/models/<name>/versions/<v>:predict`);
    return predict(req, res, String(req.params.name), target.slice(0, -':predict'.length));
  });
  return router;
}
