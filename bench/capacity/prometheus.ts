/**
 * Scraped time series of counters, and rate() over them the way Prometheus computes it from the
 * samples it has (no extrapolation to the window's edges: a simplification that only matters for
 * windows holding few samples).
 */
export class CounterSeries {
  readonly #t: number[] = [];
  readonly #v: number[] = [];

  add(t: number, v: number): void {
    this.#t.push(t);
    this.#v.push(v);
    // Keep an hour: no query looks further back.
    if (this.#t.length > 4096 && t - this.#t[0]! > 3600) {
      this.#t.splice(0, 2048);
      this.#v.splice(0, 2048);
    }
  }

  get samples(): number {
    return this.#t.length;
  }

  /** Per-second increase over the samples in (now - window, now]; undefined with fewer than two. */
  rate(now: number, window: number): number | undefined {
    let first = -1;
    let last = -1;
    for (let i = this.#t.length - 1; i >= 0; i--) {
      const t = this.#t[i]!;
      if (t > now) continue;
      if (t <= now - window) break;
      if (last === -1) last = i;
      first = i;
    }
    if (first === -1 || first === last) return undefined;
    return (this.#v[last]! - this.#v[first]!) / (this.#t[last]! - this.#t[first]!);
  }

  /** The last value scraped at or before `now`. */
  last(now: number): number | undefined {
    for (let i = this.#t.length - 1; i >= 0; i--) if (this.#t[i]! <= now) return this.#v[i];
    return undefined;
  }
}
