import type { ServerResponse } from 'node:http';
import { queueFullError, type Tensors } from '../batching/batcher.ts';
import { AppError } from '../errors.ts';
import type { Model } from '../models/model.ts';
import { clientSignal, type RequestState } from './context.ts';
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
export async function runInference(deps: AppDeps, state: RequestState, res: ServerResponse, model: Model, inputs: Tensors, timeoutMs?: number): Promise<Tensors> {
  const budget = Math.min(deps.config.REQUEST_TIMEOUT_MS, timeoutMs ?? Infinity);
  const info: RequestState['inference'] = { model: model.name, version: model.version };
  state.inference = info;
  const result = await model.infer(inputs, { deadline: deps.clock.now() + budget, signal: clientSignal(res) });
  Object.assign(info, { batchSize: result.batchSize, queueMs: result.queueMs, computeMs: result.computeMs });
  return result.outputs;
}

/** Refuses a request before its body is read when its model's queue is already full. */
export function shedLoad(model: Model): void {
  if (model.queueDepth >= model.maxQueueSize) {
    model.record('rejected');
    throw queueFullError(model.maxQueueSize);
  }
}
