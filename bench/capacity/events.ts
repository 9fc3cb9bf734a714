/**
 * The simulation clock and its pending events: a binary min-heap on (time, insertion order), so
 * events at the same instant run in the order they were scheduled. Time is simulated seconds.
 */
export interface Scheduled {
  readonly time: number;
  cancelled: boolean;
}

interface Entry extends Scheduled {
  seq: number;
  run: () => void;
}

export class EventQueue {
  #heap: Entry[] = [];
  #seq = 0;
  #now = 0;
  /** Events run so far. */
  processed = 0;

  get now(): number {
    return this.#now;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** Runs `run` at absolute time `time` (never earlier than now). */
  at(time: number, run: () => void): Scheduled {
    if (!(time >= this.#now)) throw new Error(`cannot schedule at ${time}, before now (${this.#now})`);
    const e: Entry = { time, seq: this.#seq++, run, cancelled: false };
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
    return e;
  }

  /** Runs `run` after `delay` seconds. */
  after(delay: number, run: () => void): Scheduled {
    return this.at(this.#now + delay, run);
  }

  cancel(e: Scheduled | undefined): void {
    if (e) e.cancelled = true;
  }

  /** Runs events in time order until none is left or the next is after `until`; the clock ends at `until`. */
  run(until = Infinity): void {
    const h = this.#heap;
    while (h.length > 0 && h[0]!.time <= until) {
      const e = this.#pop();
      if (e.cancelled) continue;
      this.#now = e.time;
      this.processed++;
      e.run();
    }
    if (until !== Infinity) this.#now = Math.max(this.#now, until);
  }

  #pop(): Entry {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
