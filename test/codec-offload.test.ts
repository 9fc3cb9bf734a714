// Large bodies are decoded, and large responses encoded, in the codec worker: the results and the errors
// are the same as on the main thread, and the main thread stays free while a large body is parsed.
import assert from 'node:assert/strict';
import { after, before, test } from './helpers/node-test.ts';
import { mlpModel } from '../scripts/onnx/index.ts';
import { OFFLOAD_BODY_BYTES } from '../src/codecs/offload.ts';
import { postJson, send, startService, type TestService } from './helpers/service.ts';

const WIDTH = 256;
let svc: TestService;
before(async () => {
  svc = await startService({ mlp: { config: { max_batch_size: 4096 }, versions: { 1: mlpModel({ sizes: [WIDTH, 64, 300], seed: 9 }) } } });
});
after(() => svc.close());

const rows = (n: number) => Array.from({ length: n }, (_, r) => Array.from({ length: WIDTH }, (_, i) => ((r * 31 + i) % 97) / 97));

test('a large row-format body (decoded and encoded in the worker) gets the same predictions as the same rows sent small', async () => {
  const instances = rows(400);
  assert.ok(JSON.stringify({ instances }).length > OFFLOAD_BODY_BYTES, 'the body is large enough to be offloaded');
  const large = await postJson(`${svc.url}/v1/models/mlp:predict`, { instances });
  assert.equal(large.status, 200, large.text.slice(0, 200));
  assert.equal(large.json.predictions.length, 400);
  for (const i of [0, 199, 399]) {
    const small = await postJson(`${svc.url}/v1/models/mlp:predict`, { instances: [instances[i]] });
    assert.deepEqual(large.json.predictions[i], small.json.predictions[0]);
  }
});

test('a large V2 JSON body and its response go through the worker with the same outputs as small ones', async () => {
  const instances = rows(300);
  const large = await postJson(`${svc.url}/v2/models/mlp/infer`, { id: 'big', inputs: [{ name: 'input', shape: [300, WIDTH], datatype: 'FP32', data: instances.flat() }] });
  assert.equal(large.status, 200, large.text.slice(0, 200));
  assert.equal(large.json.id, 'big');
  assert.deepEqual(large.json.outputs[0].shape, [300, 300]);
  const small = await postJson(`${svc.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', shape: [1, WIDTH], datatype: 'FP32', data: instances[299] }] });
  assert.deepEqual(large.json.outputs[0].data.slice(299 * 300), small.json.outputs[0].data);
});

test('errors found in the worker are the same 400s with the same codes and messages', async () => {
  const bad = rows(400);
  bad[123]![7] = 'x' as unknown as number;
  const res = await postJson(`${svc.url}/v1/models/mlp:predict`, { instances: bad });
  assert.equal(res.status, 400);
  assert.equal(res.json.code, 'invalid_request');
  assert.match(res.json.error, /instances\[31495\] must be a number \(FP32\), got the string "x"/);
  const broken = await send(`${svc.url}/v1/models/mlp:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"instances": [${'1,'.repeat(OFFLOAD_BODY_BYTES)}` });
  assert.equal(broken.status, 400);
  assert.equal(broken.json.code, 'invalid_json');
  const text = (await send(`${svc.metricsUrl}/metrics`)).text;
  assert.match(text, /meshserve_inference_requests_total\{model="mlp",version="1",outcome="invalid"\} 2/);
});

test('while a large body is parsed in the worker, /healthz answers', async () => {
  const body = JSON.stringify({ instances: rows(2000) });
  const inference = postJson(`${svc.url}/v1/models/mlp:predict`, body);
  let probes = 0;
  let done = false;
  void inference.then(() => (done = true));
  while (!done) {
    assert.equal((await send(`${svc.url}/healthz`)).status, 200);
    probes++;
  }
  assert.equal((await inference).status, 200);
  assert.ok(probes >= 1);
});

test('a labelled classifier answers label and scores the same way from the worker', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const iris = await startService({
    iris: {
      config: JSON.parse(await readFile(new URL('../models/iris/config.json', import.meta.url), 'utf8')),
      versions: { 1: new Uint8Array(await readFile(new URL('../models/iris/1/model.onnx', import.meta.url))) },
    },
  });
  t.after(() => iris.close());
  const flower = [5.1, 3.5, 1.4, 0.2];
  const instances = Array.from({ length: 20_000 }, () => flower);
  assert.ok(JSON.stringify({ instances }).length > OFFLOAD_BODY_BYTES);
  const large = await postJson(`${iris.url}/predict`, { instances });
  assert.equal(large.status, 200, large.text.slice(0, 200));
  const small = await postJson(`${iris.url}/predict`, { instances: [flower] });
  assert.equal(small.json.predictions[0].label, 'setosa');
  assert.deepEqual(large.json.predictions[19_999], small.json.predictions[0]);
});
