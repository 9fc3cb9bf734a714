import type { ServerResponse } from 'node:http';
import { invalid } from '../errors.ts';
import type { Model } from '../models/model.ts';
import type { RequestState } from './context.ts';
import type { AppDeps } from './deps.ts';
import { decodeFor, runInference } from './infer.ts';
import { instancesToTensors, tensorsToPredictions } from './rows.ts';
import { describeIssue, PredictRequest } from './schemas.ts';

/** Row format (POST /predict, POST /v1/models/<name>[/versions/<v>]:predict): parsed JSON body in, response object out. */
export async function predictRows(deps: AppDeps, model: Model, json: unknown, state: RequestState, res: ServerResponse) {
  const body = decodeFor(model, () => {
    const parsed = PredictRequest.safeParse(json);
    if (!parsed.success) throw invalid(describeIssue(parsed.error, ''));
    return parsed.data;
  });
  const inputs = decodeFor(model, () => instancesToTensors(model, body.instances));
  const outputs = await runInference(deps, state, res, model, inputs, body.parameters?.timeout_ms);
  return { model: model.name, version: String(model.version), predictions: tensorsToPredictions(model, outputs, body.instances.length) };
}
