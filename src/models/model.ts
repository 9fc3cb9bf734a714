import type { Logger } from 'pino';
import { Batcher, type BatchResult } from '../batching/batcher.ts';
import type { Clock } from '../clock.ts';
import type { Metrics, Outcome } from '../metrics.ts';
import { allocate, V2_BY_ELEMENT, type ElementType, type Tensors, type TensorSpec } from '../tensors/types.ts';
import type { ModelConfig } from './config.ts';
import type { RawSpec, WorkerSession } from './session.ts';

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

/** Per-request figures of one model version, recorded by the inference core; children bound once. */
export interface RequestMetrics {
  queueSeconds: { observe(v: number): void };
  totalSeconds: { observe(v: number): void };
  outcome(outcome: Outcome): { inc(): void };
}

const SERVED_TYPES = new Set(Object.keys(V2_BY_ELEMENT));

function toSpecs(raw: RawSpec[], what: string, path: string): TensorSpec[] {
  return raw.map((r) => {
    if (!SERVED_TYPES.has(r.type)) throw new Error(`${path}: ${what} "${r.name}" has element type ${r.type}, which meshserve does not serve`);
    return { name: r.name, type: r.type as ElementType, shape: r.shape };
  });
}

function bindRequestMetrics(metrics: Metrics, labels: { model: string; version: string }): RequestMetrics {
  const outcomes = new Map<Outcome, { inc(): void }>();
  return {
    queueSeconds: metrics.queueDuration.labels(labels),
    totalSeconds: metrics.inferenceDuration.labels(labels),
    outcome: (outcome) => {
      let child = outcomes.get(outcome);
      if (!child) outcomes.set(outcome, (child = metrics.inferenceRequests.labels({ ...labels, outcome })));
      return child;
    },
  };
}

/** One loaded model version: its signature, its session (in a worker thread), its batching queue and its readiness. */
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
  readonly metrics: RequestMetrics;
  readonly #session: WorkerSession;
  readonly #batcher: Batcher;
  readonly #readyGauge: { set(v: number): void };
  #ready = false;

  constructor(o: ModelOptions) {
    this.name = o.name;
    this.version = o.version;
    this.path = o.path;
    this.config = o.config;
    this.inputs = toSpecs(o.signature.inputs, 'input', o.path);
    this.outputs = toSpecs(o.signature.outputs, 'output', o.path);
    this.batchable = this.inputs.length > 0 && this.inputs.every((s) => s.shape.length > 0 && s.shape[0] === -1);
    this.maxBatchSize = this.batchable ? (o.config.max_batch_size ?? o.maxBatchSize) : 1;
    this.#session = o.session;
    const labels = { model: o.name, version: String(o.version) };
    this.metrics = bindRequestMetrics(o.metrics, labels);
    const batchSize = o.metrics.batchSize.labels(labels);
    const computeDuration = o.metrics.computeDuration.labels(labels);
    const queueDepth = o.metrics.queueDepth.labels(labels);
    this.#readyGauge = o.metrics.modelReady.labels(labels);
    o.metrics.queueCapacity.set(labels, o.maxQueueSize);
    queueDepth.set(0);
    this.#readyGauge.set(0);
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

  /** Loaded and warmed up, and not closed. */
  get ready(): boolean {
    return this.#ready;
  }

  get queueDepth(): number {
    return this.#batcher.depth;
  }

  /** Throws the 503 a request would get if it were queued now (queue full, shutting down), before its body is read. */
  admit(): void {
    this.#batcher.checkAdmission();
  }

  /** Queues inputs that were already checked against the signature. */
  submit(inputs: Tensors, options: { deadline: number; signal?: AbortSignal }): Promise<BatchResult> {
    return this.#batcher.submit(inputs, options);
  }

  /** Runs one request of zeros (one row, and a full batch when batchable) so the first real request is not slow. */
  async warmUp(): Promise<void> {
    const rows = this.batchable ? [1, this.maxBatchSize] : [1];
    for (const n of rows) {
      const inputs: Tensors = {};
      for (const spec of this.inputs) {
        const dims = spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? n : 1));
        inputs[spec.name] = { type: spec.type, dims, data: allocate(spec.type, dims.reduce((a, b) => a * b, 1)) };
      }
      await this.#session.run(inputs);
    }
    this.#ready = true;
    this.#readyGauge.set(1);
  }

  /** Stops taking requests and waits for queued and running batches. */
  async drain(): Promise<void> {
    await this.#batcher.drain();
  }

  /** Refuses the requests waiting in the queue (503 shutting_down). */
  abortQueued(): void {
    this.#batcher.abortQueued();
  }

  async close(): Promise<void> {
    this.#ready = false;
    this.#readyGauge.set(0);
    await this.#session.close();
  }
}
