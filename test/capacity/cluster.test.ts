// The whole loop on a small, slow pod (10 ms a request, no batching gain), so it runs in a moment.
import assert from 'node:assert/strict';
import { test } from '../helpers/node-test.ts';
import { DEFAULT_BEHAVIOR } from '../../bench/capacity/autoscaler.ts';
import { simulateCluster } from '../../bench/capacity/cluster.ts';
import type { PodProfile } from '../../bench/capacity/pod.ts';
import { POLICIES, SHIPPED_BEHAVIOR, type Policy } from '../../bench/capacity/policies.ts';
import { runSteady } from '../../bench/capacity/sizing.ts';
import { burst } from '../../bench/capacity/traces.ts';

const slow: PodProfile = { cores: 1, batchCost: [[1, 0.01], [32, 0.32]], batchOverhead: 0, requestCost: 0, replyCost: 0, rejectCost: 0 };
const settings = { maxBatchSize: 32, batchDelay: 0, maxQueueSize: 1024, requestTimeout: 10 };

test('steady load: CPU per pod is the utilisation, in flight per pod follows Little law', () => {
  // 3 pods, 150 req/s: 50 req/s x 10 ms = 0.5 of a core each; in flight = 50/s x (10 ms + wait).
  const p = runSteady(slow, settings, 3, 150);
  assert.ok(Math.abs(p.cpuPerPod - 0.5) < 0.03, `CPU per pod ${p.cpuPerPod}`);
  assert.ok(p.inflightPerPod > 0.5 && p.inflightPerPod < 0.8, `in flight per pod ${p.inflightPerPod}`);
  assert.equal(p.rejectedPct, 0);
});

test('a 10x burst: the in-flight policy scales out and back, and is reproducible with a seed', () => {
  const keda = POLICIES.find((x) => x.name === 'keda-inflight')!;
  const run = () => simulateCluster({ profile: slow, settings, policy: keda, trace: burst(60), seed: 3 });
  const r = run();
  const at = (minute: number) => r.timeline.find((p) => p.t >= minute * 60)!;
  assert.equal(at(9).replicas, 3, 'no scaling before the burst');
  // 600 req/s x ~12 ms = 7 in flight to spread at 6 per pod over 3 pods: well over 3 pods.
  assert.ok(at(19).replicas >= 8, `replicas during the burst: ${at(19).replicas}`);
  assert.ok(r.timeline.at(-1)!.replicas < at(19).replicas, 'scaled back down after the burst');
  assert.deepEqual(run().timeline, r.timeline, 'same seed, same run');
});

test('without enough pods, requests fail; min/max bound the HPA', () => {
  const capped: Policy = { name: 'capped', title: 'capped', hpa: { minReplicas: 3, maxReplicas: 3, behavior: DEFAULT_BEHAVIOR, tolerance: 0.1, syncPeriod: 15 }, cpuUtilization: 70 };
  const r = simulateCluster({ profile: slow, settings, policy: capped, trace: burst(60), seed: 1 });
  assert.equal(r.maxReplicas, 3);
  assert.ok(r.rejectedPct > 10, `failed ${r.rejectedPct}%`);
  const shipped: Policy = { ...capped, hpa: { ...capped.hpa, maxReplicas: 20, behavior: SHIPPED_BEHAVIOR } };
  assert.ok(simulateCluster({ profile: slow, settings, policy: shipped, trace: burst(60), seed: 1 }).maxReplicas <= 20);
});
