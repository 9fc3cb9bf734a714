/**
 * One pod under closed-loop load, the way autocannon drives the bench: `connections` clients,
 * each sending its next request as soon as the previous one is answered.
 */
import { EventQueue } from './events.ts';
import { LatencyHistogram } from './histogram.ts';
import { Pod, type BatcherSettings, type PodProfile } from './pod.ts';

export interface ClosedLoopResult {
  connections: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  meanBatch: number;
}

export function simulateClosedLoop(o: {
  profile: PodProfile;
  settings: BatcherSettings;
  connections: number;
  /** Seconds measured, after `warmup` seconds. */
  duration: number;
  warmup?: number;
  /** Latency outside the pod's CPU (loopback, load generator, thread wake-ups), added to each round trip. */
  networkDelay?: number;
}): ClosedLoopResult {
  const events = new EventQueue();
  const pod = new Pod(events, o.profile, o.settings);
  const hist = new LatencyHistogram();
  const warmup = o.warmup ?? 1;
  const end = warmup + o.duration;
  let batches = 0;
  let rows = 0;
  pod.onBatch = (n) => {
    if (events.now >= warmup) {
      batches++;
      rows += n;
    }
  };
  const send = () => {
    const sent = events.now;
    pod.receive({
      sent,
      enqueued: sent,
      deadline: sent + o.settings.requestTimeout,
      respond: (outcome) => {
        const now = events.now;
        const rtt = now - sent + (o.networkDelay ?? 0);
        if (outcome === 'ok' && now >= warmup && now <= end) hist.add(rtt);
        if (now < end) events.after(o.networkDelay ?? 0, send);
      },
    });
  };
  for (let i = 0; i < o.connections; i++) events.at(0, send);
  events.run(end);
  return {
    connections: o.connections,
    reqPerSec: hist.count / o.duration,
    p50: hist.quantile(0.5) * 1000,
    p99: hist.quantile(0.99) * 1000,
    meanBatch: batches ? rows / batches : 0,
  };
}
