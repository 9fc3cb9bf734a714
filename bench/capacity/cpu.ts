import type { EventQueue, Scheduled } from './events.ts';

/** One piece of CPU work on a thread: `work` CPU-seconds, then `done` runs. */
interface Job {
  work: number;
  done: () => void;
}

/**
 * A thread of a process: runs its jobs one after another (FIFO), like the service's main thread
 * (parse, validate, reply) or its onnxruntime worker (one batch at a time).
 */
export class Thread {
  readonly jobs: Job[] = [];
  head = 0;
  /** CPU-seconds left of the job at the head. */
  remaining = 0;

  get busy(): boolean {
    return this.head < this.jobs.length;
  }

  get queued(): number {
    return this.jobs.length - this.head;
  }
}

/**
 * A CPU limit of `cores` shared by threads the way a fair scheduler shares it: every runnable
 * thread gets min(1, cores / runnable) of a core (processor sharing). A 1-CPU pod running its
 * main thread and its worker at once gives each half a core.
 */
export class Cpu {
  readonly threads: Thread[] = [];
  /** CPU-seconds used so far (what cAdvisor's container_cpu_usage_seconds_total counts). */
  #used = 0;
  #last = 0;
  #next: Scheduled | undefined;

  constructor(
    private readonly events: EventQueue,
    readonly cores: number,
  ) {
    this.#last = events.now;
  }

  thread(): Thread {
    const t = new Thread();
    this.threads.push(t);
    return t;
  }

  /** CPU-seconds used up to now. */
  get used(): number {
    this.#advance();
    return this.#used;
  }

  /** Queues `work` CPU-seconds on `thread`; `done` runs when it has had them. */
  submit(thread: Thread, work: number, done: () => void): void {
    if (thread.busy) {
      thread.jobs.push({ work, done }); // behind other jobs: the rates and the next completion do not change
      return;
    }
    this.#advance(); // the time until now ran at the old rate
    thread.jobs.push({ work, done });
    thread.remaining = work;
    this.#reschedule();
  }

  #rate(): number {
    let runnable = 0;
    for (const t of this.threads) if (t.busy) runnable++;
    return runnable === 0 ? 0 : Math.min(1, this.cores / runnable);
  }

  /** Moves every running job forward to now. */
  #advance(): void {
    const now = this.events.now;
    const dt = now - this.#last;
    this.#last = now;
    if (dt <= 0) return;
    const rate = this.#rate();
    for (const t of this.threads) {
      if (!t.busy) continue;
      t.remaining -= dt * rate;
      this.#used += dt * rate;
    }
  }

  #reschedule(): void {
    this.events.cancel(this.#next);
    this.#next = undefined;
    const rate = this.#rate();
    if (rate === 0) return;
    let soonest = Infinity;
    for (const t of this.threads) if (t.busy) soonest = Math.min(soonest, Math.max(0, t.remaining) / rate);
    this.#next = this.events.after(soonest, () => this.#complete());
  }

  #complete(): void {
    this.#advance();
    const finished: Job[] = [];
    for (const t of this.threads) {
      // Float error leaves a sliver of work; anything under a nanosecond is done.
      if (t.busy && t.remaining <= 1e-9) {
        finished.push(t.jobs[t.head]!);
        t.head++;
        if (t.head > 1024 && t.head * 2 > t.jobs.length) {
          t.jobs.splice(0, t.head);
          t.head = 0;
        }
        t.remaining = t.busy ? t.jobs[t.head]!.work : 0;
      }
    }
    this.#reschedule();
    for (const j of finished) j.done();
  }
}
