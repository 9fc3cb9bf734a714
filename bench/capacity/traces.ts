/** Offered load over time, in requests per second, and Poisson arrivals that follow it. */
import type { Rng } from './rng.ts';

export interface Trace {
  name: string;
  title: string;
  /** Seconds. */
  duration: number;
  /** Requests per second at time t. */
  rate: (t: number) => number;
  /** An upper bound of rate(t) over the whole trace (for thinning). */
  peak: number;
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/** Base load for 5 minutes, a linear climb to 10x over 30 minutes, 10 minutes at 10x. */
export function ramp(base: number): Trace {
  return {
    name: 'ramp',
    title: `ramp ${base} to ${10 * base} req/s over 30 min`,
    duration: 45 * 60,
    rate: (t) => base * (1 + 9 * clamp01((t - 300) / 1800)),
    peak: 10 * base,
  };
}

/** Base load for 10 minutes, 10x (a step) for 10 minutes, then base again for 15 minutes. */
export function burst(base: number, factor = 10): Trace {
  return {
    name: 'burst',
    title: `${factor}x burst: ${base} -> ${factor * base} req/s for 10 min`,
    duration: 35 * 60,
    rate: (t) => (t >= 600 && t < 1200 ? factor * base : base),
    peak: factor * base,
  };
}

/**
 * A day of traffic compressed `compress` times: night at the base load, a morning climb, a
 * midday peak of 10x with a smaller evening one. Compressing makes every slope steeper.
 */
export function diurnal(base: number, compress = 12): Trace {
  const day = 86400 / compress;
  // Hour of day -> multiple of base, linearly between the points.
  const shape: Array<[number, number]> = [
    [0, 1.5], [4, 1], [6, 1.5], [8, 5], [10, 8], [12, 10], [14, 9], [16, 8], [18, 7], [20, 8], [22, 4], [24, 1.5],
  ];
  const at = (hour: number) => {
    let i = 1;
    while (i < shape.length - 1 && shape[i]![0] < hour) i++;
    const [h0, m0] = shape[i - 1]!;
    const [h1, m1] = shape[i]!;
    return m0 + ((m1 - m0) * (hour - h0)) / (h1 - h0);
  };
  return {
    name: 'diurnal',
    title: `diurnal day (compressed ${compress}x to ${day / 3600} h), ${base} to ${10 * base} req/s`,
    duration: day,
    rate: (t) => base * at((24 * t) / day),
    peak: 10 * base,
  };
}

/** Calls `arrive(t)` at Poisson arrival times of the trace's rate (thinning), in order. */
export class Arrivals {
  constructor(
    readonly trace: Trace,
    private readonly rng: Rng,
  ) {}

  /** The next arrival after `t`, or undefined past the end of the trace. */
  next(t: number): number | undefined {
    const { peak, duration, rate } = this.trace;
    for (;;) {
      t += this.rng.exponential(1 / peak);
      if (t >= duration) return undefined;
      if (this.rng.next() * peak < rate(t)) return t;
    }
  }
}
