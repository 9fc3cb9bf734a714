// The route table is the one source of the router, the OpenAPI document and the metric labels:
// every route in it is answered, documented and labelled by its template, and nothing else is documented.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from './helpers/node-test.ts';
import { routeLabel } from '../src/http/router.ts';
import { send, startService, type TestService } from './helpers/service.ts';

const IRIS = {
  config: JSON.parse(await readFile(new URL('../models/iris/config.json', import.meta.url), 'utf8')),
  versions: { 1: new Uint8Array(await readFile(new URL('../models/iris/1/model.onnx', import.meta.url))) },
};
const PARAMS: Record<string, string> = { name: 'iris', version: '1', file: 'init.js' };
const ROW = JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] });
const V2 = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });

let svc: TestService;
before(async () => {
  // Explicit mode, so the repository API's load and unload answer 2xx too (on a spare model, so iris stays).
  svc = await startService({ iris: IRIS, spare: { versions: { 1: 'add_one.onnx' } } }, { env: { MODEL_CONTROL_MODE: 'explicit' } });
});
after(() => svc.close());

const fill = (path: string) => path.replace(/\{(\w+)\}/g, (_, name: string) => (path.startsWith('/v2/repository/') && name === 'name' ? 'spare' : PARAMS[name]!));

test('the OpenAPI document holds exactly the routes of the table', async () => {
  const doc = (await send(`${svc.url}/openapi.json`)).json as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  const table = svc.service.routes.map((r) => `${r.method} ${r.path}`);
  assert.deepEqual(documented.sort(), [...table].sort());
  assert.ok(table.includes('POST /v1/models/{name}/versions/{version}:predict'));
});

test('every route in the table is answered (a request with sample parameters gets a 2xx)', async () => {
  for (const route of svc.service.routes) {
    const url = `${svc.url}${fill(route.path)}`;
    const body = route.method === 'GET' ? undefined : route.path.endsWith('/infer') ? V2 : route.path.startsWith('/v2/repository/') ? '{}' : ROW;
    const res = await send(url, { method: route.method, body, headers: body ? { 'content-type': 'application/json' } : {} });
    assert.ok(res.status >= 200 && res.status < 300, `${route.method} ${route.path}: ${res.status} ${res.text.slice(0, 200)}`);
  }
});

test('HTTP metrics label each route by its template, never by the URL', async () => {
  const text = (await send(`${svc.metricsUrl}/metrics`)).text;
  for (const route of svc.service.routes) {
    const label = `meshserve_http_requests_total{method="${route.method}",route="${routeLabel(route.path)}",code="200"}`;
    assert.ok(text.includes(label), `no series ${label}`);
  }
  assert.ok(!/route="\/v2\/models\/iris/.test(text));
});
