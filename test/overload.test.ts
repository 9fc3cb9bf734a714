// A slow model driven far past capacity: the excess is shed fast as 503 + Retry-After, nothing else fails,
// memory stays bounded, and the service is ready and serving right after.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { mlpModel } from '../scripts/onnx/index.ts';
import { startService, type TestService } from './helpers/service.ts';

const INPUT = 1024;
const CLIENTS = 96;
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

test(`${CLIENTS} clients for ${DURATION_MS / 1000} s against a queue of ${MAX_QUEUE_SIZE}: only 200s and 503s with Retry-After, bounded memory, recovery`, async (t) => {
  const body = JSON.stringify({ instances: [Array.from({ length: INPUT }, (_, i) => (i % 7) / 7)] });
  const url = `${svc.url}/predict`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });

  // Warm up, then take the baseline.
  for (let i = 0; i < 5; i++) assert.equal((await post(agent, url, body)).status, 200);
  global.gc?.();
  const baseline = process.memoryUsage();
  let peakRss = baseline.rss;
  let peakHeap = baseline.heapUsed;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 50);

  const outcomes: Outcome[] = [];
  const rejectionMs: number[] = [];
  const end = Date.now() + DURATION_MS;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < end) {
        const started = performance.now();
        const o = await post(agent, url, body);
        if (o.status === 503) rejectionMs.push(performance.now() - started);
        outcomes.push(o);
      }
    }),
  );
  clearInterval(sampler);

  const ok = outcomes.filter((o) => o.status === 200).length;
  const shed = outcomes.filter((o) => o.status === 503);
  const failed = outcomes.filter((o) => o.status !== 200 && o.status !== 503);
  rejectionMs.sort((a, b) => a - b);
  const p50 = rejectionMs[Math.floor(rejectionMs.length / 2)] ?? 0;
  const figures = `sent ${outcomes.length}, succeeded ${ok}, rejected 503 ${shed.length} (median ${p50.toFixed(1)} ms), failed ${failed.length}; ` +
    `RSS ${mb(baseline.rss)} -> peak ${mb(peakRss)} MB, heap ${mb(baseline.heapUsed)} -> peak ${mb(peakHeap)} MB`;
  t.diagnostic(figures);
  console.log(`overload: ${figures}`);

  assert.deepEqual(failed.slice(0, 5), [], `${failed.length} requests neither succeeded nor were shed`);
  assert.ok(ok > 0, 'some requests succeed under overload');
  assert.ok(shed.length > outcomes.length / 4, `the test must overload the service: only ${shed.length} of ${outcomes.length} were shed`);
  for (const o of shed) {
    assert.match(o.retryAfter ?? '', /^\d+$/, 'every 503 says when to retry');
    assert.ok(o.code === 'queue_full' || o.code === 'deadline_exceeded', `503 code ${o.code}`);
  }
  assert.ok(p50 < 500, `shedding is fast: median 503 in ${p50.toFixed(1)} ms`);
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
