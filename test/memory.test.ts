// Memory-bounded admission: the service knows its limit (MEMORY_LIMIT or the cgroup's), charges each
// inference request an estimate before reading its body, refuses past the budget with a fast 503, gives
// the charge back when the response is done or the client leaves, and refuses a configuration in which
// one request at BODY_LIMIT could never fit.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from './helpers/node-test.ts';
import { MemoryBudget, requestCost } from '../src/inference/memory-budget.ts';
import { cgroupMemoryLimit, parseQuantity } from '../src/memory.ts';
import { MEMORY_RESERVE, MEMORY_TARGET } from '../src/service.ts';
import { postJson, send, startService } from './helpers/service.ts';

describe('the memory limit', () => {
  test('Kubernetes quantities and plain bytes are read; anything else is not a quantity', () => {
    assert.equal(parseQuantity('1Gi'), 2 ** 30);
    assert.equal(parseQuantity('512Mi'), 512 * 2 ** 20);
    assert.equal(parseQuantity('1G'), 1e9);
    assert.equal(parseQuantity('1073741824'), 2 ** 30);
    assert.equal(parseQuantity('1.5Gi'), 1.5 * 2 ** 30);
    for (const bad of ['', 'lots', '1gb', '-1Gi', '0', '1 Gi x']) assert.equal(parseQuantity(bad), undefined, bad);
  });

  test("the cgroup's limit: v2 memory.max, then v1 memory.limit_in_bytes; none when unlimited or absent", () => {
    const files = (map: Record<string, string>) => (file: string) => {
      if (!(file in map)) throw new Error('ENOENT');
      return map[file]!;
    };
    assert.equal(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': '1073741824\n' })), 2 ** 30);
    assert.equal(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' })), undefined);
    assert.equal(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '536870912\n' })), 2 ** 29);
    assert.equal(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n' })), undefined);
    assert.equal(cgroupMemoryLimit(files({})), undefined);
  });

  test('MEMORY_LIMIT that is not a quantity is a configuration error naming it', async () => {
    const { parseConfig } = await import('../src/config.ts');
    assert.throws(() => parseConfig({ MEMORY_LIMIT: 'a lot' }), /MEMORY_LIMIT="a lot": expected bytes or a Kubernetes quantity/);
    assert.equal(parseConfig({ MEMORY_LIMIT: '1Gi' }).MEMORY_LIMIT, 2 ** 30);
  });
});

describe('the budget', () => {
  test('charges fit until the budget is spent; a release makes room again, once', () => {
    const seen: number[] = [];
    const budget = new MemoryBudget(100, (used) => seen.push(used));
    const a = budget.charge(60);
    assert.throws(() => budget.charge(50), (e: any) => e.status === 503 && e.code === 'memory_exhausted' && e.headers['retry-after'] === '1');
    const b = budget.charge(40);
    a.release();
    a.release();
    assert.equal(budget.used, 40);
    b.release();
    assert.deepEqual(seen, [60, 100, 40, 0]);
  });

  test('a request is estimated from its format and body size', () => {
    assert.ok(requestCost('rows', 2 ** 20) > requestCost('v2-binary', 2 ** 20));
    assert.ok(requestCost('v2-binary', 0) > 0, 'even an empty body costs something');
  });
});

const ADD = { add: { versions: { 1: 'add_one.onnx' } } };
const BODY = 2 ** 20;
const RSS = 100 * 2 ** 20;
/** A MEMORY_LIMIT whose budget holds one 1 MiB V2 JSON request and a half, with RSS pinned to RSS. */
const limitFor = (requests: number) => String(Math.ceil((requests * requestCost('v2-json', BODY) + RSS + MEMORY_RESERVE) / MEMORY_TARGET));

/** Starts a V2 JSON request that declares a 1 MiB body and sends only its first bytes; resolves once it is admitted. */
function hold(url: string): { request: http.ClientRequest; reply: Promise<number> } {
  const request = http.request(`${url}/v2/models/add/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': BODY } });
  const reply = new Promise<number>((resolve) => {
    request.on('response', (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    request.on('error', () => resolve(0));
  });
  request.write('{"inputs": [');
  return { request, reply };
}

describe('admission by memory over HTTP', () => {
  test('past the budget a request is refused at once with 503 memory_exhausted, before its body is read; the charge comes back when the client leaves', async (t) => {
    const svc = await startService(ADD, { env: { MEMORY_LIMIT: limitFor(1.5), BODY_LIMIT: String(BODY) }, rss: () => RSS });
    t.after(() => svc.close());
    const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await send(`${svc.metricsUrl}/metrics`)).text)?.[1]);
    assert.ok((await metric('meshserve_memory_budget_bytes')) > 0);

    const first = hold(svc.url);
    // Wait until the first request is charged.
    for (let i = 0; i < 200 && (await metric('meshserve_memory_in_flight_bytes')) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await metric('meshserve_memory_in_flight_bytes'), requestCost('v2-json', BODY));

    // A second one does not fit: refused without its body being read (it declares 1 MiB and sends none of it).
    const refused = await new Promise<{ status: number; body: string; retryAfter?: string }>((resolve, reject) => {
      const req = http.request(`${svc.url}/v2/models/add/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': BODY } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, retryAfter: res.headers['retry-after'] }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(refused.status, 503);
    assert.equal(JSON.parse(refused.body).code, 'memory_exhausted');
    assert.match(JSON.parse(refused.body).error, /MEMORY_LIMIT/);
    assert.equal(refused.retryAfter, '1');
    // A small request still fits beside the first.
    const small = await postJson(`${svc.url}/v2/models/add/infer`, { inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] });
    assert.equal(small.status, 200, small.text);

    first.request.destroy();
    for (let i = 0; i < 200 && (await metric('meshserve_memory_in_flight_bytes')) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await metric('meshserve_memory_in_flight_bytes'), 0, 'the charge is given back when the client leaves');
    const again = await postJson(`${svc.url}/v2/models/add/infer`, { inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] });
    assert.equal(again.status, 200);
    const text = (await send(`${svc.metricsUrl}/metrics`)).text;
    assert.match(text, /meshserve_inference_requests_total\{model="add",version="1",outcome="rejected"\} 1/);
  });

  test('a MEMORY_LIMIT too small for one request at BODY_LIMIT is refused at start, naming both variables', async () => {
    await assert.rejects(startService(ADD, { env: { MEMORY_LIMIT: limitFor(0.5), BODY_LIMIT: String(BODY) }, rss: () => RSS }), /MEMORY_LIMIT=.*BODY_LIMIT.*raise MEMORY_LIMIT or lower BODY_LIMIT/);
  });
});
