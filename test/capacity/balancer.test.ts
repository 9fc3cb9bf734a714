import assert from 'node:assert/strict';
import { test } from '../helpers/node-test.ts';
import { P2cBalancer } from '../../bench/capacity/balancer.ts';
import { CounterSeries } from '../../bench/capacity/prometheus.ts';
import { Rng } from '../../bench/capacity/rng.ts';
import { Arrivals, burst, diurnal, ramp } from '../../bench/capacity/traces.ts';

test('P2C: with equal latency, the endpoint with fewer requests pending wins every comparison', () => {
  const b = new P2cBalancer<string>(new Rng(1), { defaultRtt: 0.01, decay: 10 });
  const busy = b.add('busy', 0);
  b.add('idle', 0);
  busy.pending = 5;
  for (let i = 0; i < 20; i++) assert.equal(b.pick(0)!.target, 'idle');
});

test('P2C over many endpoints spreads equal load evenly', () => {
  const b = new P2cBalancer<number>(new Rng(2), { defaultRtt: 0.01, decay: 10 });
  for (let i = 0; i < 4; i++) b.add(i, 0);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 40_000; i++) counts[b.pick(0)!.target]!++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, String(counts));
});

test('peak EWMA: a slower response raises the estimate at once; faster ones pull it down with time', () => {
  const b = new P2cBalancer<string>(new Rng(1), { defaultRtt: 0.01, decay: 10 });
  const e = b.add('a', 0);
  b.observe(e, 0.1, 1);
  assert.equal(e.rtt, 0.1);
  // 10 s later (one time constant): the estimate decayed to 0.1/e, then moved 1 - 1/e of the way to 0.01.
  b.observe(e, 0.01, 11);
  const w = Math.exp(-1);
  assert.ok(Math.abs(e.rtt - (0.1 * w * w + 0.01 * (1 - w))) < 1e-12);
  // A slow endpoint loses to a fast one with more pending.
  const fast = b.add('fast', 11);
  b.observe(fast, 0.001, 11);
  fast.pending = 3;
  e.rtt = 0.05;
  assert.equal(b.load(fast, 11) < b.load(e, 11), true);
});

test('rate() over scraped counter samples', () => {
  const s = new CounterSeries();
  for (let t = 0; t <= 300; t += 30) s.add(t, t * 2.5); // 2.5 per second
  assert.equal(s.rate(300, 120), 2.5);
  assert.equal(s.rate(15, 120), undefined, 'one sample is not enough');
  assert.equal(s.last(100), 225);
});

test('traces: the rates they promise, and Poisson arrivals that follow them', () => {
  const b = burst(100);
  assert.deepEqual([b.rate(0), b.rate(600), b.rate(1199), b.rate(1200)], [100, 1000, 1000, 100]);
  const r = ramp(100);
  assert.deepEqual([r.rate(0), r.rate(300 + 900), r.rate(2400)], [100, 550, 1000]);
  const d = diurnal(100);
  assert.equal(d.rate(d.duration / 2), 1000); // noon
  const a = new Arrivals(b, new Rng(5));
  let n = 0;
  let inBurst = 0;
  for (let t = a.next(0); t !== undefined; t = a.next(t)) {
    n++;
    if (t >= 600 && t < 1200) inBurst++;
  }
  const expected = 25 * 60 * 100 + 10 * 60 * 1000;
  assert.ok(Math.abs(n - expected) < 4 * Math.sqrt(expected), `${n} arrivals, expected about ${expected}`);
  assert.ok(Math.abs(inBurst - 600_000) < 4 * Math.sqrt(600_000));
});
