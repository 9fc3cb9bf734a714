// The shared inference worker pool: many model versions per worker thread, placed by size, workers started
// only when given a model, and supervision per worker (a restart reloads every model that lived there).
import assert from 'node:assert/strict';
import { mlpModel } from '../scripts/onnx/index.ts';
import { test } from './helpers/node-test.ts';
import { waitFor } from './helpers/process.ts';
import { postJson, send, startService } from './helpers/service.ts';

const rows = (n: number, width: number) => ({ instances: Array.from({ length: n }, (_, r) => Array.from({ length: width }, (_, i) => ((r + i) % 5) / 5)) });

test('model versions share the workers, placed on the one with the fewest model bytes; a worker starts only when given a model', async (t) => {
  const svc = await startService(
    {
      big: { versions: { 1: mlpModel({ sizes: [64, 256, 256, 4], seed: 1 }) } },
      a: { config: { version_policy: { all: {} } }, versions: { 1: 'add_one.onnx', 2: 'add_two.onnx' } },
      b: { versions: { 1: 'add_one.onnx' } },
      c: { versions: { 1: 'identity_float32.onnx' } },
    },
    { env: { INFERENCE_WORKERS: '3' } },
  );
  t.after(() => svc.close());
  const { repository } = svc.service;
  assert.equal(repository.pool.size, 3);
  assert.equal(repository.pool.started, 3);
  const placement = Object.fromEntries(repository.all().map((m) => [`${m.name}:${m.version}`, m.worker]));
  const big = placement['big:1'];
  assert.ok(Object.entries(placement).every(([name, w]) => name === 'big:1' || w !== big), `the big model has its worker to itself: ${JSON.stringify(placement)}`);
  for (const m of repository.all()) {
    const res = await postJson(`${svc.url}/v1/models/${m.name}/versions/${m.version}:predict`, rows(2, m.inputs[0]!.shape[1]!));
    assert.equal(res.status, 200, `${m.name}:${m.version} ${res.text}`);
  }

  const one = await startService({ only: { versions: { 1: 'add_one.onnx' } } }, { env: { INFERENCE_WORKERS: '4' } });
  t.after(() => one.close());
  assert.equal(one.service.repository.pool.started, 1, 'idle workers are not started');
});

test('a worker restart takes down and brings back every model on it; a model on another worker keeps serving', async (t) => {
  const svc = await startService(
    {
      heavy: { versions: { 1: mlpModel({ sizes: [64, 512, 512, 10], seed: 1 }) } },
      x: { versions: { 1: 'add_one.onnx' } },
      y: { versions: { 1: 'add_two.onnx' } },
    },
    { env: { INFERENCE_WORKERS: '2' } },
  );
  t.after(() => svc.close());
  const { repository } = svc.service;
  const [x, y, heavy] = [repository.resolve('x'), repository.resolve('y'), repository.resolve('heavy')];
  assert.equal(x.worker, y.worker, 'the two small models share a worker');
  assert.notEqual(x.worker, heavy.worker);

  x.restart('restarted by the test');
  const ready = await send(`${svc.url}/ready`);
  assert.equal(ready.status, 503);
  const reasons = ready.json.reasons.join(';');
  assert.match(reasons, /model x version 1 is restarting: restarted by the test/);
  assert.match(reasons, /model y version 1 is restarting: restarted by the test/);
  assert.doesNotMatch(reasons, /heavy/);
  const refused = await postJson(`${svc.url}/v1/models/y:predict`, rows(1, y.inputs[0]!.shape[1]!));
  assert.equal(refused.status, 503);
  assert.equal(refused.json.code, 'model_unavailable');
  assert.equal(refused.headers.get('retry-after'), '1');
  assert.equal((await postJson(`${svc.url}/v1/models/heavy:predict`, rows(1, 64))).status, 200, 'the other worker keeps serving');

  await waitFor('ready again', async () => (await send(`${svc.url}/ready`)).status === 200);
  for (const m of [x, y]) {
    const res = await postJson(`${svc.url}/v1/models/${m.name}:predict`, rows(1, m.inputs[0]!.shape[1]!));
    assert.equal(res.status, 200, res.text);
  }
  const metrics = (await send(`${svc.metricsUrl}/metrics`)).text;
  assert.match(metrics, /meshserve_worker_restarts_total\{model="x",version="1",reason="requested"\} 1/);
  assert.match(metrics, /meshserve_worker_restarts_total\{model="y",version="1",reason="requested"\} 1/);
  assert.doesNotMatch(metrics, /meshserve_worker_restarts_total\{model="heavy"/);
  assert.ok(svc.logs.some((l) => l.msg === 'inference worker restarted; its models are ready again' && Array.isArray(l.models) && (l.models as string[]).includes('y:1')));
});
