import { Cpu, type Thread } from './cpu.ts';
import type { EventQueue, Scheduled } from './events.ts';

/** What one pod costs, from the bench's one-core measurements (see profile.ts). */
export interface PodProfile {
  /** CPU limit of the pod, cores. */
  cores: number;
  /** Batch sizes and the CPU-seconds one batch of that size takes (interpolated linearly between, extrapolated past the last). */
  batchCost: Array<[batch: number, seconds: number]>;
  /** Worker CPU-seconds per batch beyond onnxruntime's own (hand-off to and from the worker). */
  batchOverhead: number;
  /** Main-thread CPU-seconds per request before it joins the queue (read, parse, validate). */
  requestCost: number;
  /** Main-thread CPU-seconds per request after its batch ran (slice, encode, write). */
  replyCost: number;
  /** Main-thread CPU-seconds to refuse a request when the queue is full (before its body is read). */
  rejectCost: number;
}

/** The batcher's settings (MAX_BATCH_SIZE, BATCH_DELAY_MS, MAX_QUEUE_SIZE, REQUEST_TIMEOUT_MS). */
export interface BatcherSettings {
  maxBatchSize: number;
  batchDelay: number;
  maxQueueSize: number;
  requestTimeout: number;
}

export const SERVICE_DEFAULTS: BatcherSettings = { maxBatchSize: 32, batchDelay: 0.002, maxQueueSize: 1024, requestTimeout: 10 };

export type Outcome = 'ok' | 'rejected' | 'timeout';

export interface Request {
  /** When the client sent it. */
  sent: number;
  /** When it joined the batching queue. */
  enqueued: number;
  deadline: number;
  respond: (outcome: Outcome) => void;
}

/** CPU-seconds of one batch of `rows` rows: piecewise linear through the measured points. */
export function batchSeconds(cost: PodProfile['batchCost'], rows: number): number {
  if (cost.length === 1) return (cost[0]![1] * rows) / cost[0]![0];
  let i = 1;
  while (i < cost.length - 1 && cost[i]![0] < rows) i++;
  const [b0, s0] = cost[i - 1]!;
  const [b1, s1] = cost[i]!;
  return Math.max(0, s0 + ((s1 - s0) * (rows - b0)) / (b1 - b0));
}

/** Counters a pod exports, as Prometheus would scrape them. */
export interface PodCounters {
  /** meshserve_inference_duration_seconds_sum (successful requests, queue + compute). */
  durationSum: number;
  /** meshserve_inference_queue_duration_seconds_sum. */
  queueSum: number;
  /** meshserve_inference_requests_total{outcome="success"}. */
  ok: number;
  /** Requests refused (queue full) or expired (deadline passed in the queue). */
  rejected: number;
  timeouts: number;
  batches: number;
  rows: number;
}

/**
 * One meshserve pod: a CPU of `cores`, a main thread and one onnxruntime worker, and the batcher's
 * rules (src/batching/batcher.ts): a batch closes at maxBatchSize rows or when its oldest request
 * has waited batchDelay; one batch runs at a time; a request finding maxQueueSize requests queued
 * is refused at once; a request still queued at its deadline fails.
 */
export class Pod {
  readonly cpu: Cpu;
  readonly #main: Thread;
  readonly #worker: Thread;
  readonly #queue: Request[] = [];
  #qHead = 0;
  #running = false;
  #timer: Scheduled | undefined;
  #timerAt = Infinity;
  readonly counters: PodCounters = { durationSum: 0, queueSum: 0, ok: 0, rejected: 0, timeouts: 0, batches: 0, rows: 0 };
  /** Batch sizes run, for tests and reports. */
  onBatch?: (rows: number) => void;

  constructor(
    readonly events: EventQueue,
    readonly profile: PodProfile,
    readonly settings: BatcherSettings,
  ) {
    this.cpu = new Cpu(events, profile.cores);
    this.#main = this.cpu.thread();
    this.#worker = this.cpu.thread();
  }

  /** Requests waiting in the batching queue (meshserve_inference_queue_depth). */
  get depth(): number {
    return this.#queue.length - this.#qHead;
  }

  /** A request arrives at the pod (its proxy has chosen it). */
  receive(r: Request): void {
    // Requests waiting for the main thread count too: in the service they wait in socket buffers
    // until the client's or the proxy's timeout; here they are refused at once (both are failures).
    if (this.depth + this.#main.queued >= this.settings.maxQueueSize) {
      this.counters.rejected++;
      this.cpu.submit(this.#main, this.profile.rejectCost, () => r.respond('rejected'));
      return;
    }
    this.cpu.submit(this.#main, this.profile.requestCost, () => this.#enqueue(r));
  }

  #enqueue(r: Request): void {
    if (this.depth >= this.settings.maxQueueSize) {
      this.counters.rejected++;
      r.respond('rejected');
      return;
    }
    r.enqueued = this.events.now;
    this.#queue.push(r);
    this.#schedule();
  }

  #schedule(): void {
    while (!this.#running && this.depth > 0) {
      const oldest = this.#queue[this.#qHead]!;
      const due = oldest.enqueued + this.settings.batchDelay;
      if (this.depth < this.settings.maxBatchSize && this.events.now < due) {
        this.#arm(due);
        return;
      }
      this.#dispatch();
    }
    if (this.depth === 0) this.#arm(Infinity);
  }

  #arm(at: number): void {
    if (at === this.#timerAt) return;
    this.events.cancel(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Infinity) return;
    this.#timer = this.events.at(Math.max(at, this.events.now), () => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#schedule();
    });
  }

  #dispatch(): void {
    const now = this.events.now;
    const batch: Request[] = [];
    while (this.depth > 0 && batch.length < this.settings.maxBatchSize) {
      const r = this.#queue[this.#qHead++]!;
      if (r.deadline <= now) {
        this.counters.timeouts++;
        r.respond('timeout');
        continue;
      }
      batch.push(r);
    }
    if (this.#qHead > 4096 && this.#qHead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#qHead);
      this.#qHead = 0;
    }
    if (batch.length === 0) return;
    this.#running = true;
    this.counters.batches++;
    this.counters.rows += batch.length;
    this.onBatch?.(batch.length);
    for (const r of batch) this.counters.queueSum += now - r.enqueued;
    this.cpu.submit(this.#worker, this.profile.batchOverhead + batchSeconds(this.profile.batchCost, batch.length), () => {
      this.#running = false;
      const end = this.events.now;
      for (const r of batch) {
        this.counters.ok++;
        this.counters.durationSum += end - r.enqueued;
        this.cpu.submit(this.#main, this.profile.replyCost, () => r.respond('ok'));
      }
      this.#schedule();
    });
  }
}
