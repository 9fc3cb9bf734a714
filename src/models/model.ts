import type { Logger } from 'pino';
import { Batcher, type BatchResult } from '../batching/batcher.ts';
import { systemClock, type Clock } from '../clock.ts';
import { AppError, unavailable } from '../errors.ts';
import type { Metrics, Outcome } from '../metrics.ts';
import { allocate, V2_BY_ELEMENT, type ElementType, type Tensors, type TensorSpec } from '../tensors/types.ts';
import type { ModelConfig } from './config.ts';
import { WorkerGoneError, WorkerSession, type RawSpec } from './session.ts';
import { createStatistics, type ModelStatistics } from './statistics.ts';

/** How a model's worker is restarted when it dies or a batch overruns BATCH_TIMEOUT_MS. */
export interface Supervision {
  /** Worker failures tolerated within windowMs; one more and onGiveUp is called. */
  maxFailures: number;
  windowMs: number;
  /** Wait before the first restart; doubles after each failed restart, up to 30 s. */
  backoffMs: number;
  /** The model keeps failing: the process should exit so Kubernetes replaces the pod. */
  onGiveUp: (reason: string) => void;
}

export const DEFAULT_SUPERVISION: Omit<Supervision, 'onGiveUp'> = { maxFailures: 5, windowMs: 300_000, backoffMs: 500 };
const MAX_BACKOFF_MS = 30_000;

type State = 'loading' | 'ready' | 'restarting' | 'closed';

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
  batchTimeoutMs: number;
  intraOpThreads: number;
  supervision: Supervision;
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
 * One loaded model version: its signature, its session (in a worker thread), its batching queue and its
 * readiness. It supervises its worker: when the worker dies or a batch overruns, the model turns
 * unavailable, refuses its queued and new requests with 503 model_unavailable, and restarts the worker
 * (load and warm-up) with backoff.
 */
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
  #session: WorkerSession;
  #state: State = 'loading';
  #unavailableReason = '';
  #failures: number[] = [];
  #backoffMs: number;

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
    this.#watch(o.session);
    this.#backoffMs = o.supervision.backoffMs;
    this.#restarts = o.metrics.workerRestarts;
    const labels = { model: o.name, version: String(o.version) };
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
      onBatchTimeout: () => this.#fail(`a batch ran longer than ${o.config.batch_timeout_ms ?? o.batchTimeoutMs} ms (batch timeout)`, 'batch_timeout'),
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

  /** Gives up on the worker and starts a new one, as when it dies; the batch timeout does this. */
  restart(reason: string): void {
    this.#fail(reason, 'requested');
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

  /** Restarts the model when this session's worker dies on its own. */
  #watch(session: WorkerSession): void {
    session.onExit((error) => {
      if (session === this.#session) this.#fail(error.message, 'exit');
    });
  }

  #fail(reason: string, cause: 'exit' | 'batch_timeout' | 'requested'): void {
    if (this.#state === 'closed' || this.#state === 'restarting') return;
    const { logger, supervision } = this.#o;
    this.#state = 'restarting';
    this.#unavailableReason = reason;
    this.#readyGauge.set(0);
    this.#restarts.inc({ model: this.name, version: String(this.version), reason: cause });
    this.#session.abandon(new WorkerGoneError(`inference worker stopped: ${reason}`));
    this.#batcher.failQueued(this.unavailableError()!);
    const now = this.#clock.now();
    this.#failures = [...this.#failures.filter((t) => now - t < supervision.windowMs), now];
    logger.error({ model: this.name, version: this.version, reason, failures: this.#failures.length }, 'inference worker failed; restarting it');
    if (this.#failures.length > supervision.maxFailures) {
      supervision.onGiveUp(`model ${this.name} version ${this.version}: ${this.#failures.length} worker failures within ${supervision.windowMs / 1000} s (last: ${reason})`);
      return;
    }
    this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    const wait = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
    this.#clock.setTimeout(() => void this.#restart(), wait);
  }

  async #restart(): Promise<void> {
    if (this.#state !== 'restarting') return;
    const { logger } = this.#o;
    const started = this.#clock.now();
    const session = new WorkerSession();
    this.#session = session;
    try {
      await session.load(this.path, this.#o.intraOpThreads);
      this.#watch(session);
      await this.warmUp();
      if ((this.#state as State) !== 'ready') return;
      this.#backoffMs = this.#o.supervision.backoffMs;
      logger.info({ model: this.name, version: this.version, restartMs: Math.round(this.#clock.now() - started) }, 'inference worker restarted; model ready again');
    } catch (err) {
      if (this.#state !== 'restarting') return;
      session.abandon(new WorkerGoneError('restart failed'));
      logger.error({ model: this.name, version: this.version, err: (err as Error).message }, 'restarting the inference worker failed; trying again');
      this.#scheduleRestart();
    }
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
    if (this.#state === 'closed') return;
    this.#state = 'ready';
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
    this.#state = 'closed';
    this.#readyGauge.set(0);
    this.statistics.close();
    await this.#session.close();
  }
}
