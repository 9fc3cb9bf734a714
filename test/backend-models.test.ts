// Many models in one pod: the ONNX project's backend test models (Debian's libonnx-testdata), 173 of every
// element type, served at once by the built service; every output equals what onnxruntime computes
// in-process for the model's own test inputs, and stdout and stderr carry only JSON lines from start to
// shutdown. Needs the package (`.ci/run` installs it); skips with a message without it.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND_MODEL_COUNT, binaryRequest, compareBinaryResponse, expectedOutputs, selectBackendModels, TESTDATA, testdataPresent, writeRepository } from '../scripts/backend-models.ts';
import { test } from './helpers/node-test.ts';
import { build, MAIN, ROOT, spawnTracked, waitFor, withTimeout } from './helpers/process.ts';
import { send } from './helpers/service.ts';

test(`${BACKEND_MODEL_COUNT} backend test models served at once: every output equals onnxruntime in-process, only JSON lines on stdout and stderr`, async (t) => {
  if (!testdataPresent) {
    t.skip(`${TESTDATA} is missing (apt-get install libonnx-testdata)`);
    return;
  }
  build();
  const models = await selectBackendModels(BACKEND_MODEL_COUNT);
  assert.equal(models.length, BACKEND_MODEL_COUNT);
  assert.ok(models.some((m) => m.name === 'simple_test_sequence_model8'), 'sequence_model8 (rejects zero inputs) is among them');
  const dir = await mkdtemp(join(tmpdir(), 'meshserve-backend-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeRepository(dir, models);

  const { child, exited } = spawnTracked(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: '0', METRICS_PORT: '0', HOST: '127.0.0.1', MODEL_REPOSITORY: dir, SHUTDOWN_DELAY_MS: '0', INFERENCE_WORKERS: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  }, t.after.bind(t));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  await waitFor('the port', async () => /"port":\d+/.test(stdout));
  const url = `http://127.0.0.1:${/"port":(\d+)/.exec(stdout)![1]}`;
  await waitFor('ready', async () => (await send(`${url}/ready`).catch(() => undefined))?.status === 200, 120_000);

  const wrong: string[] = [];
  for (const model of models) {
    const expected = await expectedOutputs(model);
    const { body, headerLength } = binaryRequest(model, Object.keys(expected));
    const res = await fetch(`${url}/v2/models/${model.name}/infer`, { method: 'POST', body: new Uint8Array(body), headers: { 'inference-header-content-length': String(headerLength) } });
    const reply = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) {
      wrong.push(`${model.name}: ${res.status} ${reply.toString('utf8').slice(0, 200)}`);
      continue;
    }
    const problems = compareBinaryResponse(reply, Number(res.headers.get('inference-header-content-length')), expected);
    if (problems.length) wrong.push(`${model.name}: ${problems.join('; ')}`);
  }
  assert.deepEqual(wrong, [], `${wrong.length} of ${models.length} models answered differently`);

  child.kill('SIGTERM');
  assert.equal((await withTimeout(exited, 30_000, 'the service to stop')).code, 0);
  const lines = (stdout + stderr).split('\n').filter((l) => l.trim());
  const notJson = lines.filter((l) => {
    try {
      return typeof JSON.parse(l) !== 'object';
    } catch {
      return true;
    }
  });
  assert.deepEqual(notJson.slice(0, 5), [], `${notJson.length} lines of output are not JSON`);
  assert.match(stdout, /"msg":"shutdown complete"/);
  const warmups = lines.map((l) => JSON.parse(l)).filter((l) => /automatic warm-up/.test(l.msg));
  assert.ok(warmups.some((l) => l.model === 'simple_test_sequence_model8'), 'sequence_model8 rejected the zeros and still served');
});
