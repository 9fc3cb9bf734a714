// Supervised workers and the batch watchdog: a model whose worker dies or overruns BATCH_TIMEOUT_MS turns
// unavailable at once, answers 503 model_unavailable / batch_timeout (never 500, never a hang), restarts
// its worker and serves again; a model that keeps failing ends the process so Kubernetes replaces the pod.
import assert from 'node:assert/strict';
import { test } from './helpers/node-test.ts';
import { build, MAIN, ROOT, spawnTracked, waitFor, withTimeout } from './helpers/process.ts';
import { mlpModel } from '../scripts/onnx/index.ts';
import { makeRepository } from './helpers/repository.ts';
import { postJson, send, startService } from './helpers/service.ts';

// Heavy enough that a 2048-row batch (about 19 GFLOP) takes far longer than a 20 ms batch timeout on any machine.
const SLOW = mlpModel({ sizes: [256, 2048, 2048, 10], seed: 5 });
const rows = (n: number, width: number) => ({ instances: Array.from({ length: n }, (_, r) => Array.from({ length: width }, (_, i) => ((r + i) % 7) / 7)) });

test('a worker that goes away while requests are queued and arriving: not ready at once, 503 model_unavailable (no 500s), restarted, ready again', async (t) => {
  const svc = await startService({ mlp: { versions: { 1: mlpModel({ sizes: [64, 512, 512, 10], seed: 1 }) } } }, { env: { BATCH_DELAY_MS: '5' } });
  t.after(() => svc.close());
  const model = svc.service.repository.resolve('mlp');
  const body = rows(4, 64);
  const replies: { status: number; code?: string; retryAfter: string | null }[] = [];
  let stop = false;
  const clients = Array.from({ length: 16 }, async () => {
    while (!stop) {
      const res = await postJson(`${svc.url}/v1/models/mlp:predict`, body);
      replies.push({ status: res.status, code: res.json?.code, retryAfter: res.headers.get('retry-after') });
    }
  });
  t.after(async () => {
    stop = true;
    await withTimeout(Promise.all(clients), 20_000, 'the clients to stop');
  });
  await waitFor('traffic', async () => replies.length >= 20);

  model.restart('killed by the test');
  const ready = await send(`${svc.url}/ready`);
  assert.equal(ready.status, 503, 'readiness flips at once');
  assert.match(ready.json.reasons.join(';'), /model mlp version 1 is restarting: killed by the test/);
  const metrics = (await send(`${svc.metricsUrl}/metrics`)).text;
  assert.match(metrics, /meshserve_model_ready\{model="mlp",version="1"\} 0/);

  const restartMs = await waitFor('ready again', async () => (await send(`${svc.url}/ready`)).status === 200);
  await waitFor('a success after the restart', async () => replies.at(-1)?.status === 200);
  stop = true;
  await Promise.all(clients);
  const tally: Record<string, number> = {};
  for (const r of replies) tally[`${r.status} ${r.code ?? ''}`.trim()] = (tally[`${r.status} ${r.code ?? ''}`.trim()] ?? 0) + 1;
  console.log(`restart: ready again after ${restartMs.toFixed(0)} ms; replies ${JSON.stringify(tally)}`);

  const refused = replies.filter((r) => r.status !== 200);
  assert.ok(refused.length > 0, 'some requests met the unavailable model');
  for (const r of refused) {
    assert.equal(r.status, 503, JSON.stringify(r));
    assert.equal(r.code, 'model_unavailable');
    assert.equal(r.retryAfter, '1');
  }
  const after = (await send(`${svc.metricsUrl}/metrics`)).text;
  assert.match(after, /meshserve_worker_restarts_total\{model="mlp",version="1",reason="requested"\} 1/);
  assert.match(after, /meshserve_model_ready\{model="mlp",version="1"\} 1/);
});

test('a batch past its batch_timeout_ms is answered 503 batch_timeout within the timeout plus a margin; models on other workers keep serving; the model serves again', async (t) => {
  const svc = await startService(
    {
      slow: { config: { batch_timeout_ms: 20, max_batch_size: 2048 }, versions: { 1: SLOW } },
      other: { versions: { 1: mlpModel({ sizes: [8, 8, 2], seed: 2 }) } },
    },
    { env: { INFERENCE_WORKERS: '2' } },
  );
  t.after(() => svc.close());
  assert.notEqual(svc.service.repository.resolve('slow').worker, svc.service.repository.resolve('other').worker, 'the two models live on different workers');
  const started = performance.now();
  const res = await postJson(`${svc.url}/v1/models/slow:predict`, rows(2048, 256));
  const ms = performance.now() - started;
  assert.equal(res.status, 503, res.text.slice(0, 200));
  assert.equal(res.json.code, 'batch_timeout');
  assert.match(res.json.error, /longer than 20 ms/);
  assert.equal(res.headers.get('retry-after'), '1');
  // The body is parsed before the batch starts; the margin holds for that and a loaded 2-core machine.
  assert.ok(ms < 20 + 3000, `answered after ${ms.toFixed(0)} ms`);
  assert.equal((await postJson(`${svc.url}/v1/models/other:predict`, rows(1, 8))).status, 200, 'another model is unaffected');
  await waitFor('the slow model ready again', async () => (await send(`${svc.url}/v2/models/slow/ready`)).status === 200, 30_000);
  assert.equal((await postJson(`${svc.url}/v1/models/slow:predict`, rows(1, 256))).status, 200, 'a small request fits in the timeout');
  assert.match((await send(`${svc.metricsUrl}/metrics`)).text, /meshserve_worker_restarts_total\{model="slow",version="1",reason="batch_timeout"\} 1/);
});

// Exit 1, or SIGABRT when an abandoned worker is still inside onnxruntime at exit (a native call cannot be
// interrupted); either way the exit is non-zero and Kubernetes replaces the pod.
test('a model that keeps failing ends the process with a non-zero exit and a log line naming it', async (t) => {
  build();
  const repo = await makeRepository({ slow: { config: { batch_timeout_ms: 20, max_batch_size: 2048 }, versions: { 1: SLOW } } });
  t.after(() => repo.cleanup());
  const { child, exited } = spawnTracked(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: '0', METRICS_PORT: '0', GRPC_PORT: '0', HOST: '127.0.0.1', MODEL_REPOSITORY: repo.dir, WORKER_MAX_RESTARTS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  }, t.after.bind(t));
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  const port = await waitFor('the port', async () => /"port":\d+/.test(stdout)).then(() => Number(/"port":(\d+)/.exec(stdout)![1]));
  const url = `http://127.0.0.1:${port}`;
  const codes: (string | undefined)[] = [];
  // Each request overruns the timeout; the second failure is past WORKER_MAX_RESTARTS=1.
  const sender = (async () => {
    while (child.exitCode === null && child.signalCode === null) {
      const ready = await send(`${url}/ready`).catch(() => undefined);
      if (ready?.status === 200) codes.push((await postJson(`${url}/predict`, rows(2048, 256)).catch(() => ({ json: { code: 'connection closed' } }))).json?.code);
      else await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const { code, signal } = await withTimeout(exited, 60_000, `the process to end itself (codes so far: ${codes.join(',')})`);
  await withTimeout(sender, 10_000, 'the sender to stop');
  assert.ok(code === 1 || signal === 'SIGABRT', `exit ${code} signal ${signal}`);
  assert.ok(codes.includes('batch_timeout'), codes.join(','));
  const fatal = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.level === 60);
  assert.match(fatal?.reason ?? '', /inference worker 0 \(slow:1\): 2 failures/);
});
