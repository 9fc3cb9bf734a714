// HTTP hardening: headers, timeouts, no file serving, body limit before parsing, and requests that are
// broken at the protocol level.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from '../helpers/node-test.ts';
import { createHttpServer, listen } from '../../src/http/server.ts';
import { MAX_HEADERS } from '../../src/http/router.ts';
import { assertRejected, assertStillServes, BODY_LIMIT, parseRaw, rawExchange, send, useService } from './helpers.ts';
import { collectGarbage } from '../helpers/gc.ts';

const svc = useService();
const LINKERD_INBOUND_IDLE_MS = 3000;

describe('response headers', () => {
  const SECURITY = {
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
  };
  for (const [what, init, path] of [
    ['a prediction', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"instances":[[1,2,3]]}' }, '/predict'],
    ['a rejected request', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }, '/predict'],
    ['an unknown route', {}, '/nowhere'],
    ['a health probe', {}, '/healthz'],
    ['model metadata', {}, '/v2/models/vec'],
  ] as const) {
    test(`${what} carries security headers and no x-powered-by`, async () => {
      const reply = await send(svc().url + path, init as RequestInit);
      assert.equal(reply.headers.get('x-powered-by'), null);
      for (const [name, value] of Object.entries(SECURITY)) assert.equal(reply.headers.get(name), value, name);
      assert.match(reply.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.ok(reply.headers.get('x-request-id'));
    });
  }

  test('a hostile x-request-id is replaced, a sane one is echoed', async () => {
    const long = await send(`${svc().url}/healthz`, { headers: { 'x-request-id': 'x'.repeat(1000) } });
    assert.notEqual(long.headers.get('x-request-id'), 'x'.repeat(1000));
    assert.ok(long.headers.get('x-request-id')!.length <= 128);
    const odd = await send(`${svc().url}/healthz`, { headers: { 'x-request-id': '<script>alert(1)</script>' } });
    assert.doesNotMatch(odd.headers.get('x-request-id')!, /[<>]/);
    const sane = await send(`${svc().url}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    assert.equal(sane.headers.get('x-request-id'), 'abc-123');
  });
});

describe('server timeouts', () => {
  test('keep-alive, header and request timeouts are set above the Linkerd proxy idle timeout', () => {
    const server = svc().service.server;
    assert.ok(server.keepAliveTimeout > LINKERD_INBOUND_IDLE_MS, `keepAliveTimeout ${server.keepAliveTimeout}`);
    assert.ok(server.headersTimeout > server.keepAliveTimeout, `headersTimeout ${server.headersTimeout} must exceed keepAliveTimeout`);
    assert.ok(server.requestTimeout > LINKERD_INBOUND_IDLE_MS && Number.isFinite(server.requestTimeout), `requestTimeout ${server.requestTimeout}`);
    assert.ok(server.requestTimeout >= server.headersTimeout, 'a request may take at least as long as its headers');
    assert.ok((server.maxHeadersCount ?? 0) > 0 && (server.maxHeadersCount ?? 0) <= 1000, `maxHeadersCount ${server.maxHeadersCount}`);
  });

  test('responses advertise the keep-alive timeout to clients', async () => {
    const { text } = await rawExchange(svc().url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 500 });
    const { headers } = parseRaw(text);
    assert.equal(headers['keep-alive'], `timeout=${svc().service.server.keepAliveTimeout / 1000}`);
  });
});

describe('no file is ever served', () => {
  // Sent raw so that no client normalises the dot segments away.
  for (const path of [
    '/models/vec/1/model.onnx',
    '/v2/models/../../models/vec/1/model.onnx',
    '/../../../etc/passwd',
    '/v2/models/vec/../../../package.json',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/docs/../package.json',
    '/docs/app.js/../../src/main.ts',
    '/openapi.json/..%2f..%2fpackage.json',
  ]) {
    test(`GET ${path} answers a JSON 404, not a file`, async () => {
      const { text } = await rawExchange(svc().url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const res = parseRaw(text);
      assert.equal(res.status, 404, text.slice(0, 200));
      assert.match(res.headers['content-type'] ?? '', /^application\/json/);
      const body = JSON.parse(res.body);
      assert.equal(typeof body.error, 'string');
      assert.equal(typeof body.code, 'string');
      assert.doesNotMatch(res.body, /root:|"dependencies"|ONNX|createTerminus/);
    });
  }
});

/** Sends `bytes` of body in 64 KiB chunks under a Content-Length and returns the status and the server's heap growth. */
function upload(url: string, path: string, bytes: number, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method: 'POST', headers: { ...headers, 'content-length': String(bytes) } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

describe('the body limit is enforced before the body is buffered or parsed', () => {
  for (const [path, headers] of [
    ['/predict', { 'content-type': 'application/json' }],
    ['/v2/models/vec/infer', {}],
  ] as const) {
    test(`${path}: 128 MB declared and sent answers 413 without holding it in memory`, async () => {
      collectGarbage();
      const before = process.memoryUsage();
      const res = await upload(svc().url, path, 128 * 2 ** 20, headers);
      const after = process.memoryUsage();
      assert.equal(res.status, 413, res.body);
      assert.equal(JSON.parse(res.body).code, 'body_too_large');
      const grew = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / 2 ** 20;
      // Buffering would hold all 128 MB at once; discarded chunks only show up as garbage not yet collected.
      assert.ok(grew < 64, `heap and buffers grew ${grew.toFixed(0)} MB for a 128 MB body (limit ${BODY_LIMIT} bytes)`);
      await assertStillServes(svc().url);
    });
  }
});

describe('requests broken at the protocol level', () => {
  const PROTOCOL_CASES: [string, string, number, string][] = [
    ['a body shorter than its Content-Length, then the client half-closes', 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"instances":[[1,', 400, 'bad_request'],
    ['a V2 body shorter than its Content-Length', 'POST /v2/models/vec/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"inputs":[', 400, 'bad_request'],
    ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400, 'bad_request'],
    ['both Content-Length and Transfer-Encoding (smuggling)', 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'bad_request'],
    ['a malformed chunk size', 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n', 400, 'bad_request'],
    ['a URL of 20000 characters', `GET /v2/models/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'headers_too_large'],
    ['a header of 20000 characters', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
  ];
  for (const [what, payload, status, code] of PROTOCOL_CASES) {
    test(`${what}: ${status}, the connection closes, the service goes on`, async () => {
      const { text, closed } = await rawExchange(svc().url, payload, { halfClose: true });
      assert.equal(parseRaw(text).status, status, text.slice(0, 200));
      assert.ok(closed, 'the server closes the connection');
      await assertStillServes(svc().url);
    });
    test(`${what}: the ${status} has a JSON error and the code ${code}`, async () => {
      const { text } = await rawExchange(svc().url, payload, { halfClose: true });
      const res = parseRaw(text);
      assertRejected({ status: res.status, headers: new Headers(res.headers), text: res.body, json: JSON.parse(res.body || 'null') }, status, code);
    });
  }

  test('a client that disconnects mid-body leaves the service serving', async () => {
    await rawExchange(svc().url, 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"instances":', { timeoutMs: 200 });
    await assertStillServes(svc().url);
  });

  test('methods the API does not have answer JSON 404s', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      assertRejected(await send(`${svc().url}/predict`, { method }), 404, 'route_not_found');
      assertRejected(await send(`${svc().url}/v2/models/vec/infer`, { method }), 404, 'route_not_found');
    }
    assertRejected(await send(`${svc().url}/v2/models/vec/infer`), 404, 'route_not_found');
  });
});

describe('header count and stalled requests', () => {
  const withHeaders = (count: number) => {
    // Host plus count - 1 others: count headers in all.
    const extra = Array.from({ length: count - 1 }, (_, i) => `X-Extra-${i}: ${i}\r\n`).join('');
    return `GET /healthz HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`;
  };

  test(`exactly ${MAX_HEADERS} headers are served`, async () => {
    // withHeaders(n) adds Connection: close, so n - 1 here makes MAX_HEADERS in all.
    const { text } = await rawExchange(svc().url, withHeaders(MAX_HEADERS - 1));
    assert.equal(parseRaw(text).status, 200, text.slice(0, 200));
  });

  test(`more than ${MAX_HEADERS} headers answer 431 headers_too_large, never a request missing some`, async () => {
    const { text } = await rawExchange(svc().url, withHeaders(MAX_HEADERS + 5));
    const res = parseRaw(text);
    assertRejected({ status: res.status, headers: new Headers(res.headers), text: res.body, json: JSON.parse(res.body || 'null') }, 431, 'headers_too_large');
    // A content-type past the hundredth header used to be dropped silently (a 415 for a good request).
    const filler = Array.from({ length: MAX_HEADERS }, (_, i) => `X-Extra-${i}: ${i}\r\n`).join('');
    const body = '{"instances":[[1,2,3]]}';
    const late = await rawExchange(
      svc().url,
      `POST /predict HTTP/1.1\r\nHost: x\r\n${filler}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.equal(parseRaw(late.text).status, 431, late.text.slice(0, 200));
    await assertStillServes(svc().url);
  });

  // Node checks for timed-out connections every connectionsCheckingInterval (30 s by default), so a 2 s timeout
  // used to be answered after up to 30 s. The bounds below are generous but far below that.
  const stalled = async (payload: string): Promise<{ status: number; code: string; seconds: number }> => {
    const server = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('{}'));
    }, 10_000, { headersTimeoutMs: 2000, requestTimeoutMs: 3000 });
    const port = await listen(server, 0, '127.0.0.1');
    try {
      const started = performance.now();
      const { text } = await rawExchange(`http://127.0.0.1:${port}`, payload, { timeoutMs: 25_000 });
      const res = parseRaw(text);
      return { status: res.status, code: JSON.parse(res.body || '{}').code, seconds: (performance.now() - started) / 1000 };
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  };

  test('stalled headers are answered 408 request_timeout soon after the header timeout', async () => {
    const r = await stalled('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    assert.equal(r.status, 408);
    assert.equal(r.code, 'request_timeout');
    assert.ok(r.seconds >= 1.5 && r.seconds < 12, `answered after ${r.seconds.toFixed(1)} s for a 2 s header timeout`);
  });

  test('a stalled body is answered 408 request_timeout soon after the request timeout', async () => {
    const r = await stalled('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"instances":');
    assert.equal(r.status, 408);
    assert.equal(r.code, 'request_timeout');
    assert.ok(r.seconds >= 2.5 && r.seconds < 12, `answered after ${r.seconds.toFixed(1)} s for a 3 s request timeout`);
  });
});
