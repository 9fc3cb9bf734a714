// Live model management (MODEL_CONTROL_MODE): the poller picks up new versions safely (warm before traffic,
// the old one retires after its requests, a corrupt or half-written version never replaces what serves), and
// the repository API loads and unloads in explicit mode.
import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from './helpers/node-test.ts';
import { waitFor } from './helpers/process.ts';
import { fixturePath } from './helpers/repository.ts';
import { postJson, send, startService, type TestService } from './helpers/service.ts';

const ROW = { instances: [[1, 2]] };
const ADD_ONE = await readFile(fixturePath('add_one.onnx'));
const ADD_TWO = await readFile(fixturePath('add_two.onnx'));

/** Drops a complete version into the repository the way a copy tool should: staged under a dot name, then renamed. */
async function dropVersion(svc: TestService, name: string, version: number, bytes: Uint8Array): Promise<void> {
  const staging = join(svc.dir, name, `.${version}.tmp`);
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, 'model.onnx'), bytes);
  await rename(staging, join(svc.dir, name, String(version)));
}

/** Clients sending requests to `path` until stopped; every reply is kept. */
function load(url: string, path: string, clients = 4) {
  const replies: { status: number; version?: string; code?: string }[] = [];
  let stop = false;
  const running = Array.from({ length: clients }, async () => {
    while (!stop) {
      const res = await postJson(`${url}${path}`, ROW);
      replies.push({ status: res.status, version: res.json?.version, code: res.json?.code });
    }
  });
  return { replies, stop: async () => ((stop = true), await Promise.all(running)) };
}

const metric = async (svc: TestService, pattern: RegExp) => pattern.test((await send(`${svc.metricsUrl}/metrics`)).text);

test('poll: a new version dropped in under load is served once warm, with no failed request; the old one is unloaded after', async (t) => {
  const svc = await startService({ m: { versions: { 1: 'add_one.onnx' } } }, { env: { MODEL_CONTROL_MODE: 'poll', MODEL_POLL_SECONDS: '1' } });
  t.after(() => svc.close());
  const traffic = load(svc.url, '/v1/models/m:predict');
  t.after(() => traffic.stop());
  await waitFor('traffic', async () => traffic.replies.length > 20);
  await dropVersion(svc, 'm', 2, ADD_TWO);
  await waitFor('version 2 answering', async () => traffic.replies.at(-1)?.version === '2', 20_000);
  await waitFor('version 1 unloaded', async () => (await postJson(`${svc.url}/v1/models/m/versions/1:predict`, ROW)).status === 404, 20_000);
  await traffic.stop();
  const failed = traffic.replies.filter((r) => r.status !== 200);
  assert.deepEqual(failed, [], `${failed.length} of ${traffic.replies.length} requests failed during the swap`);
  assert.ok(traffic.replies.some((r) => r.version === '1') && traffic.replies.some((r) => r.version === '2'));
  assert.equal((await send(`${svc.url}/ready`)).status, 200);
  assert.ok(await metric(svc, /meshserve_model_loads_total\{model="m",version="2"\} 1/));
  assert.ok(await metric(svc, /meshserve_model_unloads_total\{model="m",version="1"\} 1/));
  assert.ok(!(await metric(svc, /meshserve_model_ready\{model="m",version="1"\}/)), 'the unloaded version has no readiness series');
  const transitions = svc.logs.filter((l) => l.model === 'm').map((l) => l.msg);
  for (const msg of ['loading model version', 'model version loaded; serving it', 'model version unloaded; requests in flight on it finish']) assert.ok(transitions.includes(msg), msg);
});

test('poll: a corrupt new version is reported and the old one keeps serving; the poller goes on and loads the next good one', async (t) => {
  const svc = await startService({ m: { versions: { 1: 'add_one.onnx' } } }, { env: { MODEL_CONTROL_MODE: 'poll', MODEL_POLL_SECONDS: '1' } });
  t.after(() => svc.close());
  await dropVersion(svc, 'm', 2, new TextEncoder().encode('this is not an ONNX model'));
  await waitFor('the failed load counted', () => metric(svc, /meshserve_model_load_failures_total\{model="m",version="2"\} 1/), 20_000);
  const res = await postJson(`${svc.url}/v1/models/m:predict`, ROW);
  assert.equal(res.status, 200);
  assert.equal(res.json.version, '1', 'the old version still serves');
  assert.equal((await send(`${svc.url}/ready`)).status, 200, 'a failed load does not fail readiness');
  const index = (await postJson(`${svc.url}/v2/repository/index`, {})).json as { name: string; version?: string; state?: string; reason: string }[];
  const v2 = index.find((e) => e.name === 'm' && e.version === '2');
  assert.equal(v2?.state, 'UNAVAILABLE');
  assert.match(v2!.reason, /cannot be served/);
  assert.ok(svc.logs.some((l) => l.level === 50 && l.msg === 'model version failed to load; what served before keeps serving'));
  // Not tried again with the same files, but the poller keeps going: version 3 arrives and serves.
  await dropVersion(svc, 'm', 3, ADD_TWO);
  await waitFor('version 3 answering', async () => (await postJson(`${svc.url}/v1/models/m:predict`, ROW)).json?.version === '3', 20_000);
  assert.ok(await metric(svc, /meshserve_model_load_failures_total\{model="m",version="2"\} 1/), 'the corrupt version was tried once');
});

test('poll: a model file still being written is not loaded; once complete it is', async (t) => {
  const svc = await startService({ m: { versions: { 1: 'add_one.onnx' } } }, { env: { MODEL_CONTROL_MODE: 'poll', MODEL_POLL_SECONDS: '1' } });
  t.after(() => svc.close());
  const file = join(svc.dir, 'm', '2', 'model.onnx');
  await mkdir(join(svc.dir, 'm', '2'));
  // A slow copy straight into place: a few bytes every 300 ms, for about 4 poll periods.
  const step = Math.ceil(ADD_TWO.length / 14);
  for (let at = 0; at < ADD_TWO.length; at += step) {
    await appendFile(file, ADD_TWO.subarray(at, at + step));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await postJson(`${svc.url}/v1/models/m:predict`, ROW)).json?.version, '1');
  }
  await waitFor('version 2 answering', async () => (await postJson(`${svc.url}/v1/models/m:predict`, ROW)).json?.version === '2', 20_000);
  assert.ok(!(await metric(svc, /meshserve_model_load_failures_total\{model="m"/)), 'no load of a partial file was tried');
});

test('explicit: load and unload through the repository API; requests in flight on an unloaded model finish, later ones get 404', async (t) => {
  const svc = await startService(
    { m: { versions: { 1: 'add_one.onnx' } }, other: { versions: { 1: 'add_two.onnx' } } },
    { env: { MODEL_CONTROL_MODE: 'explicit', BATCH_DELAY_MS: '400' } },
  );
  t.after(() => svc.close());
  const inFlight = postJson(`${svc.url}/v1/models/m:predict`, ROW);
  await new Promise((r) => setTimeout(r, 100));
  const unloaded = await postJson(`${svc.url}/v2/repository/models/m/unload`, {});
  assert.equal(unloaded.status, 200, unloaded.text);
  assert.deepEqual(unloaded.json, { name: 'm', state: 'UNAVAILABLE', versions: [] });
  assert.equal((await inFlight).status, 200, 'the request queued before the unload finished');
  const after = await postJson(`${svc.url}/v1/models/m:predict`, ROW);
  assert.equal(after.status, 404);
  assert.equal(after.json.code, 'model_not_found');
  assert.equal((await send(`${svc.url}/ready`)).status, 200, 'an unloaded model does not hold readiness');
  const index = (await postJson(`${svc.url}/v2/repository/index`, {})).json;
  assert.deepEqual(index.find((e: { name: string }) => e.name === 'm'), { name: 'm', reason: 'not loaded' });
  assert.deepEqual((await postJson(`${svc.url}/v2/repository/index`, { ready: true })).json, [{ name: 'other', version: '1', state: 'READY', reason: '' }]);

  const loaded = await postJson(`${svc.url}/v2/repository/models/m/load`, {});
  assert.equal(loaded.status, 200, loaded.text);
  assert.deepEqual(loaded.json, { name: 'm', state: 'READY', versions: ['1'] });
  assert.equal((await postJson(`${svc.url}/v1/models/m:predict`, ROW)).status, 200);

  // Errors: unknown model, a version that fails to load (the old one keeps serving), bad bodies.
  const unknown = await postJson(`${svc.url}/v2/repository/models/nope/load`, {});
  assert.deepEqual([unknown.status, unknown.json.code], [404, 'model_not_found']);
  assert.deepEqual([(await postJson(`${svc.url}/v2/repository/models/nope/unload`, {})).status], [404]);
  await writeFile(join(svc.dir, 'm', '1', 'model.onnx'), 'corrupt');
  const failed = await postJson(`${svc.url}/v2/repository/models/m/load`, {});
  assert.equal(failed.status, 422, failed.text);
  assert.equal(failed.json.code, 'model_load_failed');
  assert.match(failed.json.error, /model "m" version 1 failed to load: .*the versions that served before still serve/);
  assert.equal((await postJson(`${svc.url}/v1/models/m:predict`, ROW)).status, 200, 'the loaded instance still serves');
  const bad = await postJson(`${svc.url}/v2/repository/models/m/load`, { parameters: { config: '{}' } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /models are loaded from the model repository only/);
  const notJson = await send(`${svc.url}/v2/repository/index`, { method: 'POST', body: '{' });
  assert.deepEqual([notJson.status, notJson.json.code], [400, 'invalid_json']);
  await writeFile(join(svc.dir, 'm', '1', 'model.onnx'), ADD_ONE);
});

test('none mode: load and unload answer 409 model_control_disabled; the index answers; REPOSITORY_API=off removes the routes', async (t) => {
  const svc = await startService({ m: { versions: { 1: 'add_one.onnx' } } });
  t.after(() => svc.close());
  for (const action of ['load', 'unload']) {
    const res = await postJson(`${svc.url}/v2/repository/models/m/${action}`, {});
    assert.equal(res.status, 409);
    assert.equal(res.json.code, 'model_control_disabled');
    assert.match(res.json.error, /MODEL_CONTROL_MODE=none.*set MODEL_CONTROL_MODE=explicit/);
  }
  assert.deepEqual((await postJson(`${svc.url}/v2/repository/index`, {})).json, [{ name: 'm', version: '1', state: 'READY', reason: '' }]);
  const off = await startService({ m: { versions: { 1: 'add_one.onnx' } } }, { env: { REPOSITORY_API: 'off' } });
  t.after(() => off.close());
  assert.equal((await postJson(`${off.url}/v2/repository/index`, {})).status, 404);
});

test('version policies at start: latest 1 by default, all, specific', async (t) => {
  const svc = await startService({
    latest: { versions: { 1: 'add_one.onnx', 2: 'add_two.onnx' } },
    every: { config: { version_policy: { all: {} } }, versions: { 1: 'add_one.onnx', 2: 'add_two.onnx' } },
    pinned: { config: { version_policy: { specific: { versions: [1] } } }, versions: { 1: 'add_one.onnx', 2: 'add_two.onnx' } },
  });
  t.after(() => svc.close());
  const { repository } = svc.service;
  assert.deepEqual([repository.versions('latest'), repository.versions('every'), repository.versions('pinned')], [[2], [1, 2], [1]]);
});

test('a version loaded while serving takes its memory from the request budget; when one request at BODY_LIMIT would no longer fit, the load waits (409 model_memory_exhausted)', async (t) => {
  // 1 GiB limit, 800 MB resident: about 20 MB left for requests, just above one 1 MB V2 JSON request.
  const svc = await startService(
    { m: { versions: { 1: 'add_one.onnx' } }, n: { versions: { 1: 'add_two.onnx' } } },
    { env: { MODEL_CONTROL_MODE: 'explicit', MEMORY_LIMIT: '1Gi', BODY_LIMIT: '1mb' }, rss: () => 800 * 2 ** 20 },
  );
  t.after(() => svc.close());
  assert.equal((await postJson(`${svc.url}/v2/repository/models/n/unload`, {})).status, 200);
  const res = await postJson(`${svc.url}/v2/repository/models/n/load`, {});
  assert.equal(res.status, 409, res.text);
  assert.equal(res.json.code, 'model_memory_exhausted');
  assert.match(res.json.error, /needs about \d+ MiB .* MiB are free under MEMORY_LIMIT/);
});

test('unloading a version loaded at start gives its memory to requests: the budget grows by its file size, once', async (t) => {
  // As above, but unloading `n` (loaded at start, so counted in the resident memory the budget was sized from)
  // frees enough room for a version loaded while serving.
  const svc = await startService(
    { m: { versions: { 1: 'add_one.onnx' } }, n: { versions: { 1: 'add_two.onnx' } } },
    { env: { MODEL_CONTROL_MODE: 'explicit', MEMORY_LIMIT: '1Gi', BODY_LIMIT: '1mb' }, rss: () => 800 * 2 ** 20 },
  );
  t.after(() => svc.close());
  const budget = async () => Number(/^meshserve_memory_budget_bytes (\d+)$/m.exec((await send(`${svc.metricsUrl}/metrics`)).text)?.[1]);
  const before = await budget();
  assert.equal((await postJson(`${svc.url}/v2/repository/models/n/unload`, {})).status, 200);
  assert.equal(await budget(), before + ADD_TWO.length, 'n gave back its file size');
  assert.equal((await postJson(`${svc.url}/v2/repository/models/m/unload`, {})).status, 200);
  assert.equal(await budget(), before + ADD_TWO.length + ADD_ONE.length);
  // Unloading twice gives nothing more.
  await postJson(`${svc.url}/v2/repository/models/m/unload`, {});
  assert.equal(await budget(), before + ADD_TWO.length + ADD_ONE.length);
});
