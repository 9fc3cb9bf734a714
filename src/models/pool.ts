import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import type { Tensors } from '../tensors/types.ts';
import { InferenceWorker, WorkerGoneError, type RawSpec, type WorkerSettings } from './session.ts';

/** How a worker is restarted when it dies or a batch on it overruns BATCH_TIMEOUT_MS. */
export interface Supervision {
  /** Failures of one worker tolerated within windowMs; one more and onGiveUp is called. */
  maxFailures: number;
  windowMs: number;
  /** Wait before the first restart; doubles after each failed restart, up to 30 s. */
  backoffMs: number;
  /** A worker keeps failing: the process should exit so Kubernetes replaces the pod. */
  onGiveUp: (reason: string) => void;
}

export const DEFAULT_SUPERVISION: Omit<Supervision, 'onGiveUp'> = { maxFailures: 5, windowMs: 300_000, backoffMs: 500 };
const MAX_BACKOFF_MS = 30_000;

export type FailureCause = 'exit' | 'batch_timeout' | 'requested';

/** What a session's owner (a model version) does when its worker goes down and comes back. */
export interface Tenant {
  /** The worker is gone: stop taking requests and refuse the queued ones. */
  down(reason: string, cause: FailureCause): void;
  /** The session was loaded again on a new worker: warm up (with PooledSession.runNow). Throws when it cannot. */
  revive(): Promise<void>;
  /** Every session of the worker is back: take requests again. */
  up(): void;
}

export interface PoolOptions extends WorkerSettings {
  /** Worker threads, at most; each starts when it is first given a model. */
  size: number;
  supervision: Supervision;
  logger: Logger;
  clock?: Clock;
}

interface Entry {
  path: string;
  logId: string;
  bytes: number;
  tenant?: Tenant;
}

/** One worker thread of the pool and the sessions that live on it. */
class Slot {
  worker: InferenceWorker | undefined;
  state: 'up' | 'restarting' | 'closed' = 'up';
  reason = '';
  readonly sessions = new Map<number, Entry>();
  failures: number[] = [];
  backoffMs: number;

  constructor(readonly index: number, backoffMs: number) {
    this.backoffMs = backoffMs;
  }

  get bytes(): number {
    let total = 0;
    for (const e of this.sessions.values()) total += e.bytes;
    return total;
  }
}

/** A model version's onnxruntime session on one of the pool's workers. */
export class PooledSession {
  readonly #pool: WorkerPool;
  readonly #slot: Slot;
  readonly #id: number;

  constructor(pool: WorkerPool, slot: Slot, id: number) {
    this.#pool = pool;
    this.#slot = slot;
    this.#id = id;
  }

  /** Which worker of the pool holds the session (0-based), for logs and metrics. */
  get worker(): number {
    return this.#slot.index;
  }

  /** Tells the owner when the worker goes down and when the session is back on a new one. */
  attach(tenant: Tenant): void {
    const entry = this.#slot.sessions.get(this.#id);
    if (entry) entry.tenant = tenant;
  }

  /** Runs the session. Input buffers are transferred to the worker: callers must not reuse them. */
  run(inputs: Tensors): Promise<Tensors> {
    const worker = this.#slot.worker;
    if (this.#slot.state !== 'up' || !worker) return Promise.reject(new WorkerGoneError(`inference worker ${this.#slot.index} is ${this.#slot.state === 'closed' ? 'closed' : `restarting (${this.#slot.reason})`}`));
    return worker.run(this.#id, inputs);
  }

  /** Runs the session on the worker as it is now, even while it is being restarted (warm-up after a reload). */
  runNow(inputs: Tensors): Promise<Tensors> {
    const worker = this.#slot.worker;
    if (!worker) return Promise.reject(new WorkerGoneError('no inference worker'));
    return worker.run(this.#id, inputs);
  }

  /** Gives up on the worker (every session on it) and restarts it: the batch watchdog and tests use this. */
  failWorker(reason: string, cause: FailureCause): void {
    this.#pool.fail(this.#slot, reason, cause);
  }

  /** Releases the session; the worker and its other sessions go on. */
  async close(): Promise<void> {
    if (!this.#slot.sessions.delete(this.#id)) return;
    if (this.#slot.state === 'up') await this.#slot.worker?.release(this.#id).catch(() => undefined);
  }
}

/**
 * The inference worker threads of the process (INFERENCE_WORKERS), each holding the sessions of many model
 * versions. A new session goes to the worker with the fewest model bytes (then the fewest sessions): size
 * stands in for compute. A worker runs the batches it is sent in arrival order and each model version has at
 * most one batch in flight, so a model waits at most one batch of every other model on its worker.
 *
 * Supervision is per worker: when one dies or a batch on it overruns, every model version on it turns
 * unavailable at once, the thread is replaced, every session reloaded and warmed up, with backoff; past
 * maxFailures failures of one worker within the window, onGiveUp.
 */
export class WorkerPool {
  readonly #o: PoolOptions;
  readonly #clock: Clock;
  readonly #slots: Slot[];
  #nextSession = 1;

  constructor(options: PoolOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#slots = Array.from({ length: Math.max(1, options.size) }, (_, i) => new Slot(i, options.supervision.backoffMs));
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Worker threads started so far. */
  get started(): number {
    return this.#slots.filter((s) => s.worker).length;
  }

  /** Loads a model file into a session on the least loaded worker. */
  async open(path: string, options: { logId: string; bytes: number }): Promise<{ session: PooledSession; signature: { inputs: RawSpec[]; outputs: RawSpec[] } }> {
    const open = this.#slots.filter((s) => s.state === 'up');
    if (open.length === 0) throw new WorkerGoneError('no inference worker is up (restarting or closed); retry shortly');
    const slot = open.reduce((best, s) => (s.bytes < best.bytes || (s.bytes === best.bytes && s.sessions.size < best.sessions.size) ? s : best));
    const id = this.#nextSession++;
    slot.sessions.set(id, { path, logId: options.logId, bytes: options.bytes });
    try {
      const worker = slot.worker ?? this.#start(slot);
      const signature = await worker.load(id, path, options.logId);
      return { session: new PooledSession(this, slot, id), signature };
    } catch (err) {
      slot.sessions.delete(id);
      if (slot.state === 'up') await slot.worker?.release(id).catch(() => undefined);
      throw err;
    }
  }

  #start(slot: Slot): InferenceWorker {
    const worker = new InferenceWorker({ intraOpThreads: this.#o.intraOpThreads, ortLogLevel: this.#o.ortLogLevel });
    slot.worker = worker;
    worker.onExit((error) => {
      if (slot.worker === worker) this.fail(slot, error.message, 'exit');
    });
    return worker;
  }

  /** @internal Gives up on a worker: its tenants go down, and it is restarted with backoff (or onGiveUp). */
  fail(slot: Slot, reason: string, cause: FailureCause): void {
    if (slot.state !== 'up') return;
    const { logger, supervision } = this.#o;
    slot.state = 'restarting';
    slot.reason = reason;
    slot.worker?.abandon(new WorkerGoneError(`inference worker stopped: ${reason}`));
    for (const entry of slot.sessions.values()) entry.tenant?.down(reason, cause);
    const now = this.#clock.now();
    slot.failures = [...slot.failures.filter((t) => now - t < supervision.windowMs), now];
    logger.error({ worker: slot.index, models: [...slot.sessions.values()].map((e) => e.logId), reason, failures: slot.failures.length }, 'inference worker failed; restarting it');
    if (slot.failures.length > supervision.maxFailures) {
      supervision.onGiveUp(`inference worker ${slot.index} (${[...slot.sessions.values()].map((e) => e.logId).join(', ')}): ${slot.failures.length} failures within ${supervision.windowMs / 1000} s (last: ${reason})`);
      return;
    }
    this.#scheduleRestart(slot);
  }

  #scheduleRestart(slot: Slot): void {
    const wait = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, MAX_BACKOFF_MS);
    this.#clock.setTimeout(() => void this.#restart(slot), wait);
  }

  async #restart(slot: Slot): Promise<void> {
    if (slot.state !== 'restarting') return;
    const { logger } = this.#o;
    const started = this.#clock.now();
    const worker = this.#start(slot);
    try {
      for (const [id, entry] of slot.sessions) await worker.load(id, entry.path, entry.logId);
      for (const entry of slot.sessions.values()) await entry.tenant?.revive();
      if ((slot.state as Slot['state']) !== 'restarting' || slot.worker !== worker) return;
      slot.state = 'up';
      slot.backoffMs = this.#o.supervision.backoffMs;
      for (const entry of slot.sessions.values()) entry.tenant?.up();
      logger.info({ worker: slot.index, models: [...slot.sessions.values()].map((e) => e.logId), restartMs: Math.round(this.#clock.now() - started) }, 'inference worker restarted; its models are ready again');
    } catch (err) {
      if (slot.state !== 'restarting' || slot.worker !== worker) return;
      worker.abandon(new WorkerGoneError('restart failed'));
      logger.error({ worker: slot.index, err: (err as Error).message }, 'restarting the inference worker failed; trying again');
      this.#scheduleRestart(slot);
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#slots.map(async (slot) => {
        slot.state = 'closed';
        await slot.worker?.close();
      }),
    );
  }
}
