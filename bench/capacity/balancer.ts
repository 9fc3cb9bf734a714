import type { Rng } from './rng.ts';

/** Load estimate of one endpoint as a Linkerd proxy keeps it. */
export interface Endpoint<T> {
  target: T;
  /** Requests sent and not yet answered. */
  pending: number;
  /** Peak-EWMA round-trip estimate, seconds, as of `updated`. */
  rtt: number;
  updated: number;
}

export interface BalancerSettings {
  /** RTT estimate of an endpoint that has not answered yet, seconds. */
  defaultRtt: number;
  /** Time constant of the estimate's decay, seconds. */
  decay: number;
}

/** Linkerd's documented defaults, as far as they are documented: 30 ms initial estimate, 10 s decay. */
export const LINKERD_BALANCER: BalancerSettings = { defaultRtt: 0.03, decay: 10 };

/**
 * Power of two choices over peak-EWMA load, the way Linkerd's proxy balances HTTP requests:
 * pick two endpoints at random, send to the one with the lower rtt x (pending + 1). The estimate
 * jumps up to any slower response at once (peak) and decays towards faster ones with time.
 */
export class P2cBalancer<T> {
  readonly endpoints: Endpoint<T>[] = [];

  constructor(
    private readonly rng: Rng,
    private readonly settings: BalancerSettings = LINKERD_BALANCER,
  ) {}

  add(target: T, now: number): Endpoint<T> {
    const e: Endpoint<T> = { target, pending: 0, rtt: this.settings.defaultRtt, updated: now };
    this.endpoints.push(e);
    return e;
  }

  remove(target: T): void {
    const i = this.endpoints.findIndex((e) => e.target === target);
    if (i !== -1) this.endpoints.splice(i, 1);
  }

  /** The estimate decayed to `now` (towards zero, as the proxy's estimate is when no response updates it). */
  estimate(e: Endpoint<T>, now: number): number {
    return e.rtt * Math.exp(-Math.max(0, now - e.updated) / this.settings.decay);
  }

  load(e: Endpoint<T>, now: number): number {
    return this.estimate(e, now) * (e.pending + 1);
  }

  pick(now: number): Endpoint<T> | undefined {
    const n = this.endpoints.length;
    if (n === 0) return undefined;
    if (n === 1) return this.endpoints[0];
    const i = this.rng.int(n);
    let j = this.rng.int(n - 1);
    if (j >= i) j++;
    const a = this.endpoints[i]!;
    const b = this.endpoints[j]!;
    return this.load(b, now) < this.load(a, now) ? b : a;
  }

  /** Records a response that took `rtt` seconds. */
  observe(e: Endpoint<T>, rtt: number, now: number): void {
    const decayed = this.estimate(e, now);
    if (rtt > decayed) {
      e.rtt = rtt;
    } else {
      const w = Math.exp(-Math.max(0, now - e.updated) / this.settings.decay);
      e.rtt = decayed * w + rtt * (1 - w);
    }
    e.updated = now;
  }
}
