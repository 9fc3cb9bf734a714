// Faults: broken model files stop start-up with a message naming the file; an onnxruntime error fails only
// its batch; an uncaught exception or unhandled rejection is logged and ends the process.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from './helpers/node-test.ts';
import { build, MAIN, ROOT, spawnTracked, statusOf, waitFor, withTimeout } from './helpers/process.ts';
import { testConfig } from './helpers/config.ts';
import { createLogger } from '../src/logger.ts';
import { createMetrics } from '../src/metrics.ts';
import { ModelRepository, RepositoryError } from '../src/models/repository.ts';
import { GATHER_TABLE } from '../scripts/make-fixtures.ts';
import { fixturePath, makeRepository } from './helpers/repository.ts';
import { startService } from './helpers/service.ts';

const quiet = createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false }, new Writable({ write: (_c, _e, cb) => cb() }));

before(() => build());

/** Runs dist/main.js to its exit (killed after 30 s, and by the test's t.after whatever happens); resolves with the exit code, stdout lines and stderr. */
async function runProcess(cleanup: (fn: () => Promise<void>) => void, env: Record<string, string>, nodeArgs: string[] = [], whileRunning?: (port: number, pid: number) => Promise<void>) {
  const { child, exited } = spawnTracked(process.execPath, [...nodeArgs, MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: '0', METRICS_PORT: '0', GRPC_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', SHUTDOWN_DELAY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }, cleanup);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  let acting: Promise<void> | undefined;
  child.stdout!.on('data', (d) => {
    stdout += d;
    const listening = !acting && /"port":(\d+)/.exec(stdout);
    if (listening && whileRunning) acting = whileRunning(Number(listening[1]), child.pid!);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const { code, signal } = await exited;
  clearTimeout(timer);
  await withTimeout(acting ?? Promise.resolve(), 10_000, 'the actions on the running process');
  const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  return { code, signal, lines, stderr };
}

const addOne = await readFile(fixturePath('add_one.onnx'));
const BROKEN: [string, Uint8Array | null, RegExp][] = [
  ['missing', null, /missing/],
  ['empty', new Uint8Array(0), /empty/],
  ['truncated', addOne.subarray(0, Math.floor(addOne.length / 2)), /cannot be served/],
  ['not ONNX', Buffer.from('this is a text file, not a model\n'), /cannot be served/],
];

/** A repository where model "good" loads and model "bad" has the broken file; returns the bad file's path. */
async function brokenRepository(bytes: Uint8Array | null) {
  const repo = await makeRepository({ good: { versions: { 1: 'add_one.onnx' } }, bad: { versions: { 1: bytes ?? new Uint8Array([1]) } } });
  const file = join(repo.dir, 'bad', '1', 'model.onnx');
  if (bytes === null) await rm(file);
  return { ...repo, file };
}

describe('a broken model file stops start-up with a message naming the file', () => {
  for (const [what, bytes, says] of BROKEN) {
    test(`${what}: repository.load() rejects with a RepositoryError naming the file`, async (t) => {
      const repo = await brokenRepository(bytes);
      const repository = new ModelRepository({ config: testConfig({ MODEL_REPOSITORY: repo.dir }), metrics: createMetrics({ defaultMetrics: false }), logger: quiet });
      t.after(async () => {
        await repository.close();
        await repo.cleanup();
      });
      await assert.rejects(repository.load(), (e: Error) => {
        assert.ok(e instanceof RepositoryError, e.name);
        assert.ok(e.message.includes(repo.file), e.message);
        assert.match(e.message, says);
        return true;
      });
      assert.deepEqual(repository.notReadyReasons(), ['model loading failed']);
    });

    test(`${what}: the process exits 1 with the file named on stderr and no stack trace`, async (t) => {
      const repo = await brokenRepository(bytes);
      t.after(() => repo.cleanup());
      const { code, signal, stderr, lines } = await runProcess(t.after.bind(t), { MODEL_REPOSITORY: repo.dir });
      assert.notEqual(signal, 'SIGKILL', 'the process stopped on its own, before the 30 s kill');
      assert.equal(code, 1);
      assert.ok(stderr.includes(repo.file), `stderr: ${stderr}`);
      assert.match(stderr, says);
      assert.doesNotMatch(stderr, /\n\s+at /);
      assert.equal(stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(lines.some((l) => l.level === 60 && String(l.err).includes(repo.file)), 'a fatal log line names the file');
    });
  }
});

describe('an onnxruntime error fails only its batch', () => {
  const gather = (index: number) => ({ inputs: [{ name: 'index', shape: [1, 1], datatype: 'INT64', data: [index] }] });
  const infer = (url: string, index: number) =>
    fetch(`${url}/v2/models/gather/infer`, { method: 'POST', body: JSON.stringify(gather(index)) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));

  test('with one request per batch: bad indices get 500 with the runtime message, concurrent good ones succeed, the service stays ready', async (t) => {
    const svc = await startService({ gather: { versions: { 1: 'gather_fault.onnx' } } }, { env: { MAX_BATCH_SIZE: '1' } });
    t.after(() => svc.close());
    const indices = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 100 + i : i % 4));
    const replies = await Promise.all(indices.map((i) => infer(svc.url, i)));
    replies.forEach((r, n) => {
      const index = indices[n]!;
      if (index >= 100) {
        assert.equal(r.status, 500);
        assert.equal(r.json.code, 'inference_failed');
        assert.match(r.json.error, /gather/);
        assert.match(r.json.error, new RegExp(`idx=${index}`));
        assert.doesNotMatch(r.json.error, /\n\s+at |\/(src|dist)\//);
      } else {
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.deepEqual(r.json.outputs[0].data, [GATHER_TABLE[index]]);
      }
    });
    assert.equal((await fetch(`${svc.url}/ready`)).status, 200);
    assert.equal((await infer(svc.url, 2)).status, 200);
    const metrics = await (await fetch(`${svc.metricsUrl}/metrics`)).text();
    assert.match(metrics, /meshserve_inference_requests_total\{model="gather",version="1",outcome="error"\} 10/);
    assert.ok(svc.logs.some((l) => l.level === 50 && String(l.msg).includes('request failed')), 'the fault is logged');
  });

  test('with batching: requests sharing the failed batch get 500, the next batch succeeds', async (t) => {
    const svc = await startService({ gather: { versions: { 1: 'gather_fault.onnx' } } }, { env: { MAX_BATCH_SIZE: '8', BATCH_DELAY_MS: '100' } });
    t.after(() => svc.close());
    const first = await Promise.all([infer(svc.url, 1), infer(svc.url, 99), infer(svc.url, 2)]);
    assert.deepEqual(first.map((r) => r.status), [500, 500, 500]);
    assert.ok(first.every((r) => r.json.code === 'inference_failed'));
    const second = await Promise.all([infer(svc.url, 0), infer(svc.url, 3)]);
    assert.deepEqual(second.map((r) => r.json.outputs?.[0].data), [[GATHER_TABLE[0]], [GATHER_TABLE[3]]]);
    assert.equal((await fetch(`${svc.url}/ready`)).status, 200);
  });
});

describe('an uncaught exception or unhandled rejection ends the process cleanly', () => {
  let dir: string;
  let inject: string;
  let repo: Awaited<ReturnType<typeof makeRepository>>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshserve-fault-'));
    inject = join(dir, 'inject.mjs');
    // Preloaded into the real process: on SIGUSR2 it raises the fault chosen by FAULT on the main thread.
    await writeFile(
      inject,
      `process.on('SIGUSR2', () => {
  if (process.env.FAULT === 'rejection') Promise.reject(new Error('injected rejection'));
  else setImmediate(() => { throw new Error('injected exception'); });
});
`,
    );
    repo = await makeRepository({ add: { versions: { 1: 'add_one.onnx' } } });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await repo?.cleanup();
  });

  for (const [fault, msg] of [
    ['exception', 'uncaught exception'],
    ['rejection', 'unhandled promise rejection'],
  ] as const) {
    test(`an ${msg} in a serving process is logged and exits 1 at once`, async (t) => {
      let raisedAt = 0;
      // A graceful shutdown would take at least SHUTDOWN_DELAY_MS (30 s); exiting "at once" is well before that.
      const { code, lines } = await runProcess(t.after.bind(t), { MODEL_REPOSITORY: repo.dir, FAULT: fault, SHUTDOWN_DELAY_MS: '30000' }, ['--import', inject], async (port, pid) => {
        const base = `http://127.0.0.1:${port}`;
        await waitFor(`${base}/ready to answer 200`, async () => (await statusOf(`${base}/ready`)) === 200, 20_000, 50);
        const ok = await fetch(`${base}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"instances":[[1,2]]}' });
        assert.equal(ok.status, 200, 'serving before the fault');
        raisedAt = performance.now();
        process.kill(pid, 'SIGUSR2');
      });
      const exitMs = performance.now() - raisedAt;
      assert.equal(code, 1);
      assert.ok(raisedAt > 0 && exitMs < 10_000, `exited ${exitMs.toFixed(0)} ms after the fault (a graceful shutdown would take over 30 s)`);
      const fatal = lines.find((l) => l.level === 60);
      assert.ok(fatal, 'a fatal line is logged');
      assert.match(fatal.msg, new RegExp(msg));
      assert.equal(fatal.err?.message, `injected ${fault}`);
    });
  }
});
