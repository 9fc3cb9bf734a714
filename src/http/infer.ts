import type { NextFunction, Request, Response } from 'express';
import { queueFullError, type Tensors } from '../batching/batcher.ts';
import { AppError } from '../errors.ts';
import type { Model } from '../models/model.ts';
import { clientSignal, type InferenceInfo } from './context.ts';
import type { AppDeps } from './deps.ts';

/** Converts a request for a model, counting conversion failures as invalid inference requests. */
export function decodeFor<T>(model: Model, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof AppError && err.status < 500) model.record('invalid');
    throw err;
  }
}

/** Queues inputs on the model with the request's deadline and the client's disconnect signal. */
export async function runInference(deps: AppDeps, res: Response, model: Model, inputs: Tensors, timeoutMs?: number): Promise<Tensors> {
  const budget = Math.min(deps.config.REQUEST_TIMEOUT_MS, timeoutMs ?? Infinity);
  const info: InferenceInfo = { model: model.name, version: model.version };
  res.locals.inference = info;
  const result = await model.infer(inputs, { deadline: deps.clock.now() + budget, signal: clientSignal(res) });
  Object.assign(info, { batchSize: result.batchSize, queueMs: result.queueMs, computeMs: result.computeMs });
  return result.outputs;
}

/** Refuses a request before its body is read when the model is unknown, not ready, or its queue is already full. */
export function shedLoad(modelFor: (req: Request) => Model) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const model = modelFor(req);
    if (model.queueDepth >= model.maxQueueSize) {
      model.record('rejected');
      throw queueFullError(model.maxQueueSize);
    }
    next();
  };
}
