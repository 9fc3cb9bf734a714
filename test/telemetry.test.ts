import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from './helpers/node-test.ts';
import { postJson, startService } from './helpers/service.ts';

test('/ready is 503 with the reason while models load, 200 once they are warmed up', async (t) => {
  const svc = await startService({ add: { versions: { 1: 'add_one.onnx' } } }, { skipLoad: true });
  t.after(() => svc.close());
  const before = await fetch(`${svc.url}/ready`);
  assert.equal(before.status, 503);
  assert.deepEqual(await before.json(), { status: 'unavailable', reasons: ['models are loading'] });
  assert.equal((await fetch(`${svc.url}/healthz`)).status, 200, 'liveness never waits for models');
  const early = await postJson(`${svc.url}/v1/models/add:predict`, { instances: [[1, 2]] });
  assert.equal(early.status, 503);
  assert.equal(early.json.code, 'not_ready');
  await svc.service.start();
  assert.equal((await fetch(`${svc.url}/ready`)).status, 200);
});

test('one JSON log line per request with id, route, status, duration, model, version, batch and trace context; secrets redacted', async (t) => {
  const svc = await startService({ add: { versions: { 1: 'add_one.onnx' } } });
  t.after(() => svc.close());
  await postJson(`${svc.url}/v1/models/add:predict`, { instances: [[1, 2]] }, {
    'x-request-id': 'req-42',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'l5d-ctx-trace': 'abc',
    'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
    authorization: 'Bearer secret-token',
  });
  const line = svc.logs.find((l) => l.requestId === 'req-42' && l.msg === 'request')!;
  assert.ok(line, 'a request line with the request id');
  assert.equal(line.route, '/v1/models/:name:predict');
  assert.equal(line.status, 200);
  assert.equal(line.model, 'add');
  assert.equal(line.version, 1);
  assert.equal(line.batchSize, 1);
  assert.equal(typeof line.durationMs, 'number');
  assert.equal(typeof line.queueMs, 'number');
  assert.equal(typeof line.computeMs, 'number');
  assert.deepEqual(line.trace, {
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'l5d-ctx-trace': 'abc',
    'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
  });
  assert.ok(!JSON.stringify(svc.logs).includes('secret-token'), 'authorization never reaches the logs');
});

test('a scrape after known traffic counts each outcome and passes promtool check metrics', async (t) => {
  const svc = await startService(
    { add: { versions: { 1: 'add_one.onnx' } }, fault: { versions: { 1: 'gather_fault.onnx' } } },
    { env: { MAX_QUEUE_SIZE: '1' } },
  );
  t.after(() => svc.close());
  for (let i = 0; i < 3; i++) assert.equal((await postJson(`${svc.url}/v1/models/add:predict`, { instances: [[1, 2]] })).status, 200);
  assert.equal((await postJson(`${svc.url}/v1/models/add:predict`, { instances: [[1, 2, 3]] })).status, 400);
  assert.equal((await postJson(`${svc.url}/v1/models/fault:predict`, { instances: [[99]] })).status, 500);
  // Two requests at once against a queue of one: one must be rejected.
  const burst = await Promise.all([1, 2, 3].map(() => postJson(`${svc.url}/v1/models/add:predict`, { instances: [[1, 2]] })));
  const rejected = burst.filter((r) => r.status === 503);
  assert.ok(rejected.length >= 1 && rejected.every((r) => r.json.code === 'queue_full' && r.headers.get('retry-after') === '1'));

  const text = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
  const value = (pattern: string) => Number(new RegExp(`^${pattern} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  assert.equal(value('meshserve_inference_requests_total\\{model="add",version="1",outcome="success"\\}'), 3 + burst.length - rejected.length);
  assert.equal(value('meshserve_inference_requests_total\\{model="add",version="1",outcome="invalid"\\}'), 1);
  assert.equal(value('meshserve_inference_requests_total\\{model="add",version="1",outcome="rejected"\\}'), rejected.length);
  assert.equal(value('meshserve_inference_requests_total\\{model="fault",version="1",outcome="error"\\}'), 1);
  assert.equal(value('meshserve_http_requests_total\\{method="POST",route="/v1/models/:name:predict",code="400"\\}'), 1);
  assert.equal(value('meshserve_model_ready\\{model="add",version="1"\\}'), 1);
  assert.equal(value('meshserve_inference_queue_capacity\\{model="add",version="1"\\}'), 1);
  assert.ok(value('meshserve_inference_batch_size_count\\{model="add",version="1"\\}') >= 3);
  assert.ok(value('meshserve_inference_compute_duration_seconds_count\\{model="add",version="1"\\}') >= 3);
  assert.match(text, /^process_resident_memory_bytes \d+/m);
  assert.ok(!/route="\/v1\/models\/add/.test(text), 'route labels are patterns, never raw URLs');

  const promtool = spawnSync('promtool', ['--version'], { timeout: 120_000, encoding: 'utf8' });
  if (promtool.error) {
    if (process.env.MESHSERVE_SKIP_PROMTOOL === '1') return t.skip('promtool not installed');
    assert.fail('promtool is missing: install Debian package "prometheus" (.ci/run does), or set MESHSERVE_SKIP_PROMTOOL=1');
  }
  const dir = await mkdtemp(join(tmpdir(), 'meshserve-scrape-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'scrape.txt'), text);
  const check = spawnSync('sh', ['-c', `promtool check metrics < ${join(dir, 'scrape.txt')}`], { timeout: 120_000, encoding: 'utf8' });
  assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
});

test('LOG_LEVEL is honoured: at warn, successful requests write no log line', async (t) => {
  const svc = await startService({ add: { versions: { 1: 'add_one.onnx' } } }, { env: { LOG_LEVEL: 'warn' } });
  t.after(() => svc.close());
  assert.equal((await postJson(`${svc.url}/v1/models/add:predict`, { instances: [[1, 2]] })).status, 200);
  assert.deepEqual(svc.logs.filter((l) => l.msg === 'request'), []);
});

test('with the queue full, a request is refused before its body is read', async (t) => {
  const { mlpModel } = await import('../scripts/onnx/index.ts');
  const http = await import('node:http');
  const svc = await startService({ slow: { versions: { 1: mlpModel({ sizes: [1024, 2048, 2048, 4], seed: 1 }) } } }, { env: { MAX_QUEUE_SIZE: '1', MAX_BATCH_SIZE: '1', BATCH_DELAY_MS: '0' } });
  t.after(() => svc.close());
  const url = `${svc.url}/v1/models/slow:predict`;
  const row = Array.from({ length: 1024 }, () => 0.5);
  // Sixteen clients keep the model busy and its queue (of one) full.
  let stop = false;
  const busy = Array.from({ length: 16 }, async () => {
    while (!stop) await postJson(url, { instances: [row] });
  });
  /** Headers and the start of a body that never completes: answered only if the server does not wait for the body. */
  const halfSent = () =>
    new Promise<{ status: number; code: string } | undefined>((resolve) => {
      const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '1000000' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, code: JSON.parse(text).code }));
      });
      req.on('error', () => resolve(undefined));
      req.write('{"instances":');
      setTimeout(() => {
        req.destroy();
        resolve(undefined);
      }, 300);
    });
  let answer: { status: number; code: string } | undefined;
  for (let attempt = 0; attempt < 20 && !answer; attempt++) answer = await halfSent();
  stop = true;
  await Promise.all(busy);
  assert.deepEqual(answer, { status: 503, code: 'queue_full' });
});

test('a deadline the client asks for (timeout_ms, or V2 parameters.timeout in µs) expires in the queue with 503', async (t) => {
  const { mlpModel } = await import('../scripts/onnx/index.ts');
  const svc = await startService({ slow: { versions: { 1: mlpModel({ sizes: [1024, 4096, 4096, 4], seed: 1 }) } } }, { env: { MAX_BATCH_SIZE: '1', BATCH_DELAY_MS: '0' } });
  t.after(() => svc.close());
  const row = Array.from({ length: 1024 }, () => 0.5);
  // Requests queued ahead (a few ms each) keep the model busy for well over a millisecond.
  const ahead = Array.from({ length: 40 }, () => postJson(`${svc.url}/v1/models/slow:predict`, { instances: [row] }));
  const model = svc.service.repository.resolve('slow');
  const waitUntil = performance.now() + 5000;
  while (model.queueDepth < 3) {
    assert.ok(performance.now() < waitUntil, 'the queue never filled');
    await new Promise((r) => setTimeout(r, 1));
  }
  const rowLate = postJson(`${svc.url}/v1/models/slow:predict`, { instances: [row], parameters: { timeout_ms: 1 } });
  const v2Late = postJson(`${svc.url}/v2/models/slow/infer`, { parameters: { timeout: 1000 }, inputs: [{ name: 'input', shape: [1, 1024], datatype: 'FP32', data: row }] });
  for (const late of [await rowLate, await v2Late]) {
    assert.equal(late.status, 503);
    assert.equal(late.json.code, 'deadline_exceeded');
    assert.ok(late.headers.get('retry-after'));
  }
  assert.ok((await Promise.all(ahead)).every((r) => r.status === 200));
  const text = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
  assert.match(text, /meshserve_inference_requests_total\{model="slow",version="1",outcome="timeout"\} 2/);
});

test('a client that disconnects while its request is queued is dropped: counted as cancelled, logged as aborted with no status', async (t) => {
  const { mlpModel } = await import('../scripts/onnx/index.ts');
  const http = await import('node:http');
  // A model slow enough (a few ms per row, one row per batch) that a queue builds up behind busy clients.
  const svc = await startService({ slow: { versions: { 1: mlpModel({ sizes: [1024, 4096, 4096, 4], seed: 1 }) } } }, { env: { MAX_BATCH_SIZE: '1', BATCH_DELAY_MS: '0' } });
  t.after(() => svc.close());
  const url = `${svc.url}/v1/models/slow:predict`;
  const body = JSON.stringify({ instances: [Array.from({ length: 1024 }, () => 0.5)] });
  let stop = false;
  const busy = Array.from({ length: 8 }, async () => {
    while (!stop) await postJson(url, body);
  });
  await new Promise((r) => setTimeout(r, 200));
  // Whole requests sent, then the connection dropped before the reply: each waits behind about 8 batches.
  const leavers = Array.from({ length: 4 }, (_, i) =>
    new Promise<void>((resolve) => {
      const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': `leaver-${i}` } });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.end(body, () => setTimeout(() => req.destroy(), 5));
    }),
  );
  await Promise.all(leavers);
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(busy);
  const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
  const cancelled = Number(/meshserve_inference_requests_total\{model="slow",version="1",outcome="cancelled"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  assert.ok(cancelled >= 1, `expected cancelled requests, metrics say ${cancelled}`);
  const lines = svc.logs.filter((l) => typeof l.requestId === 'string' && l.requestId.startsWith('leaver-'));
  assert.equal(lines.length, 4);
  const aborted = lines.filter((l) => l.aborted === true);
  assert.ok(aborted.length >= cancelled, `${aborted.length} aborted log lines for ${cancelled} cancelled requests`);
  for (const line of aborted) assert.equal(line.status, undefined);
});
