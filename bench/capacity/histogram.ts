/** Latencies in geometric buckets 1% wide from 10 us to 1000 s: percentiles to within 1%, in fixed memory. */
const MIN = 1e-5;
const GROWTH = Math.log(1.01);
const BUCKETS = Math.ceil(Math.log(1000 / MIN) / GROWTH) + 1;

export class LatencyHistogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;

  add(seconds: number): void {
    const i = seconds <= MIN ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(seconds / MIN) / GROWTH));
    this.counts[i]!++;
    this.count++;
    this.sum += seconds;
  }

  /** The q-quantile (0..1), seconds: the upper edge of the bucket holding it. NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank && seen > 0) return MIN * Math.exp(i * GROWTH);
    }
    return MIN * Math.exp((BUCKETS - 1) * GROWTH);
  }

  get mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
  }
}
