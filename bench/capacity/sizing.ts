/** How many pods for N requests per second at a p99 target: steady Poisson load on fixed replicas. */
import { simulateCluster, type Platform, PLATFORM } from './cluster.ts';
import { DEFAULT_BEHAVIOR } from './autoscaler.ts';
import type { BatcherSettings, PodProfile } from './pod.ts';
import type { Policy } from './policies.ts';
import type { Trace } from './traces.ts';

export const steady = (rate: number, duration = 60): Trace => ({ name: 'steady', title: `${rate} req/s`, duration, rate: () => rate, peak: rate });

const fixed = (n: number): Policy => ({
  name: `fixed-${n}`,
  title: `${n} pods`,
  hpa: { minReplicas: n, maxReplicas: n, behavior: DEFAULT_BEHAVIOR, tolerance: 0.1, syncPeriod: 15 },
});

export interface SteadyPoint {
  pods: number;
  rate: number;
  p50: number;
  p99: number;
  rejectedPct: number;
  /** Requests in flight per pod (queued + computing), time-averaged: what the KEDA query reads. */
  inflightPerPod: number;
  cpuPerPod: number;
}

export function runSteady(profile: PodProfile, settings: BatcherSettings, pods: number, rate: number, seed = 1, platform: Platform = PLATFORM): SteadyPoint {
  const r = simulateCluster({ profile, settings, policy: fixed(pods), trace: steady(rate), seed, platform });
  const tail = r.timeline.slice(2);
  const cpu = tail.reduce((a, p) => a + p.cpuPerPod, 0) / Math.max(1, tail.length);
  return { pods, rate, p50: r.p50, p99: r.p99, rejectedPct: r.rejectedPct, inflightPerPod: r.inflightPerPod, cpuPerPod: cpu };
}

/** The highest rate one pod sustains with p99 under `p99Ms` (bisection over simulated minutes). */
export function maxRatePerPod(profile: PodProfile, settings: BatcherSettings, p99Ms: number, pods = 1): SteadyPoint {
  let lo = 50;
  let hi = 4000;
  let best = runSteady(profile, settings, pods, lo * pods);
  while (hi - lo > 25) {
    const mid = Math.round((lo + hi) / 2);
    const p = runSteady(profile, settings, pods, mid * pods);
    if (p.p99 <= p99Ms && p.rejectedPct === 0) {
      lo = mid;
      best = p;
    } else hi = mid;
  }
  return best;
}
