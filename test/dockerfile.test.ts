// This file reads the Dockerfile and plays its stages outside any container engine (fast, and
// it runs wherever npm test does; scripts/image-test.sh builds and runs the image for real).
// Each stage gets its own directory standing for its filesystem, COPY copies from a clean build
// context (the repository's files minus .dockerignore) or from an earlier stage, RUN runs in the
// stage's WORKDIR with the stage's ENV. Then it starts the final stage's CMD and checks the
// service answers and stops cleanly on SIGTERM. Slow: npm ci.
import assert from 'node:assert/strict';
import { execFileSync, execSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { after, describe, test } from './helpers/node-test.ts';
import { inferenceClient } from './helpers/grpc.ts';
import { repoRoot } from './helpers/k8s.ts';
import { spawnTracked } from './helpers/process.ts';

type Instruction = { op: string; args: string };
type Stage = { name?: string; base: string; steps: Instruction[] };

function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of joined.split('\n')) {
    const m = /^\s*(\w+)\s+(.*\S)\s*$/.exec(line);
    if (!m) continue;
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'FROM') {
      const [image, as, name] = rest.split(/\s+/);
      const base = image!.replace(/\$\{(\w+)\}/g, (_, v: string) => args[v] ?? '');
      stages.push({ base, name: as?.toUpperCase() === 'AS' ? name : undefined, steps: [] });
    } else if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args[k!] = v ?? '';
    } else if (stages.length > 0) {
      stages.at(-1)!.steps.push({ op, args: rest });
    }
  }
  return { args, stages };
}

function envPairs(args: string): Array<[string, string]> {
  return [...args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')]);
}

const dockerfile = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
const finalStage = dockerfile.stages.at(-1)!;
const stepsOf = (stage: Stage, op: string) => stage.steps.filter((s) => s.op === op).map((s) => s.args);
// Packages the lockfile marks as needed only for development (not reachable from dependencies).
const devOnly = Object.entries(JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')).packages as Record<string, { dev?: boolean }>)
  .filter(([path, p]) => p.dev === true && path.startsWith('node_modules/'))
  .map(([path]) => path);

describe('Dockerfile, read', () => {
  test('every stage builds on a pinned node:20 bookworm-slim image (glibc, never :latest)', () => {
    assert.ok(dockerfile.stages.length >= 2, 'multi-stage');
    for (const s of dockerfile.stages) {
      assert.match(s.base, /^node:20\.\d+\.\d+-bookworm-slim(@sha256:[a-f0-9]{64})?$/, s.base);
    }
  });

  test('npm ci runs with the onnxruntime CUDA download skipped', () => {
    for (const stage of dockerfile.stages) {
      let skip = false;
      for (const step of stage.steps) {
        if (step.op === 'ENV' && envPairs(step.args).some(([k, v]) => k === 'ONNXRUNTIME_NODE_INSTALL' && v === 'skip')) skip = true;
        if (step.op === 'RUN' && /\bnpm (ci|install)\b/.test(step.args)) {
          assert.ok(skip || /ONNXRUNTIME_NODE_INSTALL=skip|onnxruntime-node-install=skip/.test(step.args), step.args);
        }
      }
    }
  });

  test('the final stage runs as a numeric non-root UID, exposes 8080, 8081 (gRPC) and 9090, and execs node directly', () => {
    const user = stepsOf(finalStage, 'USER').at(-1);
    assert.ok(user, 'USER is set');
    const uid = Number(user.split(':')[0]);
    assert.ok(Number.isInteger(uid) && uid >= 10000, `USER ${user}`);
    assert.deepEqual(stepsOf(finalStage, 'EXPOSE').join(' ').split(/\s+/).sort(), ['8080', '8081', '9090']);
    assert.deepEqual(JSON.parse(stepsOf(finalStage, 'CMD').at(-1)!), ['node', 'dist/main.js']);
    assert.equal(stepsOf(finalStage, 'ENTRYPOINT').length, 0, 'no shell wrapper in front of node');
  });

  test('the final stage installs nothing with dev dependencies and bakes the models in at /app/models', () => {
    for (const run of stepsOf(finalStage, 'RUN')) assert.ok(!/\bnpm (ci|install)\b/.test(run) || /--omit=dev/.test(run), run);
    const env = Object.fromEntries(stepsOf(finalStage, 'ENV').flatMap(envPairs));
    assert.equal(env.MODEL_REPOSITORY, '/app/models');
    assert.ok(stepsOf(finalStage, 'COPY').some((c) => /^models\s/.test(c)), 'COPY models');
    assert.ok(stepsOf(finalStage, 'COPY').some((c) => /^proto\s+\.\/proto$/.test(c)), 'COPY proto ./proto (the gRPC service definition)');
  });

  test('npm ci is guarded: a failed install (npm 10 can exit 0) stops the build at that step', () => {
    const install = dockerfile.stages.flatMap((s) => stepsOf(s, 'RUN')).find((r) => /\bnpm ci\b/.test(r));
    assert.ok(install, 'RUN npm ci');
    assert.match(install, /npm ci\b[^&|]*&&\s*npm ls\b/, 'npm ls checks the installed tree');
    assert.match(install, /\|\|\s*\{[^}]*npm ci failed[^}]*exit 1/, 'the failure is named and exits non-zero');
  });

  test('the build stage keeps only the running platform\'s onnxruntime binaries and checks they load', () => {
    const prune = stepsOf(dockerfile.stages[0]!, 'RUN').find((r) => /onnxruntime-node\/bin\/napi-v6/.test(r));
    assert.ok(prune, 'a RUN step prunes onnxruntime-node/bin/napi-v6');
    assert.match(prune, /process\.platform/);
    assert.match(prune, /process\.arch/);
    assert.match(prune, /require\('onnxruntime-node'\)/, 'the kept binding is loaded once');
  });

  test('the final stage: OCI labels (version from package.json), telemetry off, no HEALTHCHECK', () => {
    const labels = Object.fromEntries(stepsOf(finalStage, 'LABEL').flatMap((l) => [...l.matchAll(/([\w.-]+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')])));
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string; license: string };
    const args = Object.fromEntries(stepsOf(finalStage, 'ARG').map((a) => a.split('=') as [string, string]));
    assert.equal(labels['org.opencontainers.image.licenses'], pkg.license);
    assert.equal(labels['org.opencontainers.image.version'], '${VERSION}');
    assert.equal(args.VERSION, pkg.version, 'ARG VERSION defaults to package.json\'s version');
    assert.equal(labels['org.opencontainers.image.source'], '${SOURCE_URL}');
    assert.equal(labels['org.opencontainers.image.revision'], '${REVISION}');
    const env = Object.fromEntries(stepsOf(finalStage, 'ENV').flatMap(envPairs));
    assert.equal(env.ORT_DISABLE_TELEMETRY, '1');
    assert.equal(dockerfile.stages.flatMap((s) => stepsOf(s, 'HEALTHCHECK')).length, 0, 'Kubernetes probes the pod; no HEALTHCHECK');
  });

  test('.dockerignore keeps node_modules, dist and .git out of the build context', () => {
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8');
    for (const p of ['node_modules', 'dist', '.git']) assert.match(ignore, new RegExp(`^${p.replace('.', '\\.')}$`, 'm'));
  });
});

// ---------------------------------------------------------------------------------------

function ignored(path: string, patterns: string[]): boolean {
  const first = path.split('/')[0]!;
  return patterns.some((p) => {
    const re = new RegExp(`^${p.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`);
    return re.test(first) || re.test(path);
  });
}

function buildContext(dir: string): void {
  const patterns = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { timeout: 120_000, cwd: repoRoot, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    if (ignored(f, patterns) || !existsSync(join(repoRoot, f))) continue;
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(repoRoot, f), join(dir, f));
  }
}

/** A container-like environment: no variables from this test process leak in. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...extra };
}

function playStages(root: string, context: string): { rootOf: (stage: Stage) => string; workdir: string; env: Record<string, string> } {
  const roots = new Map<Stage, string>();
  let workdir = '/';
  let env: Record<string, string> = {};
  dockerfile.stages.forEach((stage, i) => {
    const stageRoot = join(root, `stage${i}`);
    mkdirSync(stageRoot, { recursive: true });
    roots.set(stage, stageRoot);
    workdir = '/';
    env = {};
    const inStage = (p: string) => join(stageRoot, posix.resolve(workdir, p));
    for (const step of stage.steps) {
      if (step.op === 'WORKDIR') {
        workdir = posix.resolve(workdir, step.args);
        mkdirSync(inStage('.'), { recursive: true });
      } else if (step.op === 'ENV') {
        for (const [k, v] of envPairs(step.args)) env[k] = v;
      } else if (step.op === 'COPY') {
        const words = step.args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const paths = words.filter((w) => !w.startsWith('--'));
        const dest = paths.pop()!;
        const source = from === undefined ? context : roots.get(dockerfile.stages.find((s) => s.name === from)!)!;
        const intoDir = dest.endsWith('/') || paths.length > 1;
        for (const src of paths) {
          const abs = join(source, src);
          const target = intoDir ? join(inStage(dest), basename(src)) : inStage(dest);
          mkdirSync(dirname(target), { recursive: true });
          cpSync(abs, target, { recursive: true, verbatimSymlinks: true });
        }
      } else if (step.op === 'RUN') {
        // prefer-offline: reuse this machine's npm cache; the commands are the Dockerfile's own.
        try {
          execSync(step.args, { cwd: inStage('.'), env: cleanEnv({ ...env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' }), stdio: 'pipe', maxBuffer: 64 * 1024 * 1024, timeout: 10 * 60_000 });
        } catch (err) {
          const e = err as { stdout?: Buffer; stderr?: Buffer };
          throw new Error(`RUN ${step.args} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
        }
      }
    }
  });
  return { rootOf: (s) => roots.get(s)!, workdir, env };
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

async function waitFor(url: string, status: number, deadlineMs: number): Promise<Response> {
  const end = Date.now() + deadlineMs;
  let last = '';
  while (Date.now() < end) {
    try {
      const res = await fetch(url);
      if (res.status === status) return res;
      last = `status ${res.status}`;
    } catch (err) {
      last = String((err as Error).cause ?? err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} never answered ${status} (last: ${last})`);
}

describe('Dockerfile, played outside Docker', () => {
  const root = mkdtempSync(join(tmpdir(), 'meshserve-image-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('its install and build steps produce an image that serves, and stops cleanly on SIGTERM', { timeout: 15 * 60_000 }, async (t) => {
    if (!existsSync(join(repoRoot, 'src/main.ts'))) {
      t.skip('src/main.ts does not exist yet');
      return;
    }
    const context = join(root, 'context');
    buildContext(context);
    const image = playStages(join(root, 'stages'), context);
    const finalRoot = image.rootOf(finalStage);
    const app = join(finalRoot, image.workdir);

    assert.ok(devOnly.length > 0);
    const shipped = devOnly.filter((path) => existsSync(join(app, path)));
    assert.deepEqual(shipped, [], 'development-only packages in the final image');
    assert.ok(existsSync(join(app, 'models')), 'models baked in');
    const ort = join(app, 'node_modules/onnxruntime-node/bin/napi-v6');
    assert.deepEqual(readdirSync(ort), [process.platform], 'onnxruntime binaries for this platform only');
    assert.deepEqual(readdirSync(join(ort, process.platform)), [process.arch], 'and this architecture only');

    const [port, metricsPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
    // Absolute paths in ENV (MODEL_REPOSITORY=/app/models) point into the final stage's directory.
    const env = Object.fromEntries(Object.entries(image.env).map(([k, v]) => [k, v.startsWith('/') && existsSync(join(finalRoot, v)) ? join(finalRoot, v) : v]));
    const [command, ...args] = JSON.parse(stepsOf(finalStage, 'CMD').at(-1)!) as string[];
    assert.equal(command, 'node');
    const { child, exited: gone } = spawnTracked(process.execPath, args, {
      cwd: app,
      env: cleanEnv({ ...env, HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: String(metricsPort), GRPC_PORT: String(grpcPort), SHUTDOWN_DELAY_MS: '0', LOG_LEVEL: 'warn' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    }, t.after.bind(t));
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = gone.then(({ code }) => code);
    try {
      await Promise.race([
        waitFor(`http://127.0.0.1:${port}/healthz`, 200, 120_000),
        exited.then((code) => {
          throw new Error(`node dist/main.js exited with ${code} before serving:\n${output}`);
        }),
      ]);
      await waitFor(`http://127.0.0.1:${port}/ready`, 200, 60_000);
      const metrics = await waitFor(`http://127.0.0.1:${metricsPort}/metrics`, 200, 10_000);
      assert.match(await metrics.text(), /meshserve_/);
      // The played image answers an inference request with the bundled model, on both protocols.
      const predict = await fetch(`http://127.0.0.1:${port}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.4, 2.1]] }),
        signal: AbortSignal.timeout(30_000),
      });
      const rows = (await predict.json()) as { model: string; predictions: { label: string }[] };
      assert.equal(predict.status, 200, JSON.stringify(rows));
      assert.equal(rows.model, 'iris');
      assert.deepEqual(rows.predictions.map((p) => p.label), ['setosa', 'virginica']);
      const v2 = await fetch(`http://127.0.0.1:${port}/v2/models/iris/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }),
        signal: AbortSignal.timeout(30_000),
      });
      const tensors = (await v2.json()) as { outputs: { shape: number[]; data: number[] }[] };
      assert.equal(v2.status, 200, JSON.stringify(tensors));
      assert.deepEqual(tensors.outputs[0]!.shape, [1, 3]);
      assert.ok(tensors.outputs[0]!.data[0]! > 0.9, `setosa probability ${tensors.outputs[0]!.data[0]}`);
      // And over gRPC on GRPC_PORT: the image carries proto/ (without it the process would not have started).
      const grpc = inferenceClient(`127.0.0.1:${grpcPort}`);
      try {
        const reply = await grpc.call('ModelInfer', { model_name: 'iris', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [5.1, 3.5, 1.4, 0.2] } }] });
        assert.ok(reply.outputs[0].contents.fp32_contents[0] > 0.9, JSON.stringify(reply.outputs));
      } finally {
        grpc.close();
      }
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (code === 'timeout') child.kill('SIGKILL');
    assert.equal(code, 0, `exit code after SIGTERM; output:\n${output}`);
  });
});
