import { systemClock, type Clock } from '../clock.ts';
import { AppError, unavailable } from '../errors.ts';
import { concat, sliceRows } from '../tensors/rows.ts';
import type { Tensors } from '../tensors/types.ts';

export interface BatchResult {
  outputs: Tensors;
  /** Time spent waiting in the queue, ms. */
  queueMs: number;
  /** Time the batch took to run, ms. */
  computeMs: number;
  /** Rows in the batch this request ran in. */
  batchSize: number;
}

export interface BatcherOptions {
  /** Runs one batch: inputs concatenated along the first dimension; outputs must have the same number of rows. */
  run: (inputs: Tensors) => Promise<Tensors>;
  maxBatchSize: number;
  batchDelayMs: number;
  maxQueueSize: number;
  /** False for models whose first dimension is fixed: every request runs alone. */
  batchable: boolean;
  clock?: Clock;
  /** A batch running longer fails its requests with 503 batch_timeout and calls onBatchTimeout. */
  batchTimeoutMs?: number;
  onBatchTimeout?: () => void;
  onQueueDepth?: (depth: number) => void;
  onBatch?: (rows: number, computeMs: number) => void;
}

export interface SubmitOptions {
  /** Absolute deadline on the batcher's clock. */
  deadline: number;
  signal?: AbortSignal;
}

const NO_INPUTS: Tensors = Object.freeze({}) as Tensors;

interface Pending {
  inputs: Tensors;
  rows: number;
  key: string;
  enqueuedAt: number;
  deadline: number;
  timer: unknown;
  signal?: AbortSignal;
  onAbort?: () => void;
  resolve: (r: BatchResult) => void;
  reject: (e: unknown) => void;
}

/** Rows of a request, and the key of requests that may share a batch (same types and non-batch dims). */
function describeInputs(inputs: Tensors): { rows: number; key: string } {
  let rows = -1;
  const parts: string[] = [];
  for (const name of Object.keys(inputs).sort()) {
    const t = inputs[name]!;
    const first = t.dims[0] ?? 1;
    if (rows === -1) rows = first;
    else if (rows !== first) rows = -2;
    parts.push(`${name}:${t.type}:${t.dims.slice(1).join('x')}`);
  }
  return { rows, key: parts.join('|') };
}

/**
 * Dynamic batching queue for one model version (Triton's semantics): requests wait at most batchDelayMs
 * for others; a batch closes at maxBatchSize rows or when the delay ends; requests with different
 * non-batch shapes never share a batch; each request gets back exactly its own rows.
 */
export class Batcher {
  readonly #o: BatcherOptions;
  readonly #clock: Clock;
  #queue: Pending[] = [];
  /** Queued rows per batching key, so a full batch is noticed without scanning the queue. */
  #rowsByKey = new Map<string, number>();
  /** A batch is running: one at a time per model version (the worker runs one session call at a time). */
  #running = false;
  #timer: unknown = undefined;
  #timerAt = Infinity;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(options: BatcherOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  get depth(): number {
    return this.#queue.length;
  }

  /** Throws the error a request submitted now would get for want of room: shutting down or queue full. */
  checkAdmission(): void {
    if (this.#closed) throw shuttingDownError();
    if (this.#queue.length >= this.#o.maxQueueSize) throw queueFullError(this.#o.maxQueueSize);
  }

  submit(inputs: Tensors, options: SubmitOptions): Promise<BatchResult> {
    try {
      this.checkAdmission();
    } catch (err) {
      return Promise.reject(err);
    }
    const now = this.#clock.now();
    if (options.deadline <= now) return Promise.reject(deadlineError());
    if (options.signal?.aborted) return Promise.reject(cancelledError());
    const { rows, key } = describeInputs(inputs);
    if (this.#o.batchable && rows < 0) {
      return Promise.reject(new AppError('invalid_request', 400, 'all inputs must have the same first (batch) dimension'));
    }
    return new Promise<BatchResult>((resolve, reject) => {
      const p: Pending = { inputs, rows: Math.max(rows, 1), key, enqueuedAt: now, deadline: options.deadline, timer: undefined, resolve, reject };
      p.timer = this.#clock.setTimeout(() => this.#drop(p, deadlineError()), options.deadline - now);
      if (options.signal) {
        p.signal = options.signal;
        p.onAbort = () => this.#drop(p, cancelledError());
        options.signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.#queue.push(p);
      this.#countRows(p, 1);
      this.#depthChanged();
      this.#schedule();
    });
  }

  /** Stops accepting requests; the returned promise settles when queued and running batches are done. */
  drain(): Promise<void> {
    this.#closed = true;
    return this.#whenIdle();
  }

  /** Stops accepting and refuses every queued request with 503 shutting_down; a running batch finishes. */
  abortQueued(): void {
    this.#closed = true;
    this.failQueued(shuttingDownError());
  }

  /** Rejects every queued request with `error` (the model cannot run them); the batcher stays open. */
  failQueued(error: AppError): void {
    for (const p of [...this.#queue]) this.#drop(p, error);
  }

  #whenIdle(): Promise<void> {
    if (this.#queue.length === 0 && !this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #depthChanged(): void {
    this.#o.onQueueDepth?.(this.#queue.length);
    if (this.#queue.length === 0 && !this.#running) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  #release(p: Pending): void {
    this.#clock.clearTimeout(p.timer);
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
  }

  #drop(p: Pending, error: AppError): void {
    const i = this.#queue.indexOf(p);
    if (i === -1) return; // already dispatched
    this.#queue.splice(i, 1);
    this.#countRows(p, -1);
    this.#release(p);
    p.reject(error);
    this.#depthChanged();
    this.#schedule();
  }

  /** Dispatches every batch that is due and arms the timer for the next one. */
  #schedule(): void {
    while (!this.#running && this.#queue.length > 0) {
      const oldest = this.#queue[0]!;
      const due = oldest.enqueuedAt + this.#o.batchDelayMs;
      const key = this.#clock.now() >= due ? oldest.key : this.#fullKey();
      if (key === undefined) {
        this.#armTimer(due);
        return;
      }
      this.#dispatch(this.#takeBatch(key));
    }
    if (this.#queue.length === 0) this.#armTimer(Infinity);
  }

  #countRows(p: Pending, sign: 1 | -1): void {
    const n = (this.#rowsByKey.get(p.key) ?? 0) + sign * p.rows;
    if (n === 0) this.#rowsByKey.delete(p.key);
    else this.#rowsByKey.set(p.key, n);
  }

  /** A batching key with enough queued rows for a full batch (any key when every request runs alone). */
  #fullKey(): string | undefined {
    if (!this.#o.batchable) return this.#queue[0]!.key;
    for (const [key, rows] of this.#rowsByKey) if (rows >= this.#o.maxBatchSize) return key;
    return undefined;
  }

  #armTimer(at: number): void {
    if (at === this.#timerAt) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Infinity) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#schedule();
    }, Math.max(0, at - this.#clock.now()));
  }

  /** The oldest request with this key, and the requests of its group that fit in one batch, in arrival order. */
  #takeBatch(key: string): Pending[] {
    const first = this.#queue.find((p) => p.key === key)!;
    const batch = [first];
    let rows = first.rows;
    if (this.#o.batchable) {
      for (let i = this.#queue.indexOf(first) + 1; i < this.#queue.length && rows < this.#o.maxBatchSize; i++) {
        const p = this.#queue[i]!;
        if (p.key === key && rows + p.rows <= this.#o.maxBatchSize) {
          batch.push(p);
          rows += p.rows;
        }
      }
    }
    const taken = new Set(batch);
    this.#queue = this.#queue.filter((p) => !taken.has(p));
    for (const p of batch) this.#countRows(p, -1);
    return batch;
  }

  #dispatch(batch: Pending[]): void {
    const started = this.#clock.now();
    for (const p of batch) this.#release(p);
    this.#running = true;
    this.#depthChanged();
    const names = Object.keys(batch[0]!.inputs);
    const inputs: Tensors = {};
    let rows = 0;
    for (const p of batch) rows += p.rows;
    let run: Promise<Tensors>;
    try {
      for (const name of names) inputs[name] = concat(batch.map((p) => p.inputs[name]!));
      // The batch holds its own copy now: the queue entries need not keep their inputs alive.
      for (const p of batch) p.inputs = NO_INPUTS;
      run = this.#o.run(inputs);
    } catch (err) {
      run = Promise.reject(err);
    }
    let watchdog: unknown;
    if (this.#o.batchTimeoutMs !== undefined) {
      const limit = this.#o.batchTimeoutMs;
      watchdog = this.#clock.setTimeout(() => {
        const error = batchTimeoutError(limit);
        for (const p of batch) p.reject(error);
        this.#o.onBatchTimeout?.();
      }, limit);
    }
    run
      .then((outputs) => {
        const computeMs = this.#clock.now() - started;
        this.#o.onBatch?.(rows, computeMs);
        let offset = 0;
        for (const p of batch) {
          const own: Tensors = {};
          for (const [name, t] of Object.entries(outputs)) {
            if (this.#o.batchable && batch.length > 1 && t.dims[0] !== rows) {
              throw new AppError('internal', 500, `output "${name}" has ${t.dims[0]} rows for a batch of ${rows}`);
            }
            own[name] = batch.length === 1 ? t : sliceRows(t, offset, p.rows);
          }
          offset += p.rows;
          p.resolve({ outputs: own, queueMs: started - p.enqueuedAt, computeMs, batchSize: rows });
        }
      })
      .catch((err: unknown) => {
        for (const p of batch) p.reject(err);
      })
      .finally(() => {
        if (watchdog !== undefined) this.#clock.clearTimeout(watchdog);
        this.#running = false;
        this.#depthChanged();
        this.#schedule();
      });
  }
}

export function queueFullError(maxQueueSize: number): AppError {
  return unavailable('queue_full', `the model's queue is full (MAX_QUEUE_SIZE ${maxQueueSize} pending requests); retry later`);
}

export function batchTimeoutError(limitMs: number): AppError {
  return unavailable('batch_timeout', `the batch holding this request ran longer than ${limitMs} ms (BATCH_TIMEOUT_MS); the model's worker is being restarted; retry later`);
}

export function shuttingDownError(): AppError {
  return unavailable('shutting_down', 'the server is shutting down; retry on another replica');
}

export function deadlineError(): AppError {
  return unavailable('deadline_exceeded', 'the request waited in the queue past its deadline (REQUEST_TIMEOUT_MS or the request timeout) and was not run; retry later');
}

export function cancelledError(): AppError {
  return new AppError('cancelled', 499, 'the client closed the connection before its batch ran');
}
