import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from './helpers/node-test.ts';
import { fileURLToPath } from 'node:url';
import { checksFor, runCheck, runMonitor, type MonitorOptions } from '../src/monitor/monitor.ts';
import { startService } from './helpers/service.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Stub {
  url: string;
  /** Status code per path; paths not listed answer 404. */
  statuses: Record<string, number>;
  /** JSON bodies POSTed to the server. */
  posts: unknown[];
  close(): Promise<void>;
}

/** A loopback server answering like meshserve's API, metrics and a chat webhook, as configured. */
async function startStub(statuses: Record<string, number>): Promise<Stub> {
  const posts: unknown[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method === 'POST') posts.push({ contentType: req.headers['content-type'], json: JSON.parse(body) });
      const status = stub.statuses[req.url ?? ''];
      if (status === 0) return; // never answer
      res.writeHead(status ?? 404, { 'content-type': 'text/plain' }).end(req.url === '/metrics' ? '# TYPE up gauge\n' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const stub: Stub = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    statuses,
    posts,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
  return stub;
}

/** A port nothing listens on: bind, note the port, close. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function capture() {
  const lines: string[] = [];
  return { lines, out: { write: (s: string) => lines.push(...s.split('\n').filter(Boolean)) } };
}

/** A clock that moves 5 ms every time it is read, so each check takes exactly 5 ms. */
function steppingClock() {
  let t = 0;
  return () => (t += 5);
}

function options(api: string, metrics: string, extra: Partial<MonitorOptions> = {}): MonitorOptions {
  return { api: new URL(api), metrics: new URL(metrics), rounds: 1, intervalMs: 0, timeoutMs: 2000, ...extra };
}

function runCli(args: string[], command: 'node' | 'npm' | 'dist' = 'node'): Promise<{ code: number; stdout: string; stderr: string }> {
  const [file, argv] =
    command === 'npm'
      ? ['npm', ['run', '--silent', 'monitor', '--', ...args]]
      : command === 'dist'
        ? [process.execPath, ['dist/monitor/cli.js', ...args]]
        : [process.execPath, ['--import', 'tsx', 'src/monitor/cli.ts', ...args]];
  return new Promise((resolve) => {
    execFile(file, argv, { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number) : 0;
      resolve({ code: typeof code === 'number' ? code : -1, stdout, stderr });
    });
  });
}

describe('monitor library', () => {
  let stub: Stub;
  before(async () => {
    stub = await startStub({ '/healthz': 200, '/ready': 200, '/metrics': 200 });
  });
  after(() => stub.close());

  test('prints one line per check with status and milliseconds, then the summary', async () => {
    const { lines, out } = capture();
    const summary = await runMonitor(options(stub.url, stub.url), { out, now: steppingClock() });
    assert.deepEqual(lines, [
      'PASS  healthz  200  5 ms',
      'PASS  ready    200  5 ms',
      'PASS  metrics  200  5 ms',
      '3/3 passed, avg 5 ms',
    ]);
    assert.deepEqual(summary, { passed: 3, total: 3, avgMs: 5, ok: true });
  });

  test('runs the given rounds, sleeping the interval between them and numbering the lines', async () => {
    const { lines, out } = capture();
    const sleeps: number[] = [];
    const summary = await runMonitor(options(stub.url, stub.url, { rounds: 3, intervalMs: 1500 }), {
      out,
      now: steppingClock(),
      sleep: async (ms) => void sleeps.push(ms),
    });
    assert.deepEqual(sleeps, [1500, 1500]);
    assert.equal(lines.filter((l) => l.startsWith('[2/3] PASS')).length, 3);
    assert.equal(lines.at(-1), '9/9 passed, avg 5 ms');
    assert.equal(summary.ok, true);
  });

  test('a 503 fails the check and posts one ALERT per outage to the webhook, not one per round', async () => {
    const api = await startStub({ '/healthz': 200, '/ready': 503 });
    const hook = await startStub({ '/hook': 204 });
    try {
      const { lines, out } = capture();
      const summary = await runMonitor(
        options(api.url, stub.url, { rounds: 3, webhook: new URL(`${hook.url}/hook`) }),
        { out, now: steppingClock(), sleep: async () => {} },
      );
      assert.deepEqual(hook.posts, [{ contentType: 'application/json', json: { text: 'ALERT: ready DOWN' } }]);
      assert.ok(lines.includes('[1/3] FAIL  ready    503  5 ms'), lines.join('\n'));
      assert.equal(lines.at(-1), '6/9 passed, avg 5 ms');
      assert.equal(summary.ok, false);
    } finally {
      await api.close();
      await hook.close();
    }
  });

  test('a check that recovers and goes down again alerts again', async () => {
    const api = await startStub({ '/healthz': 500, '/ready': 200 });
    const hook = await startStub({ '/hook': 200 });
    try {
      const sleeps = [() => (api.statuses['/healthz'] = 200), () => (api.statuses['/healthz'] = 500)];
      await runMonitor(options(api.url, stub.url, { rounds: 3, webhook: new URL(`${hook.url}/hook`) }), {
        out: capture().out,
        sleep: async () => void sleeps.shift()?.(),
      });
      assert.deepEqual(
        hook.posts.map((p: any) => p.json.text),
        ['ALERT: healthz DOWN', 'ALERT: healthz DOWN'],
      );
    } finally {
      await api.close();
      await hook.close();
    }
  });

  test('an unreachable webhook is reported on its own line and does not stop the checks', async () => {
    const port = await closedPort();
    const { lines, out } = capture();
    const summary = await runMonitor(
      options(`http://127.0.0.1:${port}`, stub.url, { webhook: new URL(`http://127.0.0.1:${port}/hook`) }),
      { out },
    );
    assert.ok(lines.includes(`webhook  could not post ALERT: healthz DOWN: connection refused (127.0.0.1:${port})`), lines.join('\n'));
    assert.equal(summary.total, 3);
  });

  test('a closed port is reported as "connection refused (host:port)"', async () => {
    const port = await closedPort();
    const r = await runCheck('healthz', new URL(`http://127.0.0.1:${port}/healthz`), 2000);
    assert.equal(r.ok, false);
    assert.equal(r.detail, `connection refused (127.0.0.1:${port})`);
  });

  test('a server that never answers is reported as a timeout', async () => {
    const api = await startStub({ '/ready': 0 });
    try {
      const r = await runCheck('ready', new URL(`${api.url}/ready`), 200);
      assert.equal(r.detail, 'timed out after 200 ms');
      assert.ok(r.ms >= 150, `took ${r.ms} ms`);
    } finally {
      await api.close();
    }
  });

  test('keeps a path prefix of the base URLs', () => {
    const urls = checksFor({ api: new URL('http://gw.example/meshserve'), metrics: new URL('http://10.0.0.1:9090/') });
    assert.deepEqual(
      urls.map((c) => `${c.name} ${c.url}`),
      ['healthz http://gw.example/meshserve/healthz', 'ready http://gw.example/meshserve/ready', 'metrics http://10.0.0.1:9090/metrics'],
    );
  });

  test('passes against the real service once its models are loaded', async () => {
    const svc = await startService({ add_one: { versions: { 1: 'add_one.onnx' } } });
    try {
      const { lines, out } = capture();
      const summary = await runMonitor(options(svc.url, svc.metricsUrl), { out });
      assert.equal(summary.ok, true, lines.join('\n'));
      assert.equal(lines.at(-1)?.startsWith('3/3 passed, avg '), true);
    } finally {
      await svc.close();
    }
  });
});

describe('monitor CLI', () => {
  let stub: Stub;
  before(async () => {
    stub = await startStub({ '/healthz': 200, '/ready': 200, '/metrics': 200, '/hook': 200 });
  });
  after(() => stub.close());

  test('exits 0 when every check passes', async () => {
    const r = await runCli(['--api', stub.url, '--metrics', stub.url, '--rounds', '2', '--interval', '0']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^\[1\/2\] PASS {2}healthz {2}200 {2}\d+ ms$/m);
    assert.match(r.stdout, /^6\/6 passed, avg \d+ ms$/m);
  });

  test('exits 1 against a dead port with a one-line reason and no stack trace, and alerts the webhook', async () => {
    const port = await closedPort();
    const before = stub.posts.length;
    const r = await runCli(['--api', `http://127.0.0.1:${port}`, '--metrics', `http://127.0.0.1:${port}`, '--webhook', `${stub.url}/hook`]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^FAIL {2}healthz {2}connection refused \\(127\\.0\\.0\\.1:${port}\\) {2}\\d+ ms$`, 'm'));
    assert.match(r.stdout, /^0\/3 passed, avg \d+ ms$/m);
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(
      stub.posts.slice(before).map((p: any) => p.json),
      [{ text: 'ALERT: healthz DOWN' }, { text: 'ALERT: ready DOWN' }, { text: 'ALERT: metrics DOWN' }],
    );
  });

  const badArgs: Array<[string, string[], RegExp]> = [
    ['missing --metrics', ['--api', 'http://127.0.0.1:8080'], /--metrics is required/],
    ['a URL that is not one', ['--api', 'localhost:8080', '--metrics', 'http://127.0.0.1:9090'], /--api must be an http/],
    ['a non-numeric --rounds', ['--api', 'http://a', '--metrics', 'http://b', '--rounds', 'many'], /--rounds must be an integer >= 1/],
    ['an unknown option', ['--api', 'http://a', '--metrics', 'http://b', '--verbose'], /Unknown option '--verbose'/],
  ];
  for (const [what, args, message] of badArgs) {
    test(`exits 2 with the usage line for ${what}`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /^usage: npm run monitor -- --api URL --metrics URL/m);
      assert.equal(r.stdout, '');
    });
  }

  test('runs through the npm script', async () => {
    const r = await runCli(['--api', stub.url, '--metrics', stub.url], 'npm');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^3\/3 passed, avg \d+ ms$/m);
  });

  test('runs from the build output with plain node, as inside the image (no tsx, no src/)', async () => {
    await new Promise<void>((resolve, reject) =>
      execFile('npm', ['run', 'build'], { cwd: ROOT, timeout: 120_000 }, (err) => (err ? reject(err) : resolve())),
    );
    const r = await runCli(['--api', stub.url, '--metrics', stub.url], 'dist');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^3\/3 passed, avg \d+ ms$/m);
  });
});
