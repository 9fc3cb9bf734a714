// Shared by the hostile-input suites: one service with small limits, a table runner and the checks every
// rejected request must pass (a 4xx JSON body with `error` and `code`, nothing internal leaked).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from '../helpers/node-test.ts';
import { send, startService, type Reply, type TestService } from '../helpers/service.ts';

export { send, type Reply };

/** Small enough that a test can exceed it cheaply. */
export const BODY_LIMIT = 256 * 1024;

export const MODELS = {
  vec: { config: { version_policy: { all: {} } }, versions: { 1: 'identity_float32.onnx', 2: 'identity_float32.onnx' } },
  ints: { versions: { 1: 'identity_int64.onnx' } },
  u8: { versions: { 1: 'identity_uint8.onnx' } },
  flags: { versions: { 1: 'identity_bool.onnx' } },
  words: { versions: { 1: 'identity_string.onnx' } },
  add_mul: { versions: { 1: 'add_mul.onnx' } },
  fixed: { versions: { 1: 'fixed_add_one.onnx' } },
};

/** Starts the service once for the file (vec is the default model) and closes it after. */
export function useService(): () => TestService {
  let svc: TestService | undefined;
  before(async () => {
    svc = await startService(MODELS, { env: { BODY_LIMIT: String(BODY_LIMIT), DEFAULT_MODEL: 'vec' } });
  });
  after(() => svc?.close());
  return () => svc!;
}

const LEAKS = [/\n\s+at /, /\bat [\w.<>]+ \(/, /file:\/\//, /\/(work|home|tmp|usr|app|src|dist|node_modules)\//, /\.(ts|js):\d+/];

/** A rejection a client can act on: the status, a JSON body with error and code, no stack or file path. */
export function assertRejected(reply: Reply, status: number, code?: string | RegExp): void {
  const where = `${reply.status} ${reply.text.slice(0, 300)}`;
  assert.equal(reply.status, status, where);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/, where);
  assert.equal(typeof reply.json?.error, 'string', where);
  assert.ok(reply.json.error.length > 0 && reply.json.error.length < 2000, `error message of ${reply.json.error.length} chars`);
  assert.equal(typeof reply.json?.code, 'string', where);
  if (code !== undefined) {
    if (typeof code === 'string') assert.equal(reply.json.code, code, where);
    else assert.match(reply.json.code, code, where);
  }
  for (const leak of LEAKS) assert.doesNotMatch(reply.text, leak, `response leaks internals: ${where}`);
}

/** The service still answers a good request on every route family after a hostile one. */
export async function assertStillServes(url: string): Promise<void> {
  const rows = await send(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"instances":[[1,2,3]]}' });
  assert.equal(rows.status, 200, rows.text);
  assert.deepEqual(rows.json.predictions, [[1, 2, 3]]);
  const v2 = await send(`${url}/v2/models/vec/infer`, {
    method: 'POST',
    body: JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [4, 5, 6] }] }),
  });
  assert.equal(v2.status, 200, v2.text);
  assert.deepEqual(v2.json.outputs[0].data, [4, 5, 6]);
}

export interface Case {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  status: number;
  code: string;
  /** Part of the error message, to prove it names the problem. */
  says?: RegExp;
}

/** One test per case: the rejection is clean and a good request succeeds right after it. Returns the count. */
export function runCases(svc: () => TestService, cases: Case[]): number {
  for (const c of cases) {
    test(`${c.status} ${c.code} for ${c.name}`, async () => {
      const { url } = svc();
      const reply = await send(url + c.path, { method: c.method ?? 'POST', headers: c.headers, body: c.body as BodyInit | undefined });
      assertRejected(reply, c.status, c.code);
      if (c.says) assert.match(reply.json.error, c.says);
      await assertStillServes(url);
    });
  }
  return cases.length;
}

/** Writes raw bytes on a fresh TCP connection and collects what comes back until the server closes it or timeoutMs passes. */
export function rawExchange(url: string, payload: string | Buffer, options: { halfClose?: boolean; timeoutMs?: number } = {}): Promise<{ text: string; closed: boolean; error?: string }> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false, error });
    }, options.timeoutMs ?? 3000);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true, error });
    });
    socket.write(payload);
    if (options.halfClose) socket.end();
  });
}

/** Splits a raw HTTP/1.1 response into status, lower-cased headers and body. */
export function parseRaw(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0), headers, body: end === -1 ? '' : text.slice(end + 4) };
}

/** `levels` nested arrays around one number, as JSON text (built as text: JSON.stringify would recurse). */
export const deepArray = (levels: number) => '['.repeat(levels) + '1' + ']'.repeat(levels);
/** `levels` nested objects, as JSON text. */
export const deepObject = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
