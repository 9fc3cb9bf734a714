// Turns of main-thread work. Node runs every I/O callback that is ready in one go, and its libuv (1.46 in
// Node 20) accepts one new connection per turn of the event loop. When 1,024 requests came at once, each
// request's reading, decoding and queueing (about 0.4 ms) ran in the callback that parsed its headers, and
// a /healthz probe waited in the kernel's accept queue behind hundreds of connections, for 0.4 s.
// Inference requests take a turn before each stretch of main-thread work instead: at most SLICE_MS of
// turns run per turn of the loop, and only one request's while connections are being accepted, so turns
// of the loop stay short and a burst's connections (probes among them) are accepted and admitted (or
// refused) first; the work waits, in order, and is never starved (a busy turn still grants one request).
// With a 0.25 ms slice in busy turns instead of one request, 256 uploads of 1 MB left a dozen connections
// in the accept queue for 300 ms (one accepted per 15-25 ms turn, `ss`): 503 p99 290-350 ms against
// 100-140 ms with one request (three runs each, `npm run bench -- limits --only=256x1mb`).

/** Most main-thread work, ms, granted to waiting requests in one turn of the event loop. */
export const SLICE_MS = 10;

/** Waits for a turn: undefined to go on at once, else a promise resolved when the turn comes. */
export type Turn = () => Promise<void> | undefined;

export interface TurnsOptions {
  sliceMs?: number;
  /** Monotonic milliseconds (performance.now()). */
  now?: () => number;
  /** Runs `fn` after the I/O that is ready now (setImmediate); tests drive it by hand. */
  defer?: (fn: () => void) => void;
}

export class Turns {
  readonly #sliceMs: number;
  /** A connection was accepted since the last turn of the loop began. */
  #accepting = false;
  /** The slice granted by the current turn (none past its first request when it began after a connection was accepted). */
  #limit: number;
  readonly #now: () => number;
  readonly #defer: (fn: () => void) => void;
  /** Requests waiting for a turn, oldest first, from `#head` on. */
  #waiting: (() => void)[] = [];
  #head = 0;
  /** When the slice of this turn of the loop began; undefined when no work was granted since the last turn. */
  #sliceStart: number | undefined;
  #scheduled = false;

  constructor(options: TurnsOptions = {}) {
    this.#sliceMs = options.sliceMs ?? SLICE_MS;
    this.#limit = this.#sliceMs;
    this.#now = options.now ?? (() => performance.now());
    this.#defer = options.defer ?? ((fn) => void setImmediate(fn));
  }

  /** A new connection was accepted (the HTTP server's 'connection' event): this turn of the loop grants one request. */
  accepted(): void {
    this.#accepting = true;
  }

  /** The length of the slice under way: none once a connection was accepted in this turn of the loop. */
  get #slice(): number {
    return this.#accepting ? 0 : this.#limit;
  }

  /** Requests waiting for their turn. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  /**
   * Waits for this request's turn: undefined (go on at once) while nobody waits and this turn of the loop
   * has time left, else a promise that resolves in a later turn, in arrival order.
   */
  take(): Promise<void> | undefined {
    if (this.waiting === 0) {
      const now = this.#now();
      if (this.#sliceStart === undefined) {
        this.#sliceStart = now;
        this.#limit = this.#sliceMs;
        this.#schedule();
      }
      if (now - this.#sliceStart < this.#slice) return undefined;
    }
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#defer(() => this.#turn());
  }

  /** A new turn of the loop: a new slice, granted to the waiting requests in order. */
  #turn(): void {
    this.#scheduled = false;
    this.#sliceStart = undefined;
    if (this.waiting === 0) {
      this.#accepting = false;
      return;
    }
    this.#sliceStart = this.#now();
    this.#limit = this.#accepting ? 0 : this.#sliceMs;
    this.#accepting = false; // the next turn's poll phase tells again
    this.#schedule(); // the next turn ends this slice, and continues it if requests are still waiting
    this.#grant(true);
  }

  /**
   * Grants one request (the turn's first always), then checks the clock in a microtask queued behind the
   * work that request does before it next waits: the slice is measured in work done, not in requests.
   */
  #grant(first = false): void {
    if (this.waiting === 0 || this.#sliceStart === undefined) return;
    if (!first && this.#now() - this.#sliceStart >= this.#slice) return;
    const resolve = this.#waiting[this.#head]!;
    this.#waiting[this.#head++] = undefined as never;
    if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    resolve();
    queueMicrotask(() => this.#grant());
  }
}
