// How the inference routes read request bodies: content encodings, chunked bodies, the size limit, and the
// URL forms they accept. (Malformed bodies are covered by test/hostile.)
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from './helpers/node-test.ts';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { AppError } from '../src/errors.ts';
import { readBody } from '../src/http/body.ts';
import { send, startService, type TestService } from './helpers/service.ts';

const LIMIT = 64 * 1024;
let svc: TestService;
before(async () => {
  svc = await startService({ vec: { versions: { 1: 'identity_float32.onnx' } } }, { env: { BODY_LIMIT: String(LIMIT), DEFAULT_MODEL: 'vec' } });
});
after(() => svc.close());

const ROW = JSON.stringify({ instances: [[1, 2, 3]] });
const V2 = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });

/** Sends a raw HTTP/1.1 request with node:http, so the body can be chunked (no content-length). */
function chunked(path: string, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, svc.url);
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('content encodings', () => {
  for (const [encoding, compress] of [
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const) {
    test(`a ${encoding} body is decoded on the row route and on V2`, async () => {
      const rows = await send(`${svc.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body: compress(ROW) });
      assert.equal(rows.status, 200, rows.text);
      assert.deepEqual(rows.json.predictions, [[1, 2, 3]]);
      const v2 = await send(`${svc.url}/v2/models/vec/infer`, { method: 'POST', headers: { 'content-encoding': encoding }, body: compress(V2) });
      assert.equal(v2.status, 200, v2.text);
      assert.deepEqual(v2.json.outputs[0].data, [1, 2, 3]);
    });
  }

  test('the limit applies to the decoded size: a small gzip of a large body is refused with 413', async () => {
    const big = JSON.stringify({ instances: [[1, 2, 3]], pad: 'a'.repeat(LIMIT) });
    const res = await send(`${svc.url}/v2/models/vec/infer`, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: gzipSync(big) });
    assert.equal(res.status, 413);
    assert.equal(res.json.code, 'body_too_large');
    assert.match(res.json.error, new RegExp(`limit of ${LIMIT} bytes`));
  });
});

describe('chunked bodies and the size limit', () => {
  test('a chunked body (no content-length) is read whole', async () => {
    const text = Buffer.from(V2);
    const res = await chunked('/v2/models/vec/infer', {}, [text.subarray(0, 10), text.subarray(10, 50), text.subarray(50)]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.outputs[0].data, [1, 2, 3]);
  });

  test('a chunked body that grows past the limit is refused with 413, and the service keeps answering', async () => {
    const piece = Buffer.alloc(16 * 1024, 0x20);
    const res = await chunked('/predict', { 'content-type': 'application/json' }, Array.from({ length: 6 }, () => piece));
    assert.equal(res.status, 413);
    assert.equal(res.json.code, 'body_too_large');
    assert.equal((await send(`${svc.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ROW })).status, 200);
  });

  test('a declared content-length over the limit is refused with 413', async () => {
    const res = await send(`${svc.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ' '.repeat(LIMIT + 1) });
    assert.equal(res.status, 413);
    assert.equal(res.json.code, 'body_too_large');
  });
});

describe('URL forms of the inference routes', () => {
  const post = (path: string) => send(`${svc.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: path.startsWith('/v2') ? V2 : ROW });

  test('a query string and a trailing slash are accepted', async () => {
    for (const path of ['/predict?trace=1', '/predict/', '/v1/models/vec:predict?x=y', '/v1/models/vec/versions/1:predict/', '/v2/models/vec/infer?x', '/v2/models/vec/versions/1/infer/']) {
      const res = await post(path);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
    }
  });

  test('percent-encoded model names are decoded; malformed encoding is a 400', async () => {
    assert.equal((await post('/v2/models/v%65c/infer')).status, 200);
    const bad = await post('/v2/models/%E0%A4%A/infer');
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /percent-encoding/);
  });

  test('other methods on an inference path get the JSON 404 that names the API description', async () => {
    const res = await send(`${svc.url}/predict`);
    assert.equal(res.status, 404);
    assert.equal(res.json.code, 'route_not_found');
    assert.match(res.json.error, /openapi\.json/);
  });

  test('inference replies carry the request id and the API security headers', async () => {
    const res = await send(`${svc.url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'abc-123' }, body: ROW });
    assert.equal(res.headers.get('x-request-id'), 'abc-123');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  });
});

describe('readBody', () => {
  test('a client that leaves in the middle of a gzip body ends the read with request_aborted instead of leaving it pending', async (t) => {
    let settled!: (outcome: unknown) => void;
    const outcome = new Promise((resolve) => (settled = resolve));
    const server = http.createServer((req) => {
      readBody(req, 1_000_000).then(() => settled('resolved'), settled);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const body = gzipSync(JSON.stringify({ pad: 'x'.repeat(100_000) }));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    socket.write(`POST /x HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, 20));
    setTimeout(() => socket.destroy(), 100);
    const result = await Promise.race([outcome, new Promise((resolve) => setTimeout(() => resolve('still pending after 5 s'), 5000).unref())]);
    assert.ok(result instanceof AppError, String(result));
    assert.equal(result.code, 'request_aborted');
  });
});

describe('a refusal before the body is read', () => {
  test('a Connection: close client still uploading gets the whole answer and a clean close, never a reset', async () => {
    // A body within the limit for a model that does not exist: refused (404) before a byte of the body is read.
    const body = Buffer.alloc(4 * 1024 * 1024, 0x20);
    const outcome = await new Promise<{ status: number; error?: string; json: any }>((resolve) => {
      const socket = net.connect(Number(new URL(svc.url).port), '127.0.0.1');
      let text = '';
      let error: string | undefined;
      socket.setEncoding('utf8');
      socket.on('data', (c) => (text += c));
      socket.on('error', (err) => (error = (err as NodeJS.ErrnoException).code ?? err.message));
      socket.on('close', () => {
        const [head, payload] = text.split('\r\n\r\n');
        resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1]), error, json: payload ? JSON.parse(payload) : undefined });
      });
      socket.write(`POST /v1/models/nope:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`);
      // The body goes out slowly, in pieces, after the answer has come back.
      let at = 0;
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        socket.write(body.subarray(at, (at += 256 * 1024)));
        if (at >= body.length) {
          clearInterval(timer);
          socket.end();
        }
      }, 20);
    });
    assert.equal(outcome.error, undefined, 'no EPIPE or ECONNRESET');
    assert.equal(outcome.status, 404);
    assert.equal(outcome.json.code, 'model_not_found');
  });
});
