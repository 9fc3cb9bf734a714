// The pod model against known answers: processor sharing, an M/D/1 queue, the batcher's rules.
import assert from 'node:assert/strict';
import { test } from '../helpers/node-test.ts';
import { simulateClosedLoop } from '../../bench/capacity/closed.ts';
import { Cpu } from '../../bench/capacity/cpu.ts';
import { EventQueue } from '../../bench/capacity/events.ts';
import { batchSeconds, Pod, type Outcome, type PodProfile, type Request } from '../../bench/capacity/pod.ts';
import { Rng } from '../../bench/capacity/rng.ts';

const close = (actual: number, expected: number, rel: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} is not within ${rel * 100}% of ${expected}`);

test('one core shared by two busy threads: each runs at half speed', () => {
  const q = new EventQueue();
  const cpu = new Cpu(q, 1);
  const [a, b] = [cpu.thread(), cpu.thread()];
  const done: Record<string, number> = {};
  cpu.submit(a, 1, () => (done.long = q.now));
  cpu.submit(b, 0.5, () => (done.short = q.now));
  q.run();
  // Both at half speed until the short job has had 0.5 s (t = 1), then the long one alone.
  assert.deepEqual(done, { short: 1, long: 1.5 });
  assert.ok(Math.abs(cpu.used - 1.5) < 1e-9);
});

test('two cores: two threads each get a whole core; jobs on one thread run one after another', () => {
  const q = new EventQueue();
  const cpu = new Cpu(q, 2);
  const [a, b] = [cpu.thread(), cpu.thread()];
  const done: number[] = [];
  cpu.submit(a, 1, () => done.push(q.now));
  cpu.submit(a, 1, () => done.push(q.now));
  cpu.submit(b, 1, () => done.push(q.now));
  q.run();
  assert.deepEqual(done, [1, 1, 2]);
});

test('batch cost is interpolated between measured sizes and extrapolated past the last', () => {
  const cost: Array<[number, number]> = [
    [1, 1],
    [8, 2],
    [32, 5],
  ];
  assert.equal(batchSeconds(cost, 1), 1);
  assert.equal(batchSeconds(cost, 8), 2);
  assert.equal(batchSeconds(cost, 20), 3.5);
  assert.equal(batchSeconds(cost, 56), 8);
});

/** A pod whose only cost is `service` seconds per request, computed one at a time. */
function serverOnly(service: number): PodProfile {
  return { cores: 1, batchCost: [[1, service]], batchOverhead: 0, requestCost: 0, replyCost: 0, rejectCost: 0 };
}

function request(q: EventQueue, respond: (o: Outcome) => void, timeout = 10): Request {
  return { sent: q.now, enqueued: q.now, deadline: q.now + timeout, respond };
}

test('M/D/1: Poisson arrivals to one deterministic server wait rho*D / (2(1 - rho)) on average', () => {
  for (const rho of [0.5, 0.8]) {
    const q = new EventQueue();
    const D = 0.001;
    const pod = new Pod(q, serverOnly(D), { maxBatchSize: 1, batchDelay: 0, maxQueueSize: 1e9, requestTimeout: 1e9 });
    const rng = new Rng(3);
    const n = 300_000;
    let t = 0;
    for (let i = 0; i < n; i++) {
      t += rng.exponential(D / rho);
      q.at(t, () => pod.receive(request(q, () => {}, 1e9)));
    }
    q.run();
    assert.equal(pod.counters.ok, n);
    close(pod.counters.queueSum / n, (rho * D) / (2 * (1 - rho)), rho === 0.8 ? 0.06 : 0.03, `M/D/1 mean wait at rho ${rho}`);
  }
});

test('a batch closes at MAX_BATCH_SIZE at once, or when its oldest request has waited BATCH_DELAY_MS', () => {
  const q = new EventQueue();
  const pod = new Pod(q, serverOnly(0.001), { maxBatchSize: 4, batchDelay: 0.002, maxQueueSize: 100, requestTimeout: 10 });
  const batches: Array<[number, number]> = [];
  pod.onBatch = (rows) => batches.push([q.now, rows]);
  // Six at t=0: a full batch of 4 leaves at once; the other 2 wait for the delay (and the worker).
  for (let i = 0; i < 6; i++) q.at(0, () => pod.receive(request(q, () => {})));
  // One alone at t=1: it waits the whole delay.
  q.at(1, () => pod.receive(request(q, () => {})));
  q.run();
  assert.deepEqual(
    batches.map(([t, rows]) => [Math.round(t * 1e6) / 1e6, rows]),
    [
      [0, 4],
      [0.004, 2], // the worker was busy until 4 x 1 ms
      [1.002, 1],
    ],
  );
});

test('a full queue refuses at once; a request still queued at its deadline times out', () => {
  const q = new EventQueue();
  const pod = new Pod(q, serverOnly(1), { maxBatchSize: 1, batchDelay: 0, maxQueueSize: 2, requestTimeout: 10 });
  const outcomes: Array<[number, Outcome]> = [];
  q.at(0, () => pod.receive(request(q, (o) => outcomes.push([q.now, o]), 1.5)));
  for (let i = 0; i < 4; i++) q.at(0.1, () => pod.receive(request(q, (o) => outcomes.push([q.now, o]), 1.5)));
  q.run();
  // #1 runs at once (0..1); #2 and #3 queue at 0.1; #4 and #5 are refused at once. At t=1 #2 runs
  // (deadline 1.6 not passed); at t=2, when the worker is free again, #3's deadline has passed
  // (it fails as the next batch is formed, before #2's reply is written).
  assert.deepEqual(outcomes, [
    [0.1, 'rejected'],
    [0.1, 'rejected'],
    [1, 'ok'],
    [2, 'timeout'],
    [2, 'ok'],
  ]);
  assert.deepEqual([pod.counters.ok, pod.counters.rejected, pod.counters.timeouts], [2, 2, 1]);
});

test('closed loop, one connection: latency is parse + batch delay + batch of 1 + reply, exactly', () => {
  const profile: PodProfile = { cores: 1, batchCost: [[1, 0.0007]], batchOverhead: 0, requestCost: 0.0002, replyCost: 0.0001, rejectCost: 0 };
  const r = simulateClosedLoop({ profile, settings: { maxBatchSize: 32, batchDelay: 0.002, maxQueueSize: 1024, requestTimeout: 10 }, connections: 1, duration: 2 });
  close(r.p50, 3.0, 0.011, 'p50 ms');
  close(r.reqPerSec, 1000 / 3.0, 0.01, 'req/s');
  assert.equal(r.meanBatch, 1);
});

test('closed loop at saturation: throughput is 1 / (CPU per request) on one core', () => {
  // Batches of 32 are formed when 64 clients wait; all CPU work is serial on one core.
  const profile: PodProfile = { cores: 1, batchCost: [[1, 0.001], [32, 0.0032]], batchOverhead: 0, requestCost: 0.0002, replyCost: 0.0001, rejectCost: 0 };
  const r = simulateClosedLoop({ profile, settings: { maxBatchSize: 32, batchDelay: 0, maxQueueSize: 1024, requestTimeout: 10 }, connections: 256, duration: 5 });
  const perRequest = (r.meanBatch ? batchSeconds(profile.batchCost, r.meanBatch) / r.meanBatch : 0) + 0.0003;
  close(r.reqPerSec, 1 / perRequest, 0.02, 'req/s');
});
