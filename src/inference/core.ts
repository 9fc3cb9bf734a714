// The transport-neutral inference core: every transport (row format and V2 over HTTP, and any later one)
// resolves a model through it, decodes with its own codec, and runs through it, so admission, deadlines,
// outcome counting and the per-request log fields exist once.
import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock.ts';
import { AppError } from '../errors.ts';
import type { Outcome } from '../metrics.ts';
import type { Model } from '../models/model.ts';
import type { ModelRepository } from '../models/repository.ts';
import { RuntimeError } from '../models/session.ts';
import type { BatchResult } from '../batching/batcher.ts';
import { requestCost, type BodyFormat, type Charge, type MemoryBudget } from './memory-budget.ts';
import { concat, sliceRows } from '../tensors/rows.ts';
import type { Tensors } from '../tensors/types.ts';
import { Turns, type Turn } from './turns.ts';

/** What one inference request adds to its log line. */
export interface InferenceTrace {
  model: string;
  version: number;
  batchSize?: number;
  queueMs?: number;
  computeMs?: number;
}

export interface RunOptions {
  /** The client's own deadline, ms; REQUEST_TIMEOUT_MS caps it. */
  timeoutMs?: number;
  /** Aborts when the client goes away, so a queued request is dropped. */
  signal?: AbortSignal;
}

export interface InferenceCoreOptions {
  repository: ModelRepository;
  clock: Clock;
  requestTimeoutMs: number;
  /** Turns of main-thread work shared by every request (a new one when not given). */
  turns?: Turns;
}

/** The body a request will bring: its format and its size (or the most it may be). */
export interface BodyEstimate {
  format: BodyFormat;
  bytes: number;
}

export class InferenceCore {
  readonly #o: Required<InferenceCoreOptions>;
  #budget: MemoryBudget | undefined;

  constructor(options: InferenceCoreOptions) {
    this.#o = { ...options, turns: options.turns ?? new Turns() };
  }

  /**
   * Waits for a turn of main-thread work (turns.ts). A transport takes one before it reads a body, so the
   * requests of a burst are admitted (or refused) as they arrive, then read and decoded in turns.
   */
  turn(): ReturnType<Turn> {
    return this.#o.turns.take();
  }

  /** Bounds the memory of requests in flight from now on (set once the models are loaded and their memory is known). */
  limitMemory(budget: MemoryBudget): void {
    this.#budget = budget;
  }

  /**
   * Starts one request: finds the model (404 unknown, 503 not ready) and admits the request (503 when the
   * model cannot take more work, or its estimated memory does not fit). Called before the request's body is
   * read, so a refusal costs nothing. The caller must call end() once the response is written or the client left.
   */
  begin(name: string | undefined, version: string | undefined, body?: BodyEstimate): InferenceCall {
    const model = this.#o.repository.resolve(name, version);
    let charge: Charge | undefined;
    try {
      model.admit();
      if (this.#budget && body) charge = this.#budget.charge(requestCost(body.format, body.bytes));
    } catch (err) {
      model.metrics.outcome(outcomeOf(err)).inc();
      throw err;
    }
    return new InferenceCall(model, this.#o, charge, model.hold());
  }
}

/** One admitted request on one model version. */
export class InferenceCall {
  readonly model: Model;
  readonly trace: InferenceTrace;
  readonly #o: Required<InferenceCoreOptions>;
  readonly #charge: Charge | undefined;
  readonly #release: (() => void) | undefined;

  constructor(model: Model, options: Required<InferenceCoreOptions>, charge?: Charge, release?: () => void) {
    this.model = model;
    this.trace = { model: model.name, version: model.version };
    this.#o = options;
    this.#charge = charge;
    this.#release = release;
  }

  /** The request is over (answered, failed or abandoned): its memory charge is given back, and its hold on the model version. */
  end(): void {
    this.#charge?.release();
    this.#release?.();
  }

  /**
   * Runs a codec's decoding step, in this request's turn of main-thread work (turns.ts); a client error it
   * throws counts as an invalid request.
   */
  async decode<T>(decode: (model: Model) => T | Promise<T>): Promise<T> {
    await this.#o.turns.take();
    try {
      return await decode(this.model);
    } catch (err) {
      if (err instanceof AppError && err.status < 500) this.model.metrics.outcome('invalid').inc();
      throw err;
    }
  }

  /** Queues decoded inputs with the request's deadline; resolves with this request's own output rows. */
  async run(inputs: Tensors, options: RunOptions = {}): Promise<Tensors> {
    const { model } = this;
    const started = performance.now();
    const budget = Math.min(this.#o.requestTimeoutMs, options.timeoutMs ?? Infinity);
    model.statistics.recordInputs(inputs); // before the inputs' buffers are transferred to the worker
    try {
      const submit = { deadline: this.#o.clock.now() + budget, signal: options.signal };
      const result = await submitInBatches(model, inputs, submit);
      model.statistics.recordPredictions(result.outputs);
      model.metrics.queueSeconds.observe(result.queueMs / 1000);
      model.metrics.totalSeconds.observe((performance.now() - started) / 1000);
      model.metrics.outcome('success').inc();
      Object.assign(this.trace, { batchSize: result.batchSize, queueMs: result.queueMs, computeMs: result.computeMs });
      return result.outputs;
    } catch (err) {
      model.metrics.outcome(outcomeOf(err)).inc();
      if (err instanceof RuntimeError) {
        throw new AppError('inference_failed', 500, `model "${model.name}" version ${model.version} failed to run the batch holding this request: ${err.message}`);
      }
      throw err;
    }
  }
}

/**
 * A request with more rows than the model's largest batch is queued as several parts of at most that many
 * rows, so no batch exceeds MAX_BATCH_SIZE (memory per batch stays bounded); the parts' outputs are joined
 * back in order. Figures are those of the slowest part.
 */
async function submitInBatches(model: Model, inputs: Tensors, options: { deadline: number; signal?: AbortSignal }): Promise<BatchResult> {
  const rows = Object.values(inputs)[0]?.dims[0] ?? 0;
  const max = model.maxBatchSize;
  // Inputs whose first dimensions disagree go through whole: the batcher refuses them with a 400.
  if (!model.batchable || rows <= max || Object.values(inputs).some((t) => t.dims[0] !== rows)) return model.submit(inputs, options);
  const parts: Promise<BatchResult>[] = [];
  // Every part listens to the client's abort signal while it is queued.
  if (options.signal) setMaxListeners(Math.ceil(rows / max) + 10, options.signal);
  for (let start = 0; start < rows; start += max) {
    const part: Tensors = {};
    for (const [name, t] of Object.entries(inputs)) part[name] = sliceRows(t, start, Math.min(max, rows - start));
    parts.push(model.submit(part, options));
  }
  const results = await Promise.all(parts);
  const outputs: Tensors = {};
  for (const name of Object.keys(results[0]!.outputs)) outputs[name] = concat(results.map((r) => r.outputs[name]!));
  return {
    outputs,
    queueMs: Math.max(...results.map((r) => r.queueMs)),
    computeMs: Math.max(...results.map((r) => r.computeMs)),
    batchSize: Math.max(...results.map((r) => r.batchSize)),
  };
}

function outcomeOf(err: unknown): Outcome {
  if (err instanceof AppError) {
    if (err.code === 'deadline_exceeded') return 'timeout';
    if (err.code === 'cancelled') return 'cancelled';
    if (err.status === 503) return 'rejected';
    if (err.status < 500) return 'invalid';
  }
  return 'error';
}
