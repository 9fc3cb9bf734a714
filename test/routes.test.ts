import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from './helpers/node-test.ts';
import { postJson, send, startService, type TestService } from './helpers/service.ts';

const IRIS = {
  config: JSON.parse(await readFile(new URL('../models/iris/config.json', import.meta.url), 'utf8')),
  versions: { 1: new Uint8Array(await readFile(new URL('../models/iris/1/model.onnx', import.meta.url))) },
};

let svc: TestService;
before(async () => {
  svc = await startService({
    iris: IRIS,
    add: { config: { version_policy: { all: {} } }, versions: { 1: 'add_one.onnx', 2: 'add_two.onnx' } },
    add_mul: { versions: { 1: 'add_mul.onnx' } },
    fixed: { versions: { 1: 'fixed_add_one.onnx' } },
    classifier: { config: { labels: ['left', 'right', 'neither'] }, versions: { 1: 'classifier.onnx' } },
    words: { versions: { 1: 'identity_string.onnx' } },
  });
});
after(() => svc.close());

const get = async (path: string) => {
  const res = await fetch(svc.url + path);
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
};

describe('health', () => {
  test('/healthz and /ready answer 200 once models are warmed up', async () => {
    assert.deepEqual((await get('/healthz')).json, { status: 'ok' });
    const ready = await get('/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { status: 'ok' });
    assert.deepEqual((await get('/v2/health/live')).json, { status: 'ok' });
    const v2Ready = await get('/v2/health/ready');
    assert.equal(v2Ready.status, 200);
    assert.deepEqual(v2Ready.json, { status: 'ok' });
  });

  test('/ready turns 503 with the reason once a shutdown starts, while /healthz stays 200', async (t) => {
    // Draining cannot be undone, so this runs on a service of its own.
    const own = await startService({ add: { versions: { 1: 'add_one.onnx' } } });
    t.after(() => own.close());
    own.service.lifecycle.moveTo('draining');
    const ready = await fetch(`${own.url}/ready`);
    assert.equal(ready.status, 503);
    assert.deepEqual(((await ready.json()) as any).reasons, ['shutting down']);
    assert.equal(ready.headers.get('connection'), 'close');
    const v2 = await fetch(`${own.url}/v2/health/ready`);
    assert.equal(v2.status, 503);
    assert.deepEqual(((await v2.json()) as any).reasons, ['shutting down']);
    const live = await fetch(`${own.url}/healthz`);
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { status: 'ok' });
  });
});

describe('POST /predict (default model, row format)', () => {
  test('answers the iris species for typical rows', async () => {
    const res = await postJson(`${svc.url}/predict`, { instances: [[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.9, 3.1, 5.4, 2.1]] });
    assert.equal(res.status, 200);
    assert.equal(res.json.model, 'iris');
    assert.equal(res.json.version, '1');
    assert.deepEqual(res.json.predictions.map((p: any) => p.label), ['setosa', 'versicolor', 'virginica']);
    const scores = res.json.predictions[0].scores;
    assert.deepEqual(Object.keys(scores), ['setosa', 'versicolor', 'virginica']);
    assert.ok(Math.abs(scores.setosa + scores.versicolor + scores.virginica - 1) < 1e-5);
  });

  // Caught a planted bug: the scores of two labels swapped (keys, sum and winning label all unchanged).
  test('each label gets its own score: the row scores equal the V2 probabilities in label order', async () => {
    const instances = [[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.9, 3.1, 5.4, 2.1], [5.9, 3.0, 5.1, 1.8]];
    const rows = await postJson(`${svc.url}/predict`, { instances });
    const v2 = await postJson(`${svc.url}/v2/models/iris/infer`, { inputs: [{ name: 'input', shape: [4, 4], datatype: 'FP32', data: instances.flat() }] });
    assert.equal(rows.status, 200, rows.text);
    assert.equal(v2.status, 200, v2.text);
    const labels = IRIS.config.labels as string[];
    const probabilities = v2.json.outputs[0].data as number[];
    rows.json.predictions.forEach((p: { scores: Record<string, number> }, r: number) => {
      assert.deepEqual(p.scores, Object.fromEntries(labels.map((l, i) => [l, probabilities[r * labels.length + i]])), `row ${r}`);
    });
  });

  test('a row of the wrong width is a 400 naming expected and received shapes', async () => {
    const res = await postJson(`${svc.url}/predict`, { instances: [[5.1, 3.5, 1.4]] });
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 'invalid_request');
    assert.match(res.json.error, /instances: expected shape \[n, 4\] for input "input" \(FP32\), got \[1, 3\]/);
  });

  test('a non-number value is a 400 naming its position', async () => {
    const res = await postJson(`${svc.url}/predict`, { instances: [[5.1, 3.5, 'x', 0.2]] });
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 'invalid_request');
    assert.match(res.json.error, /instances\[2\] must be a number \(FP32\), got the string "x"/);
  });

  test('missing or empty instances is a 400', async () => {
    for (const [body, says] of [[{}, /^instances: /], [{ instances: [] }, /at least one instance/]] as const) {
      const res = await postJson(`${svc.url}/predict`, body);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.code, 'invalid_request');
      assert.match(res.json.error, says);
    }
  });

  test('a body that is not JSON is a 400, a non-JSON content type a 415', async () => {
    const bad = await postJson(`${svc.url}/predict`, '{"instances": [');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'invalid_json');
    // V2 gives the same code for the same fault.
    const v2 = await send(`${svc.url}/v2/models/add/infer`, { method: 'POST', body: '{"inputs": [' });
    assert.equal(v2.status, 400);
    assert.equal(v2.json.code, 'invalid_json');
    const res = await fetch(`${svc.url}/predict`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(res.status, 415);
    assert.deepEqual(await res.json(), { error: 'expected content-type application/json, got "text/plain"', code: 'unsupported_media_type' });
  });
});

describe('POST /v1/models/:name:predict', () => {
  test('serves a named model, the highest version by default', async () => {
    const res = await postJson(`${svc.url}/v1/models/add:predict`, { instances: [[1, 2], [3, 4]] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { model: 'add', version: '2', predictions: [[3, 4], [5, 6]] });
  });

  test('serves a named version', async () => {
    const res = await postJson(`${svc.url}/v1/models/add/versions/1:predict`, { instances: [[1, 2]] });
    assert.deepEqual(res.json, { model: 'add', version: '1', predictions: [[2, 3]] });
  });

  test('a model with several inputs takes objects and answers objects keyed by output', async () => {
    const res = await postJson(`${svc.url}/v1/models/add_mul:predict`, { instances: [{ a: [1, 2], b: [3, 4] }] });
    assert.deepEqual(res.json.predictions, [{ sum: [4, 6], product: [3, 8] }]);
    const missing = await postJson(`${svc.url}/v1/models/add_mul:predict`, { instances: [{ a: [1, 2] }] });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.code, 'invalid_request');
    assert.match(missing.json.error, /instances\[0\]: missing input "b"/);
  });

  test('a classifier with labels answers label and scores', async () => {
    const res = await postJson(`${svc.url}/v1/models/classifier:predict`, { instances: [[1, 0], [0, 1], [0, 0]] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.predictions.map((p: any) => p.label), ['left', 'right', 'neither']);
    // classifier.onnx is softmax(input · W + B) with logits [2, 0, 1], [0, 2, 1] and [0, 0, 1] for these rows.
    const softmax = (logits: number[]) => logits.map((z) => Math.exp(z) / logits.reduce((sum, y) => sum + Math.exp(y), 0));
    const expected = [softmax([2, 0, 1]), softmax([0, 2, 1]), softmax([0, 0, 1])];
    res.json.predictions.forEach((p: any, r: number) => {
      assert.deepEqual(Object.keys(p.scores), ['left', 'right', 'neither']);
      ['left', 'right', 'neither'].forEach((label, i) => assert.ok(Math.abs(p.scores[label] - expected[r]![i]!) < 1e-6, `row ${r} ${label}: ${p.scores[label]} != ${expected[r]![i]}`));
    });
  });

  test('a fixed-shape model takes exactly its rows', async () => {
    const ok = await postJson(`${svc.url}/v1/models/fixed:predict`, { instances: [[1, 2], [3, 4]] });
    assert.deepEqual(ok.json.predictions, [[2, 3], [4, 5]]);
    const bad = await postJson(`${svc.url}/v1/models/fixed:predict`, { instances: [[1, 2]] });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'invalid_request');
    assert.match(bad.json.error, /expected shape \[2, 2\].*got \[1, 2\]/);
  });

  test('string models take and return strings', async () => {
    const res = await postJson(`${svc.url}/v1/models/words:predict`, { instances: [['a', 'b', 'c'], ['', 'ünï', '✓']] });
    assert.deepEqual(res.json, { model: 'words', version: '1', predictions: [['a', 'b', 'c'], ['', 'ünï', '✓']] });
  });

  test('unknown models and versions are 404s that list what exists', async () => {
    const res = await postJson(`${svc.url}/v1/models/nope:predict`, { instances: [[1]] });
    assert.equal(res.status, 404);
    assert.equal(res.json.code, 'model_not_found');
    assert.match(res.json.error, /unknown model "nope"; available: add, add_mul, classifier, fixed, iris, words/);
    const version = await postJson(`${svc.url}/v1/models/add/versions/7:predict`, { instances: [[1, 2]] });
    assert.equal(version.status, 404);
    assert.equal(version.json.code, 'version_not_found');
    assert.match(version.json.error, /model "add" has no version 7; available: 1, 2/);
  });
});

describe('V2 / Open Inference Protocol', () => {
  test('GET /v2 gives server metadata with the binary extension', async () => {
    const res = await get('/v2');
    assert.deepEqual(res.json, { name: 'meshserve', version: '0.0.0-test', extensions: ['binary_tensor_data', 'model_repository'] });
  });

  test('model metadata comes from the ONNX model itself', async () => {
    const res = await get('/v2/models/iris');
    assert.deepEqual(res.json, {
      name: 'iris',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
    });
    const v1 = await get('/v2/models/add/versions/1');
    assert.deepEqual(v1.json.versions, ['1', '2']);
    const noVersion = await get('/v2/models/add/versions/3');
    assert.equal(noVersion.status, 404);
    assert.equal(noVersion.json.code, 'version_not_found');
    assert.match(noVersion.json.error, /model "add" has no version 3; available: 1, 2/);
    const missing = await get('/v2/models/missing');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 'model_not_found');
    assert.match(missing.json.error, /unknown model "missing"/);
  });

  test('Triton model config describes batching and dims without the batch dimension', async () => {
    assert.deepEqual((await get('/v2/models/iris/config')).json, {
      name: 'iris',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 32,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [4] }],
      output: [{ name: 'probabilities', data_type: 'TYPE_FP32', dims: [3] }],
    });
    const fixed = (await get('/v2/models/fixed/versions/1/config')).json;
    assert.equal(fixed.max_batch_size, 0);
    assert.deepEqual(fixed.input[0].dims, [2, 2]);
    assert.equal((await get('/v2/models/words/config')).json.input[0].data_type, 'TYPE_STRING');
  });

  test('model ready is 200 for a loaded model and 404 for an unknown one', async () => {
    const iris = await get('/v2/models/iris/ready');
    assert.equal(iris.status, 200);
    assert.deepEqual(iris.json, { name: 'iris', ready: true });
    const add = await get('/v2/models/add/versions/2/ready');
    assert.equal(add.status, 200);
    assert.deepEqual(add.json, { name: 'add', ready: true });
    const unknown = await get('/v2/models/zzz/ready');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 'model_not_found');
    assert.match(unknown.json.error, /unknown model "zzz"/);
  });

  test('infer with JSON tensors, nested or flat, without a content type', async () => {
    const body = JSON.stringify({ id: 'req-1', inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.4, 2.1]] }] });
    const res = await fetch(`${svc.url}/v2/models/iris/infer`, { method: 'POST', body: new TextEncoder().encode(body) });
    assert.equal(res.status, 200);
    const json = (await res.json()) as any;
    assert.equal(json.model_name, 'iris');
    assert.equal(json.model_version, '1');
    assert.equal(json.id, 'req-1');
    assert.equal(json.outputs[0].name, 'probabilities');
    assert.equal(json.outputs[0].datatype, 'FP32');
    assert.deepEqual(json.outputs[0].shape, [2, 3]);
    assert.equal(json.outputs[0].data.length, 6);
    assert.ok(json.outputs[0].data[0] > 0.9 && json.outputs[0].data[5] > 0.9);
  });

  test('infer on a named version and a subset of outputs', async () => {
    const res = await postJson(`${svc.url}/v2/models/add_mul/versions/1/infer`, {
      inputs: [
        { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
        { name: 'b', shape: [1, 2], datatype: 'FP32', data: [3, 4] },
      ],
      outputs: [{ name: 'product' }],
    });
    assert.deepEqual(res.json.outputs, [{ name: 'product', datatype: 'FP32', shape: [1, 2], data: [3, 8] }]);
  });

  const v2Errors: [string, unknown, RegExp][] = [
    ['unknown input name', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, /inputs\[0\]\.name: model "iris" has no input "x"; its inputs are input/],
    ['wrong datatype', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP64', data: [1, 2, 3, 4] }] }, /inputs\[0\]\.datatype: input "input" is FP32, got FP64/],
    ['unknown datatype', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FLOAT', data: [1, 2, 3, 4] }] }, /inputs\[0\]\.datatype: expected one of BOOL/],
    ['shape disagreeing with the model', { inputs: [{ name: 'input', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] }, /expected shape \[n, 4\].*got \[1, 5\]/],
    ['data disagreeing with the shape', { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, /inputs\[0\]\.data has 4 elements but shape \[2,4\] needs 8/],
    ['negative dimension', { inputs: [{ name: 'input', shape: [-1, 4], datatype: 'FP32', data: [] }] }, /inputs\[0\]\.shape\[0\]: expected a non-negative integer/],
    ['missing data', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32' }] }, /inputs\[0\]\.data is missing/],
    ['no inputs', { inputs: [] }, /inputs: expected at least one input/],
    ['an output requested twice', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }], outputs: [{ name: 'probabilities' }, { name: 'probabilities' }] }, /outputs\[1\]\.name: output "probabilities" is requested twice/],
    ['unknown output', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }], outputs: [{ name: 'nope' }] }, /outputs\[0\]\.name: model "iris" has no output "nope"/],
  ];
  for (const [what, body, message] of v2Errors) {
    test(`infer refuses ${what} with a 400 that says what was expected`, async () => {
      const res = await postJson(`${svc.url}/v2/models/iris/infer`, body);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.code, 'invalid_request');
      assert.match(res.json.error, message);
    });
  }

  test('a missing input of a several-input model is named', async () => {
    const res = await postJson(`${svc.url}/v2/models/add_mul/infer`, { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] });
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 'invalid_request');
    assert.match(res.json.error, /inputs: missing "b"/);
  });
});

describe('errors, headers and docs', () => {
  test('unknown routes are JSON 404s', async () => {
    const res = await get('/nowhere');
    assert.equal(res.status, 404);
    assert.equal(res.json.code, 'route_not_found');
    assert.match(res.json.error, /\/nowhere/);
  });

  test('every response carries x-request-id, taken from the request when given', async () => {
    const given = await fetch(`${svc.url}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    assert.equal(given.headers.get('x-request-id'), 'abc-123');
    const made = await fetch(`${svc.url}/nowhere`);
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(made.headers.get('x-powered-by'), null);
  });

  test('GET /openapi.json describes every route, generated from the request schemas', async () => {
    const { json } = await get('/openapi.json');
    assert.equal(json.openapi, '3.1.0');
    for (const path of ['/predict', '/v1/models/{name}:predict', '/v2', '/v2/models/{name}/infer', '/v2/models/{name}/versions/{version}/infer', '/healthz', '/ready']) {
      assert.ok(json.paths[path], `missing ${path}`);
    }
    assert.deepEqual(json.components.schemas.V2InferInput.required.sort(), ['datatype', 'name', 'shape']);
    assert.ok(json.components.schemas.V2InferInput.properties.datatype.enum.includes('BYTES'));
  });

  test('GET /docs serves a page that renders the API description', async () => {
    const res = await fetch(`${svc.url}/docs`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /<script src="\/docs\/swagger-ui-bundle\.js\?v=[\w-]+"><\/script>/);
    const js = await fetch(`${svc.url}/docs/init.js`);
    assert.match(await js.text(), /"url":"\/openapi.json"/);
  });
});
