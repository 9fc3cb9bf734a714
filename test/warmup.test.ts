// Warm-up that fits the model (config.json "warmup"): zeros are not valid input for every model, so the
// automatic warm-up only warns when a model rejects them; sample inputs must run or the model does not load;
// "none" skips warm-up.
import assert from 'node:assert/strict';
import { ModelBuilder } from '../scripts/onnx/index.ts';
import { test } from './helpers/node-test.ts';
import { postJson, send, startService } from './helpers/service.ts';

// y = Concat(b, a) where [a, b] = Split(x, sizes) along the columns: like the ONNX backend test model
// sequence_model8, it rejects an all-zero input ("sizes" must sum to the width, 4).
const SPLIT = new ModelBuilder()
  .input('x', 'float32', [-1, 4])
  .input('sizes', 'int64', [2])
  .output('y', 'float32', [-1, 4])
  .node('Split', ['x', 'sizes'], ['a', 'b'], { axis: { kind: 'int', value: 1 } })
  .node('Concat', ['b', 'a'], ['y'], { axis: { kind: 'int', value: 1 } })
  .build();

const request = (sizes: number[]) => ({
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] },
    { name: 'sizes', datatype: 'INT64', shape: [2], data: sizes },
  ],
});

test('a model that rejects zero inputs still loads and serves with the automatic warm-up; the failure is logged and counted', async (t) => {
  const svc = await startService({ split: { versions: { 1: SPLIT } } });
  t.after(() => svc.close());
  assert.equal((await send(`${svc.url}/ready`)).status, 200);
  const res = await postJson(`${svc.url}/v2/models/split/infer`, request([1, 3]));
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.outputs[0].data, [2, 3, 4, 1]);
  const warning = svc.logs.find((l) => l.level === 40 && /automatic warm-up/.test(String(l.msg)));
  assert.ok(warning, 'a warning names the failed warm-up');
  assert.equal(warning.model, 'split');
  assert.match(String(warning.reason), /split|Split/);
  assert.match((await send(`${svc.metricsUrl}/metrics`)).text, /meshserve_model_warmup_failures_total\{model="split",version="1"\} 1/);
});

test('warm-up samples that run: the model loads; "none": no warm-up at all', async (t) => {
  const svc = await startService({
    sampled: { config: { warmup: { samples: 'warmup.json' } }, files: { 'warmup.json': JSON.stringify([request([2, 2]), request([1, 3])]) }, versions: { 1: SPLIT } },
    unwarmed: { config: { warmup: 'none' }, versions: { 1: SPLIT } },
  });
  t.after(() => svc.close());
  assert.equal((await send(`${svc.url}/ready`)).status, 200);
  const metrics = (await send(`${svc.metricsUrl}/metrics`)).text;
  assert.match(metrics, /meshserve_model_warmup_failures_total\{model="sampled",version="1"\} 0/);
  assert.match(metrics, /meshserve_model_warmup_failures_total\{model="unwarmed",version="1"\} 0/);
  for (const name of ['sampled', 'unwarmed']) assert.equal((await postJson(`${svc.url}/v2/models/${name}/infer`, request([3, 1]))).status, 200);
});

test('warm-up samples that fail, do not fit the model or are missing: the model does not load, with a message naming the sample and the reason', async () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['a sample the model rejects', { 'warmup.json': JSON.stringify(request([0, 0])) }, /model bad version 1: .*warm-up sample 1 of 1 failed: .*(split|Split)/],
    ['a sample that does not fit', { 'warmup.json': JSON.stringify({ inputs: [{ name: 'z', datatype: 'FP32', shape: [1], data: [1] }] }) }, /model bad: warm-up sample 1 in .*warmup\.json does not fit the model: .*"z"/],
    ['not JSON', { 'warmup.json': '{"inputs": [' }, /model bad: warm-up samples .*warmup\.json is not valid JSON/],
    ['a missing file', {}, /model bad: warm-up samples .*warmup\.json \(config\.json warmup\.samples\) cannot be read: ENOENT/],
  ];
  for (const [what, files, message] of cases) {
    await assert.rejects(startService({ bad: { config: { warmup: { samples: 'warmup.json' } }, files, versions: { 1: SPLIT } } }), message, what);
  }
});

test('config.json warmup accepts "auto", "none" or {"samples": "<file>.json"} in the model directory, nothing else', async () => {
  for (const warmup of ['zeros', { samples: '../warmup.json' }, { samples: 'warmup.txt' }, { file: 'warmup.json' }]) {
    await assert.rejects(startService({ bad: { config: { warmup }, versions: { 1: SPLIT } } }), /config\.json: warmup/, JSON.stringify(warmup));
  }
});
