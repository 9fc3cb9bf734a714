/**
 * N meshserve pods behind a Linkerd-balanced Service, scaled by an HPA fed the way Kubernetes
 * feeds it: CPU from metrics-server, in-flight requests from Prometheus scrapes.
 */
import { Hpa, type MetricSample } from './autoscaler.ts';
import { P2cBalancer, type Endpoint, LINKERD_BALANCER, type BalancerSettings } from './balancer.ts';
import { EventQueue } from './events.ts';
import { LatencyHistogram } from './histogram.ts';
import { Pod, type BatcherSettings, type Outcome, type PodProfile } from './pod.ts';
import type { Policy } from './policies.ts';
import { CounterSeries } from './prometheus.ts';
import { Rng } from './rng.ts';
import { Arrivals, type Trace } from './traces.ts';

export interface Platform {
  /** Seconds from the HPA's decision to the pod serving: scheduling, image (cached), start, model load, readiness probe. */
  podStartup: number;
  /** Seconds from Ready to the proxies balancing over it (endpoint propagation). */
  endpointDelay: number;
  /** Seconds a removed pod still counts (preStop 5 s + SHUTDOWN_DELAY_MS 5 s). */
  termination: number;
  /** Prometheus scrape interval (the PodMonitor's 30 s). */
  scrapeInterval: number;
  /** rate() window of the in-flight query. */
  rateWindow: number;
  /** metrics-server resolution (its scrape of the kubelets). */
  cpuResolution: number;
  /** CPU requests of one pod, cores (250m app + 100m Linkerd proxy). */
  cpuRequest: number;
  balancer: BalancerSettings;
}

export const PLATFORM: Platform = {
  podStartup: 25,
  endpointDelay: 1,
  termination: 10,
  scrapeInterval: 30,
  rateWindow: 120,
  cpuResolution: 15,
  cpuRequest: 0.35,
  balancer: LINKERD_BALANCER,
};

export interface TimelinePoint {
  t: number;
  offered: number;
  replicas: number;
  ready: number;
  p99: number;
  rejectedPct: number;
  cpuPerPod: number;
}

export interface ClusterResult {
  trace: string;
  policy: string;
  requests: number;
  ok: number;
  rejected: number;
  timeouts: number;
  p50: number;
  p99: number;
  rejectedPct: number;
  podMinutes: number;
  maxReplicas: number;
  /** Seconds with p99 of the 10 s window above the target. */
  secondsOverTarget: number;
  /** Requests in flight per pod (batching queue + running batch), averaged over time and pods. */
  inflightPerPod: number;
  timeline: TimelinePoint[];
  events: number;
}

interface SimPod {
  pod: Pod;
  created: number;
  ready: number;
  endpoint?: Endpoint<SimPod>;
  removed?: number;
  phase: number;
  inflight: CounterSeries;
  cpu: CounterSeries;
}

export interface ClusterOptions {
  profile: PodProfile;
  settings: BatcherSettings;
  policy: Policy;
  trace: Trace;
  platform?: Platform;
  seed?: number;
  initialReplicas?: number;
  /** p99 target for secondsOverTarget, seconds. */
  p99Target?: number;
}

export function simulateCluster(o: ClusterOptions): ClusterResult {
  const platform = o.platform ?? PLATFORM;
  const events = new EventQueue();
  const rng = new Rng(o.seed ?? 1);
  const balancer = new P2cBalancer<SimPod>(rng, platform.balancer);
  const hpa = new Hpa(o.policy.hpa);
  const all = new LatencyHistogram();
  const window = new LatencyHistogram();
  const pods: SimPod[] = [];
  const timeline: TimelinePoint[] = [];
  let podSeconds = 0;
  let replicas = 0;
  let maxReplicas = 0;
  let requests = 0;
  let rejected = 0;
  let timeouts = 0;
  let windowArrivals = 0;
  let windowRejected = 0;
  let secondsOverTarget = 0;
  let cached: { at: number; value: number } | undefined;

  const live = () => pods.filter((p) => p.removed === undefined);

  const addPod = (startup: number) => {
    const now = events.now;
    const p: SimPod = {
      pod: new Pod(events, o.profile, o.settings),
      created: now,
      ready: now + startup,
      phase: rng.next(),
      inflight: new CounterSeries(),
      cpu: new CounterSeries(),
    };
    pods.push(p);
    events.at(p.ready + platform.endpointDelay, () => {
      if (p.removed === undefined) p.endpoint = balancer.add(p, events.now);
    });
    // Scrapes at a fixed phase per target, as Prometheus spreads them.
    const scrape = () => {
      if (p.removed !== undefined) return;
      if (events.now >= p.ready) p.inflight.add(events.now, p.pod.counters.durationSum);
      events.after(platform.scrapeInterval, scrape);
    };
    events.after(p.phase * platform.scrapeInterval, scrape);
    const sampleCpu = () => {
      if (p.removed !== undefined) return;
      if (events.now >= p.ready) p.cpu.add(events.now, p.pod.cpu.used);
      events.after(platform.cpuResolution, sampleCpu);
    };
    events.after(p.phase * platform.cpuResolution, sampleCpu);
  };

  const removePod = (p: SimPod) => {
    p.removed = events.now;
    balancer.remove(p);
    podSeconds += events.now + platform.termination - p.created;
  };

  const setReplicas = (n: number) => {
    const current = live();
    if (n > current.length) for (let i = current.length; i < n; i++) addPod(platform.podStartup);
    else if (n < current.length) {
      // The ReplicaSet deletes not-ready pods first, then the newest.
      const order = [...current].sort((a, b) => Number(a.ready <= events.now) - Number(b.ready <= events.now) || b.created - a.created);
      for (const p of order.slice(0, current.length - n)) removePod(p);
    }
    replicas = n;
    maxReplicas = Math.max(maxReplicas, n);
  };

  const metrics = (): MetricSample[] => {
    const now = events.now;
    const current = live();
    const out: MetricSample[] = [];
    if (o.policy.cpuUtilization !== undefined) {
      let sum = 0;
      let ready = 0;
      for (const p of current) {
        const r = p.cpu.rate(now, platform.cpuResolution * 2);
        if (r === undefined) continue;
        sum += (100 * r) / platform.cpuRequest;
        ready++;
      }
      out.push({ name: 'cpu', value: ready ? sum / ready : 0, target: o.policy.cpuUtilization, ready, unready: current.length - ready });
    }
    if (o.policy.inflight !== undefined) {
      let value: number;
      if (o.policy.cachedPollingInterval !== undefined && cached && now - cached.at < o.policy.cachedPollingInterval) value = cached.value;
      else {
        value = 0;
        // Pods removed within the window still have samples in Prometheus.
        for (const p of pods) if (p.removed === undefined || p.removed > now - platform.rateWindow) value += p.inflight.rate(now, platform.rateWindow) ?? 0;
        cached = { at: now, value };
      }
      out.push({ name: 'inflight', value: value / current.length, target: o.policy.inflight, ready: current.length, unready: 0 });
    }
    return out;
  };

  const sync = () => {
    const next = hpa.sync(events.now, replicas, metrics());
    if (next !== replicas) setReplicas(next);
    events.after(o.policy.hpa.syncPeriod, sync);
  };

  const respond = (e: Endpoint<SimPod> | undefined, sent: number) => (outcome: Outcome) => {
    const now = events.now;
    if (e) {
      e.pending--;
      balancer.observe(e, now - sent, now);
    }
    if (outcome === 'ok') {
      all.add(now - sent);
      window.add(now - sent);
    } else {
      if (outcome === 'rejected') rejected++;
      else timeouts++;
      windowRejected++;
    }
  };

  const arrivals = new Arrivals(o.trace, rng);
  const arrive = () => {
    const now = events.now;
    requests++;
    windowArrivals++;
    const e = balancer.pick(now);
    if (!e) {
      rejected++;
      windowRejected++;
    } else {
      e.pending++;
      e.target.pod.receive({ sent: now, enqueued: now, deadline: now + o.settings.requestTimeout, respond: respond(e, now) });
    }
    const next = arrivals.next(now);
    if (next !== undefined) events.at(next, arrive);
  };

  const step = 10;
  const record = () => {
    const now = events.now;
    const current = live();
    let cpu = 0;
    let n = 0;
    for (const p of current) {
      const r = p.cpu.rate(now, platform.cpuResolution * 2);
      if (r !== undefined) {
        cpu += r;
        n++;
      }
    }
    const p99 = window.quantile(0.99);
    if (o.p99Target !== undefined && !(p99 <= o.p99Target)) secondsOverTarget += step;
    timeline.push({
      t: now,
      offered: windowArrivals / step,
      replicas,
      ready: current.filter((p) => p.endpoint !== undefined).length,
      p99: p99 * 1000,
      rejectedPct: windowArrivals ? (100 * windowRejected) / windowArrivals : 0,
      cpuPerPod: n ? cpu / n : 0,
    });
    window.reset();
    windowArrivals = 0;
    windowRejected = 0;
    if (now + step <= o.trace.duration) events.after(step, record);
  };

  // The starting pods are up and serving.
  const initial = o.initialReplicas ?? o.policy.hpa.minReplicas;
  for (let i = 0; i < initial; i++) addPod(0);
  replicas = initial;
  maxReplicas = initial;
  events.run(platform.endpointDelay);
  const first = arrivals.next(events.now);
  if (first !== undefined) events.at(first, arrive);
  events.after(o.policy.hpa.syncPeriod, sync);
  events.after(step, record);
  events.run(o.trace.duration);
  for (const p of live()) podSeconds += events.now - p.created;
  let durationSum = 0;
  for (const p of pods) durationSum += p.pod.counters.durationSum;

  return {
    trace: o.trace.name,
    policy: o.policy.name,
    requests,
    ok: all.count,
    rejected,
    timeouts,
    p50: all.quantile(0.5) * 1000,
    p99: all.quantile(0.99) * 1000,
    rejectedPct: requests ? (100 * (rejected + timeouts)) / requests : 0,
    podMinutes: podSeconds / 60,
    maxReplicas,
    secondsOverTarget,
    inflightPerPod: durationSum / podSeconds,
    timeline,
    events: events.processed,
  };
}
