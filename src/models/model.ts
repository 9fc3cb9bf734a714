import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import { Batcher, type BatchResult, type Tensors } from '../batching/batcher.ts';
import type { Clock } from '../batching/clock.ts';
import type { Metrics, Outcome } from '../metrics.ts';
import { RuntimeError, type RawSpec, type WorkerSession } from './session.ts';
import { allocate, V2_BY_ELEMENT, type ElementType, type TensorData } from './tensors.ts';

export interface TensorSpec {
  name: string;
  type: ElementType;
  /** -1 marks a dynamic dimension. */
  shape: number[];
}

export interface ModelConfig {
  default?: boolean;
  labels?: string[];
  max_batch_size?: number;
  batch_delay_ms?: number;
  description?: string;
}

export interface ModelOptions {
  name: string;
  version: number;
  path: string;
  config: ModelConfig;
  session: WorkerSession;
  signature: { inputs: RawSpec[]; outputs: RawSpec[] };
  maxBatchSize: number;
  batchDelayMs: number;
  maxQueueSize: number;
  metrics: Metrics;
  logger: Logger;
  clock?: Clock;
}

const SERVED_TYPES = new Set(Object.keys(V2_BY_ELEMENT));

function toSpecs(raw: RawSpec[], what: string, path: string): TensorSpec[] {
  return raw.map((r) => {
    if (!SERVED_TYPES.has(r.type)) throw new Error(`${path}: ${what} "${r.name}" has element type ${r.type}, which meshserve does not serve`);
    return { name: r.name, type: r.type as ElementType, shape: r.shape };
  });
}

/** One loaded model version: its signature, its session (in a worker thread) and its batching queue. */
export class Model {
  readonly name: string;
  readonly version: number;
  readonly path: string;
  readonly config: ModelConfig;
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  /** A model whose inputs all have a dynamic first dimension takes batches of any size. */
  readonly batchable: boolean;
  readonly maxBatchSize: number;
  ready = false;
  readonly #session: WorkerSession;
  readonly #batcher: Batcher;
  readonly #ready: { set(v: number): void };
  readonly maxQueueSize: number;
  /** Metric children for this model version, resolved once instead of hashing labels per request. */
  readonly #observe: {
    queue: { observe(v: number): void };
    total: { observe(v: number): void };
    outcome: (outcome: Outcome) => { inc(): void };
  };

  constructor(o: ModelOptions) {
    this.name = o.name;
    this.version = o.version;
    this.path = o.path;
    this.config = o.config;
    this.inputs = toSpecs(o.signature.inputs, 'input', o.path);
    this.outputs = toSpecs(o.signature.outputs, 'output', o.path);
    this.batchable = this.inputs.length > 0 && this.inputs.every((s) => s.shape.length > 0 && s.shape[0] === -1);
    this.maxBatchSize = this.batchable ? (o.config.max_batch_size ?? o.maxBatchSize) : 1;
    this.maxQueueSize = o.maxQueueSize;
    this.#session = o.session;
    const labels = { model: o.name, version: String(o.version) };
    const outcomes = new Map<Outcome, { inc(): void }>();
    this.#observe = {
      queue: o.metrics.queueDuration.labels(labels),
      total: o.metrics.inferenceDuration.labels(labels),
      outcome: (outcome) => {
        let child = outcomes.get(outcome);
        if (!child) outcomes.set(outcome, (child = o.metrics.inferenceRequests.labels({ ...labels, outcome })));
        return child;
      },
    };
    const batchSize = o.metrics.batchSize.labels(labels);
    const computeDuration = o.metrics.computeDuration.labels(labels);
    const queueDepth = o.metrics.queueDepth.labels(labels);
    this.#ready = o.metrics.modelReady.labels(labels);
    o.metrics.queueCapacity.set(labels, o.maxQueueSize);
    o.metrics.queueDepth.set(labels, 0);
    o.metrics.modelReady.set(labels, 0);
    this.#batcher = new Batcher({
      run: (inputs) => this.#session.run(inputs),
      maxBatchSize: this.maxBatchSize,
      batchDelayMs: o.config.batch_delay_ms ?? o.batchDelayMs,
      maxQueueSize: o.maxQueueSize,
      batchable: this.batchable,
      clock: o.clock,
      onQueueDepth: (depth) => queueDepth.set(depth),
      onBatch: (rows, computeMs) => {
        batchSize.observe(rows);
        computeDuration.observe(computeMs / 1000);
      },
    });
  }

  get queueDepth(): number {
    return this.#batcher.depth;
  }

  /** Runs inputs that were already checked against the signature; records the outcome. */
  async infer(inputs: Tensors, options: { deadline: number; signal?: AbortSignal }): Promise<BatchResult> {
    const started = performance.now();
    try {
      const result = await this.#batcher.submit(inputs, options);
      this.#observe.queue.observe(result.queueMs / 1000);
      this.#observe.total.observe((performance.now() - started) / 1000);
      this.record('success');
      return result;
    } catch (err) {
      this.record(outcomeOf(err));
      if (err instanceof RuntimeError) {
        throw new AppError('inference_failed', 500, `model "${this.name}" version ${this.version} failed to run the batch holding this request: ${err.message}`);
      }
      throw err;
    }
  }

  record(outcome: Outcome): void {
    this.#observe.outcome(outcome).inc();
  }

  /** Runs one request of zeros (one row, and a full batch when batchable) so the first real request is not slow. */
  async warmUp(): Promise<void> {
    const rows = this.batchable ? [1, this.maxBatchSize] : [1];
    for (const n of rows) {
      const inputs: Tensors = {};
      for (const spec of this.inputs) {
        const dims = spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? n : 1));
        inputs[spec.name] = { type: spec.type, dims, data: allocate(spec.type, dims.reduce((a, b) => a * b, 1)) } satisfies TensorData;
      }
      await this.#session.run(inputs);
    }
    this.ready = true;
    this.#ready.set(1);
  }

  /** Stops taking requests and waits for queued and running batches. */
  async drain(): Promise<void> {
    await this.#batcher.drain();
  }

  async close(): Promise<void> {
    this.ready = false;
    this.#ready.set(0);
    await this.#session.close();
  }
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
