// MAX_BATCH_SIZE is the largest batch in rows, also for a single request with more rows: it runs as
// several batches of at most that many rows, and its predictions come back whole and in order.
import assert from 'node:assert/strict';
import { test } from './helpers/node-test.ts';
import { postJson, send, startService } from './helpers/service.ts';

test('a request with more rows than max_batch_size runs in batches of at most that size and answers every row in order', async (t) => {
  const svc = await startService({ add: { config: { max_batch_size: 4 }, versions: { 1: 'add_one.onnx' } } });
  t.after(() => svc.close());
  const instances = Array.from({ length: 10 }, (_, i) => [i, 10 * i]);
  const res = await postJson(`${svc.url}/v1/models/add:predict`, { instances });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.predictions, instances.map(([a, b]) => [a! + 1, b! + 1]));
  const v2 = await postJson(`${svc.url}/v2/models/add/infer`, { inputs: [{ name: 'x', shape: [10, 2], datatype: 'FP32', data: instances.flat() }] });
  assert.equal(v2.status, 200, v2.text);
  assert.deepEqual(v2.json.outputs[0].shape, [10, 2]);
  assert.deepEqual(v2.json.outputs[0].data, instances.flat().map((v) => v + 1));
  const metrics = (await send(`${svc.metricsUrl}/metrics`)).text;
  const count = (le: string) => Number(metrics.split('\n').find((l) => l.startsWith(`meshserve_inference_batch_size_bucket{le="${le}",model="add",version="1"} `))?.split(' ')[1]);
  assert.ok(count('+Inf') >= 6, `batches: ${count('+Inf')}`);
  assert.equal(count('4'), count('+Inf'), 'no batch holds more than 4 rows');
  assert.equal((await send(`${svc.url}/v2/models/add/config`)).json.max_batch_size, 4, 'the advertised cap is the one enforced');
});
