// A slow model driven far past capacity by open-loop arrivals: the excess is shed as 503 + Retry-After without
// waiting for the model, nothing else fails, the queue and memory stay bounded, and the service is ready and
// serving right after.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from './helpers/node-test.ts';
import { mlpModel } from '../scripts/onnx/index.ts';
import { collectGarbage } from './helpers/gc.ts';
import { startService, type TestService } from './helpers/service.ts';

const INPUT = 1024;
const DURATION_MS = 6000;
const MAX_QUEUE_SIZE = 16;

let svc: TestService;
before(async () => {
  // ~10-30 ms per batch on 2 cores: a few hundred rows a second at most.
  const model = mlpModel({ sizes: [INPUT, 4096, 4096, 10], seed: 7 });
  svc = await startService({ slow: { versions: { 1: model } } }, { env: { MAX_QUEUE_SIZE: String(MAX_QUEUE_SIZE), MAX_BATCH_SIZE: '8', BATCH_DELAY_MS: '2', LOG_LEVEL: 'warn' } });
});
after(() => svc?.close());

interface Outcome {
  status?: number;
  retryAfter?: string | null;
  code?: string;
  error?: string;
}

function post(agent: http.Agent, url: string, body: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = JSON.parse(text).code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] ?? null, code });
      });
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end(body);
  });
}

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

// Open loop: RATE requests a second whatever the replies, up to OFFERED at once. Clients that wait for their
// replies would cap what is outstanding at their own number, so a queue that stopped enforcing MAX_QUEUE_SIZE
// (caught here with the bound in Batcher.checkAdmission removed) would still look bounded.
const RATE = 1500;
const OFFERED = 400;

test(`${RATE} requests a second for ${DURATION_MS / 1000} s (up to ${OFFERED} outstanding) against a queue of ${MAX_QUEUE_SIZE}: only 200s and 503s with Retry-After, the queue never past its bound, bounded memory, recovery`, async (t) => {
  const body = JSON.stringify({ instances: [Array.from({ length: INPUT }, (_, i) => (i % 7) / 7)] });
  const url = `${svc.url}/predict`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: OFFERED });
  t.after(() => agent.destroy());
  const model = svc.service.repository.resolve('slow');

  // Warm up, then take the baseline after a real collection.
  for (let i = 0; i < 5; i++) assert.equal((await post(agent, url, body)).status, 200);
  collectGarbage();
  const baseline = process.memoryUsage();
  let peakRss = baseline.rss;
  let peakHeap = baseline.heapUsed;
  let peakDepth = 0;
  let peakOutstanding = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakDepth = Math.max(peakDepth, model.queueDepth);
  }, 5);

  const outcomes: Outcome[] = [];
  const rejectionMs: number[] = [];
  const successMs: number[] = [];
  const inFlight = new Set<Promise<void>>();
  const begin = performance.now();
  let sent = 0;
  while (performance.now() - begin < DURATION_MS) {
    const due = Math.floor(((performance.now() - begin) / 1000) * RATE);
    for (; sent < due && inFlight.size < OFFERED; sent++) {
      const started = performance.now();
      const one = post(agent, url, body).then((o) => {
        (o.status === 503 ? rejectionMs : o.status === 200 ? successMs : []).push(performance.now() - started);
        outcomes.push(o);
        peakDepth = Math.max(peakDepth, model.queueDepth);
        inFlight.delete(one);
      });
      inFlight.add(one);
      peakOutstanding = Math.max(peakOutstanding, inFlight.size);
    }
    sent = Math.max(sent, due); // arrivals that found OFFERED outstanding are not made up later
    peakDepth = Math.max(peakDepth, model.queueDepth);
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inFlight);
  clearInterval(sampler);

  const ok = outcomes.filter((o) => o.status === 200).length;
  const shed = outcomes.filter((o) => o.status === 503);
  const failed = outcomes.filter((o) => o.status !== 200 && o.status !== 503);
  const figures = `sent ${outcomes.length} (at most ${peakOutstanding} outstanding), succeeded ${ok} (median ${median(successMs).toFixed(1)} ms), ` +
    `rejected 503 ${shed.length} (median ${median(rejectionMs).toFixed(1)} ms), failed ${failed.length}; queue depth peak ${peakDepth}; ` +
    `RSS ${mb(baseline.rss)} -> peak ${mb(peakRss)} MB, heap ${mb(baseline.heapUsed)} -> peak ${mb(peakHeap)} MB`;
  t.diagnostic(figures);
  console.log(`overload: ${figures}`);

  assert.ok(peakDepth <= MAX_QUEUE_SIZE, `the queue held ${peakDepth} requests; MAX_QUEUE_SIZE is ${MAX_QUEUE_SIZE}`);
  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} requests neither succeeded nor were shed`);
  assert.ok(ok > 0, 'some requests succeed under overload');
  // Overloaded, however fast the machine: the queue filled to its bound and the excess was shed.
  assert.equal(peakDepth, MAX_QUEUE_SIZE, 'the load must fill the queue');
  assert.ok(shed.length >= 100, `the test must overload the service: only ${shed.length} of ${outcomes.length} were shed`);
  for (const o of shed) {
    assert.match(o.retryAfter ?? '', /^\d+$/, 'every 503 says when to retry');
    assert.ok(o.code === 'queue_full' || o.code === 'deadline_exceeded', `503 code ${o.code}`);
  }
  // Shedding does not wait for the model: a rejection comes back sooner than a success (an ordering, not a
  // wall-clock bound, so it holds on a loaded machine).
  assert.ok(median(rejectionMs) < median(successMs), `median 503 in ${median(rejectionMs).toFixed(1)} ms, median 200 in ${median(successMs).toFixed(1)} ms`);
  // The queue is bounded, so memory is too: a backlog of thousands of requests would show here.
  assert.ok(peakHeap - baseline.heapUsed < 160 * 2 ** 20, `heap grew ${mb(peakHeap - baseline.heapUsed)} MB`);
  assert.ok(peakRss - baseline.rss < 400 * 2 ** 20, `RSS grew ${mb(peakRss - baseline.rss)} MB`);

  // Recovery: ready, queue empty, a good request succeeds.
  agent.destroy();
  const ready = await fetch(`${svc.url}/ready`);
  assert.equal(ready.status, 200);
  const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
  assert.match(metrics, /meshserve_inference_queue_depth\{model="slow",version="1"\} 0/);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { predictions: unknown[] }).predictions.length, 1);
});
