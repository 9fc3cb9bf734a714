import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from './helpers/node-test.ts';
import { testConfig } from './helpers/config.ts';
import { AppError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { createMetrics } from '../src/metrics.ts';
import { ModelRepository, RepositoryError } from '../src/models/repository.ts';
import { makeRepository, type RepositoryModel } from './helpers/repository.ts';

const quiet = createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false }, new Writable({ write: (_c, _e, cb) => cb() }));

/** Loads a repository built from the layout; returns it (and cleans the folder up at the end of the test). */
async function load(t: { after(fn: () => Promise<void>): void }, layout: Record<string, RepositoryModel>, env: Record<string, string> = {}) {
  const dir = await makeRepository(layout);
  const repository = new ModelRepository({ config: testConfig({ MODEL_REPOSITORY: dir.dir, ...env }), metrics: createMetrics({ defaultMetrics: false }), logger: quiet });
  t.after(async () => {
    await repository.close();
    await dir.cleanup();
  });
  await repository.load();
  return { repository, dir: dir.dir };
}

async function loadFails(t: { after(fn: () => Promise<void>): void }, layout: Record<string, RepositoryModel>, message: RegExp, env: Record<string, string> = {}) {
  await assert.rejects(load(t, layout, env), (e: Error) => e instanceof RepositoryError && message.test(e.message));
}

test('several models with several versions load; the highest version is served unless one is named', async (t) => {
  const { repository } = await load(t, {
    add: { config: { version_policy: { all: {} } }, versions: { 1: 'add_one.onnx', 2: 'add_two.onnx' } },
    words: { versions: { 3: 'identity_string.onnx' } },
  });
  assert.deepEqual(repository.names(), ['add', 'words']);
  assert.deepEqual(repository.versions('add'), [1, 2]);
  assert.equal(repository.resolve('add').version, 2);
  assert.equal(repository.resolve('add', '1').version, 1);
  assert.equal(repository.resolve('words').version, 3);
  assert.deepEqual(repository.notReadyReasons(), []);
});

test('signatures come from the model: names, element types, dynamic and fixed dims', async (t) => {
  const { repository } = await load(t, { m: { versions: { 1: 'add_mul.onnx' } }, f: { versions: { 1: 'fixed_add_one.onnx' } } });
  const m = repository.resolve('m');
  assert.deepEqual(m.inputs, [
    { name: 'a', type: 'float32', shape: [-1, 2] },
    { name: 'b', type: 'float32', shape: [-1, 2] },
  ]);
  assert.deepEqual(m.outputs.map((o) => o.name), ['sum', 'product']);
  assert.equal(m.batchable, true);
  const f = repository.resolve('f');
  assert.deepEqual(f.inputs[0]!.shape, [2, 2]);
  assert.equal(f.batchable, false);
  assert.equal(f.maxBatchSize, 1);
});

test('every served element type loads', async (t) => {
  const types = ['float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string'];
  const layout = Object.fromEntries(types.map((type) => [type, { versions: { 1: `identity_${type}.onnx` } }]));
  const { repository } = await load(t, layout);
  for (const type of types) assert.equal(repository.resolve(type).inputs[0]!.type, type);
});

test('the default model: DEFAULT_MODEL, else "default": true in config.json, else the only model', async (t) => {
  const two = { a: { versions: { 1: 'add_one.onnx' } }, b: { config: { default: true }, versions: { 1: 'add_two.onnx' } } };
  assert.equal((await load(t, two)).repository.defaultModelName, 'b');
  assert.equal((await load(t, two, { DEFAULT_MODEL: 'a' })).repository.defaultModelName, 'a');
  assert.equal((await load(t, { only: { versions: { 1: 'add_one.onnx' } } })).repository.defaultModelName, 'only');
  const none = await load(t, { a: { versions: { 1: 'add_one.onnx' } }, c: { versions: { 1: 'add_two.onnx' } } });
  assert.throws(() => none.repository.resolve(undefined), (e: AppError) => e.status === 404 && /no default model/.test(e.message));
  await loadFails(t, two, /DEFAULT_MODEL=zzz names no model/, { DEFAULT_MODEL: 'zzz' });
});

test('config.json sets labels and batching per model; a bad config names the file and the field', async (t) => {
  const { repository } = await load(t, { c: { config: { labels: ['x', 'y', 'z'], max_batch_size: 7, batch_delay_ms: 0 }, versions: { 1: 'classifier.onnx' } } });
  assert.equal(repository.resolve('c').maxBatchSize, 7);
  await loadFails(t, { c: { config: { max_batch_size: 'big' }, versions: { 1: 'classifier.onnx' } } }, /c\/config\.json: max_batch_size: .*accepted keys/);
  await loadFails(t, { c: { config: { labelz: [] }, versions: { 1: 'classifier.onnx' } } }, /c\/config\.json: .*labelz/);
  await loadFails(t, { c: { config: { labels: ['one', 'two'] }, versions: { 1: 'classifier.onnx' } } }, /lists 2 labels but the model's output is probabilities \[-1,3\]/);
});

test('a missing model file stops loading with a message naming the file', async (t) => {
  const dir = await makeRepository({ a: { versions: { 1: 'add_one.onnx' } } });
  t.after(() => dir.cleanup());
  const { mkdir } = await import('node:fs/promises');
  await mkdir(`${dir.dir}/a/2`);
  const repository = new ModelRepository({ config: testConfig({ MODEL_REPOSITORY: dir.dir }), metrics: createMetrics({ defaultMetrics: false }), logger: quiet });
  t.after(() => repository.close());
  await assert.rejects(repository.load(), (e: Error) => /model a version 2: file .*\/a\/2\/model\.onnx is missing/.test(e.message));
  assert.equal(repository.state, 'failed');
});

test('an empty, truncated or non-ONNX model file stops loading with a message naming the file', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const good = await readFile(new URL('./fixtures/models/add_one.onnx', import.meta.url));
  await loadFails(t, { a: { versions: { 1: new Uint8Array() } } }, /model a version 1: file .*\/a\/1\/model\.onnx is empty/);
  await loadFails(t, { a: { versions: { 1: new Uint8Array(good.subarray(0, good.length >> 1)) } } }, /model a version 1: .*\/a\/1\/model\.onnx cannot be served: /);
  await loadFails(t, { a: { versions: { 1: new TextEncoder().encode('this is not a model') } } }, /\/a\/1\/model\.onnx cannot be served/);
});

test('a model directory without versions, or an empty repository, is refused', async (t) => {
  await loadFails(t, { a: { versions: {} } }, /model a: .* has no version directory/);
  await loadFails(t, {}, /holds no model directories/);
  await assert.rejects(
    new ModelRepository({ config: testConfig({ MODEL_REPOSITORY: '/nonexistent/models' }), metrics: createMetrics({ defaultMetrics: false }), logger: quiet }).load(),
    /model repository \/nonexistent\/models cannot be read: ENOENT/,
  );
});

test('model names in requests are matched against what was loaded, never used as paths', async (t) => {
  const { repository } = await load(t, { add: { versions: { 1: 'add_one.onnx' } } });
  for (const name of ['../add', 'add/../add', '/etc/passwd', 'ADD', 'x'.repeat(5000)]) {
    assert.throws(() => repository.resolve(name), (e: AppError) => e.status === 404 && e.code === 'model_not_found' && e.message.length < 300);
  }
  for (const version of ['0', '-1', '1.0', '../1', '01']) {
    assert.throws(() => repository.resolve('add', version), (e: AppError) => e.status === 404 && e.code === 'version_not_found');
  }
});

test('before loading finishes the repository reports not ready and inference is refused with 503', async (t) => {
  const dir = await makeRepository({ add: { versions: { 1: 'add_one.onnx' } } });
  t.after(() => dir.cleanup());
  const metrics = createMetrics({ defaultMetrics: false });
  const repository = new ModelRepository({ config: testConfig({ MODEL_REPOSITORY: dir.dir }), metrics, logger: quiet });
  t.after(() => repository.close());
  assert.deepEqual(repository.notReadyReasons(), ['models are loading']);
  assert.throws(() => repository.resolve('add'), (e: AppError) => e.status === 503 && e.code === 'not_ready');
  await repository.load();
  assert.deepEqual(repository.notReadyReasons(), []);
  const ready = await metrics.modelReady.get();
  assert.deepEqual(ready.values.map((v) => [v.labels, v.value]), [[{ model: 'add', version: '1' }, 1]]);
  const loadTime = (await metrics.modelLoadDuration.get()).values[0]!.value;
  assert.ok(loadTime > 0 && loadTime < 30);
});
