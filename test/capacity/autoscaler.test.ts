// The HPA's rules against worked examples of the Kubernetes documentation's algorithm.
import assert from 'node:assert/strict';
import { test } from '../helpers/node-test.ts';
import { DEFAULT_BEHAVIOR, desiredFor, Hpa, type HpaSpec, type MetricSample } from '../../bench/capacity/autoscaler.ts';
import { SHIPPED_BEHAVIOR } from '../../bench/capacity/policies.ts';

const cpu = (value: number, ready: number, unready = 0): MetricSample => ({ name: 'cpu', value, target: 70, ready, unready });
const spec = (over: Partial<HpaSpec> = {}): HpaSpec => ({ minReplicas: 3, maxReplicas: 20, behavior: DEFAULT_BEHAVIOR, tolerance: 0.1, syncPeriod: 15, ...over });

test('desired = ceil(current x value / target)', () => {
  assert.equal(desiredFor(3, cpu(140, 3), 0.1), 6);
  assert.equal(desiredFor(4, cpu(100, 4), 0.1), 6); // ceil(5.71)
  assert.equal(desiredFor(10, cpu(35, 10), 0.1), 5);
});

test('within the 10% tolerance nothing changes', () => {
  assert.equal(desiredFor(10, cpu(76, 10), 0.1), 10); // ratio 1.086
  assert.equal(desiredFor(10, cpu(64, 10), 0.1), 10); // ratio 0.914
  assert.equal(desiredFor(10, cpu(78, 10), 0.1), 12); // ratio 1.114 -> ceil(11.14)
});

test('scaling up, pods that have not reported yet count as idle', () => {
  // 3 ready at 140%, 3 starting: (140 x 3) / (70 x 6) = 1.0, no further scale-up.
  assert.equal(desiredFor(6, cpu(140, 3, 3), 0.1), 6);
  // 3 ready at 280%, 3 starting: ratio 2 over 6 pods -> 12.
  assert.equal(desiredFor(6, cpu(280, 3, 3), 0.1), 12);
});

test('the largest desired count over the metrics wins; min and max bound it', () => {
  const hpa = new Hpa(spec());
  const inflight: MetricSample = { name: 'inflight', value: 12, target: 6, ready: 3, unready: 0 };
  assert.equal(hpa.sync(0, 3, [cpu(70, 3), inflight]), 6);
  assert.equal(new Hpa(spec()).sync(0, 3, [cpu(10, 3)]), 3);
  assert.equal(new Hpa(spec()).sync(0, 19, [cpu(700, 19)]), 20);
});

test('scale-up policies: at most double or +4 pods per 15 s, whichever is more', () => {
  const hpa = new Hpa(spec());
  const hot = (n: number) => [cpu(700, n)]; // wants 10x
  assert.equal(hpa.sync(0, 3, hot(3)), 7); // max(3 x 2, 3 + 4)
  assert.equal(hpa.sync(15, 7, hot(7)), 14); // max(14, 11)
  assert.equal(hpa.sync(30, 14, hot(14)), 20); // capped by maxReplicas
});

test('scale-up within one period counts what was already added', () => {
  const hpa = new Hpa(spec({ syncPeriod: 5 }));
  assert.equal(hpa.sync(0, 3, [cpu(700, 3)]), 7);
  // 5 s later the 15 s period started at 3 pods: still max(6, 7) = 7.
  assert.equal(hpa.sync(5, 7, [cpu(700, 7)]), 7);
  assert.equal(hpa.sync(16, 7, [cpu(700, 7)]), 14);
});

test('scale-down waits for the stabilisation window: the highest recommendation of the last 300 s', () => {
  const hpa = new Hpa(spec());
  assert.equal(hpa.sync(0, 10, [cpu(70, 10)]), 10);
  let replicas = 10;
  for (let t = 15; t <= 300; t += 15) {
    replicas = hpa.sync(t, replicas, [cpu(14, replicas)]); // wants 2 -> 3
    assert.equal(replicas, 10, `still 10 at ${t} s`);
  }
  // The recommendation of 10 from t=0 has left the window.
  assert.equal(hpa.sync(315, 10, [cpu(14, 10)]), 3);
});

test('the shipped scale-down policy removes at most 2 pods a minute', () => {
  const hpa = new Hpa(spec({ behavior: { ...SHIPPED_BEHAVIOR, scaleDown: { ...SHIPPED_BEHAVIOR.scaleDown, stabilizationWindowSeconds: 0 } } }));
  const seen: number[] = [];
  let replicas = 12;
  for (let t = 0; t <= 180; t += 15) {
    replicas = hpa.sync(t, replicas, [cpu(7, replicas)]);
    seen.push(replicas);
  }
  assert.deepEqual(seen, [10, 10, 10, 10, 8, 8, 8, 8, 6, 6, 6, 6, 4]);
});
