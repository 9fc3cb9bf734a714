import type { Logger } from 'pino';
import { Batcher, type BatchResult } from '../batching/batcher.ts';
import { systemClock, type Clock } from '../clock.ts';
import { AppError, unavailable } from '../errors.ts';
import type { Metrics, Outcome } from '../metrics.ts';
import { allocate, V2_BY_ELEMENT, type ElementType, type Tensors, type TensorSpec } from '../tensors/types.ts';
import type { ModelConfig } from './config.ts';
import { cloneTensors } from '../tensors/transfer.ts';
import type { FailureCause, PooledSession, Tenant } from './pool.ts';
import { WorkerGoneError, type RawSpec } from './session.ts';
import { createStatistics, type ModelStatistics } from './statistics.ts';

type State = 'loading' | 'ready' | 'restarting' | 'closed';

export interface ModelOptions {
  name: string;
  version: number;
  path: string;
  config: ModelConfig;
  session: PooledSession;
  signature: { inputs: RawSpec[]; outputs: RawSpec[] };
  maxBatchSize: number;
  batchDelayMs: number;
  maxQueueSize: number;
  batchTimeoutMs: number;
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

/**
 * One loaded model version: its signature, its session (on a worker of the pool), its batching queue and its
 * readiness. When its worker dies or a batch overruns, the pool restarts the worker: meanwhile the model is
 * unavailable and refuses its queued and new requests with 503 model_unavailable; once the session is
 * reloaded it warms up again and serves.
 */
export class Model implements Tenant {
  readonly name: string;
  readonly version: number;
  readonly path: string;
  readonly config: ModelConfig;
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  /** A model whose inputs all have a dynamic first dimension takes batches of any size. */
  readonly batchable: boolean;
  readonly maxBatchSize: number;
  /** Class names of a classifier's output (config.json "labels"). */
  readonly labels: string[] | undefined;
  readonly metrics: RequestMetrics;
  /** Business metrics: predictions by label and input feature statistics (config.json labels and reference). */
  readonly statistics: ModelStatistics;
  readonly #o: ModelOptions;
  readonly #clock: Clock;
  readonly #batcher: Batcher;
  readonly #readyGauge: { set(v: number): void };
  readonly #restarts: Metrics['workerRestarts'];
  readonly #warmupFailures: { inc(value?: number): void };
  readonly #session: PooledSession;
  #state: State = 'loading';
  #unavailableReason = '';
  #warmupSamples: Tensors[] | undefined;
  #users = 0;
  readonly #idle: (() => void)[] = [];

  constructor(o: ModelOptions) {
    this.name = o.name;
    this.version = o.version;
    this.path = o.path;
    this.config = o.config;
    this.inputs = toSpecs(o.signature.inputs, 'input', o.path);
    this.outputs = toSpecs(o.signature.outputs, 'output', o.path);
    this.batchable = this.inputs.length > 0 && this.inputs.every((s) => s.shape.length > 0 && s.shape[0] === -1);
    this.labels = o.config.labels;
    this.maxBatchSize = this.batchable ? (o.config.max_batch_size ?? o.maxBatchSize) : 1;
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#session = o.session;
    this.#restarts = o.metrics.workerRestarts;
    const labels = { model: o.name, version: String(o.version) };
    this.#warmupFailures = o.metrics.warmupFailures.labels(labels);
    this.#warmupFailures.inc(0);
    this.metrics = bindRequestMetrics(o.metrics, labels);
    this.statistics = createStatistics({ ...o, inputs: this.inputs, outputs: this.outputs });
    const batchSize = o.metrics.batchSize.labels(labels);
    const computeDuration = o.metrics.computeDuration.labels(labels);
    const queueDepth = o.metrics.queueDepth.labels(labels);
    this.#readyGauge = o.metrics.modelReady.labels(labels);
    o.metrics.queueCapacity.set(labels, o.maxQueueSize);
    queueDepth.set(0);
    this.#readyGauge.set(0);
    this.#batcher = new Batcher({
      run: (inputs) => this.#run(inputs),
      batchTimeoutMs: o.config.batch_timeout_ms ?? o.batchTimeoutMs,
      onBatchTimeout: () => this.#session.failWorker(`a batch of model ${o.name} version ${o.version} ran longer than ${o.config.batch_timeout_ms ?? o.batchTimeoutMs} ms (batch timeout)`, 'batch_timeout'),
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

  /** Loaded and warmed up, and not closed or restarting. */
  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** Why the model takes no requests now, as the 503 a request would get; undefined when ready. */
  unavailableError(): AppError | undefined {
    if (this.#state === 'ready') return undefined;
    if (this.#state === 'restarting') {
      return unavailable('model_unavailable', `model "${this.name}" version ${this.version} is restarting its worker (${this.#unavailableReason}); retry shortly`);
    }
    return unavailable('not_ready', `model "${this.name}" version ${this.version} is not ready yet`);
  }

  /** Why the model is not ready, for /ready; undefined when ready. */
  notReadyReason(): string | undefined {
    if (this.#state === 'ready') return undefined;
    if (this.#state === 'restarting') return `model ${this.name} version ${this.version} is restarting: ${this.#unavailableReason}`;
    return `model ${this.name} version ${this.version} is not ready`;
  }

  get queueDepth(): number {
    return this.#batcher.depth;
  }

  /** Throws the 503 a request would get if it were queued now (unavailable, queue full, shutting down), before its body is read. */
  admit(): void {
    const error = this.unavailableError();
    if (error) throw error;
    this.#batcher.checkAdmission();
  }

  /** Queues inputs that were already checked against the signature. */
  submit(inputs: Tensors, options: { deadline: number; signal?: AbortSignal }): Promise<BatchResult> {
    const error = this.unavailableError();
    if (error) return Promise.reject(error);
    return this.#batcher.submit(inputs, options);
  }

  /** Inputs to warm up with (config.json warmup.samples, decoded) instead of zeros. */
  useWarmupSamples(samples: Tensors[]): void {
    this.#warmupSamples = samples;
  }

  /** Which worker of the pool holds this version's session. */
  get worker(): number {
    return this.#session.worker;
  }

  /** Gives up on the worker (and every model on it) and starts a new one, as when it dies. */
  restart(reason: string): void {
    this.#session.failWorker(reason, 'requested');
  }

  async #run(inputs: Tensors): Promise<Tensors> {
    try {
      return await this.#session.run(inputs);
    } catch (err) {
      if (err instanceof WorkerGoneError) {
        throw unavailable('model_unavailable', `model "${this.name}" version ${this.version} lost its worker while running this request's batch (${err.message}); retry shortly`);
      }
      throw err;
    }
  }

  /** The pool lost this model's worker. */
  down(reason: string, cause: FailureCause): void {
    if (this.#state === 'closed') return;
    this.#state = 'restarting';
    this.#unavailableReason = reason;
    this.#readyGauge.set(0);
    this.#restarts.inc({ model: this.name, version: String(this.version), reason: cause });
    this.#batcher.failQueued(this.unavailableError()!);
  }

  /** The session is loaded again on a new worker: warm up. */
  async revive(): Promise<void> {
    await this.warmUp();
  }

  /** The worker is back. */
  up(): void {
    if (this.#state !== 'restarting') return;
    this.#state = 'ready';
    this.#readyGauge.set(1);
    this.#o.logger.info({ model: this.name, version: this.version, worker: this.worker }, 'model ready again');
  }

  /**
   * Warms the session up so the first real request is not slow, as config.json's warmup says: "auto" (the
   * default) runs zeros (one row, and a full batch when batchable); zeros are not valid input for every model
   * (indices, sizes, sequence lengths), so a failure is logged, counted and the model still serves. With
   * samples, every sample must run: a failure throws (the model does not load). "none" skips it.
   * Then the model is ready.
   */
  async warmUp(): Promise<void> {
    const policy = this.config.warmup ?? 'auto';
    if (this.#warmupSamples) {
      for (const [i, sample] of this.#warmupSamples.entries()) {
        try {
          await this.#session.runNow(cloneTensors(sample));
        } catch (err) {
          throw new Error(`warm-up sample ${i + 1} of ${this.#warmupSamples.length} failed: ${(err as Error).message}`);
        }
      }
    } else if (policy === 'auto') {
      try {
        for (const inputs of this.#zeros()) await this.#session.runNow(inputs);
      } catch (err) {
        if (err instanceof WorkerGoneError) throw err;
        this.#warmupFailures.inc();
        this.#o.logger.warn({ model: this.name, version: this.version, reason: (err as Error).message }, 'automatic warm-up with zero inputs failed; the model serves anyway (set "warmup" in config.json to "none" or to sample inputs)');
      }
    }
    if (this.#state === 'loading') {
      this.#state = 'ready';
      this.#readyGauge.set(1);
    }
  }

  #zeros(): Tensors[] {
    const rows = this.batchable && this.maxBatchSize > 1 ? [1, this.maxBatchSize] : [1];
    return rows.map((n) => {
      const inputs: Tensors = {};
      for (const spec of this.inputs) {
        const dims = spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? n : 1));
        inputs[spec.name] = { type: spec.type, dims, data: allocate(spec.type, dims.reduce((a, b) => a * b, 1)) };
      }
      return inputs;
    });
  }

  /** An admitted request holds the version until it is answered: unloading waits for the holders. */
  hold(): () => void {
    this.#users++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--this.#users === 0) for (const done of this.#idle.splice(0)) done();
    };
  }

  /**
   * Unloads the version once it is out of the repository's table: waits (at most timeoutMs) for the
   * requests that hold it, lets its queue drain, releases its session and drops its readiness series.
   */
  async retire(timeoutMs: number): Promise<void> {
    if (this.#users > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimeout(resolve, timeoutMs);
        this.#idle.push(() => {
          this.#clock.clearTimeout(timer);
          resolve();
        });
      });
    }
    await this.drain();
    await this.close();
    this.#o.metrics.modelReady.remove({ model: this.name, version: String(this.version) });
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
    this.#state = 'closed';
    this.#readyGauge.set(0);
    this.statistics.close();
    await this.#session.close();
  }
}
