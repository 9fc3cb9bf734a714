// Where one core's time goes, per scenario: `taskset -c 1 node --import tsx bench/profile.ts [scenario ...] [--seconds=S] [--root=DIR] [--top=N]`
// (after `npm run build`). For each scenario it starts the built service pinned to core 0 with --cpu-prof
// (every thread writes its own profile), runs the load for S seconds from this process, stops the service
// and prints, per thread that was busy, the share of samples by category and the functions with the most self time.
// Scenarios: iris-c64, mlp-binary-c64, mlp-json-c64, mlp-rows-c64, iris-c1, mlp-binary-c1 (default: all).
// On one core a thread's samples also cover the time it was preempted (the profiler samples wall time): a
// main-thread postMessage that wakes the model's worker is charged with the time that worker then runs.
// Profiles are kept under bench/results/tmp/profiles/<scenario>/ (not committed); open them in Chrome DevTools.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad } from './lib/load.ts';
import { makeRepository } from './lib/models.ts';
import { irisPredict, mlpBinary, mlpJson, mlpRows, type Payload } from './lib/payloads.ts';
import { freePort } from './lib/processes.ts';
import { ROOT } from './lib/service.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seconds: { type: 'string', default: '6' }, root: { type: 'string', default: ROOT }, top: { type: 'string', default: '25' } },
});
const SCENARIOS: Record<string, { payload: () => Payload; connections: number; env?: Record<string, string> }> = {
  'iris-c64': { payload: () => irisPredict, connections: 64 },
  'mlp-binary-c64': { payload: () => mlpBinary(), connections: 64 },
  'mlp-json-c64': { payload: () => mlpJson(), connections: 64 },
  'mlp-rows-c64': { payload: () => mlpRows(), connections: 64 },
  'iris-c1': { payload: () => irisPredict, connections: 1, env: { BATCH_DELAY_MS: '0' } },
  'mlp-binary-c1': { payload: () => mlpBinary(), connections: 1, env: { BATCH_DELAY_MS: '0' } },
};
const chosen = positionals.length ? positionals : Object.keys(SCENARIOS);
const pin = os.cpus().length >= 2;
const repo = makeRepository();

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

/** Coarse categories for a function, from its name and file. */
function category(frame: Node['callFrame']): string {
  const { functionName: fn, url } = frame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'native (program)';
  if (url.includes('/dist/')) {
    const m = /\/dist\/(.*)\.js$/.exec(url);
    return `meshserve ${m?.[1] ?? url}`;
  }
  if (url.includes('node_modules/')) return `dependency ${/node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1]}`;
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0]}`;
  if (fn === 'parse' || fn === 'stringify') return `JSON.${fn} (builtin)`;
  if (url === '') return `builtin ${fn || '(anonymous)'}`;
  return url;
}

function summarise(file: string, top: number): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const cats = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame;
    const c = category(f);
    cats.set(c, (cats.get(c) ?? 0) + t);
    const key = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + t);
  }
  const busy = total - (cats.get('idle') ?? 0);
  const pct = (t: number) => `${((100 * t) / total).toFixed(1)}%`;
  if (busy < total * 0.05) return `  ${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, busy ${pct(busy)} (details left out)`;
  const lines = [`  ${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, busy ${pct(busy)}`, '  categories (share of all samples):'];
  for (const [c, t] of [...cats].sort((a, b) => b[1] - a[1]).slice(0, 18)) lines.push(`    ${pct(t).padStart(6)}  ${c}`);
  lines.push(`  top ${top} functions by self time:`);
  for (const [f, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(t).padStart(6)}  ${f}`);
  return lines.join('\n');
}

try {
  for (const name of chosen) {
    const s = SCENARIOS[name];
    if (!s) throw new Error(`unknown scenario ${name}; one of ${Object.keys(SCENARIOS).join(', ')}`);
    const dir = path.join(ROOT, 'bench', 'results', 'tmp', 'profiles', name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const metricsPort = await freePort();
    const args = ['--cpu-prof', `--cpu-prof-dir=${dir}`, `${values.root}/dist/main.js`];
    const child = spawn(pin ? 'taskset' : process.execPath, pin ? ['-c', '0', process.execPath, ...args] : args, {
      env: { PATH: process.env.PATH, PORT: String(port), METRICS_PORT: String(metricsPort), HOST: '127.0.0.1', MODEL_REPOSITORY: repo.dir, DEFAULT_MODEL: 'iris', LOG_LEVEL: 'warn', SHUTDOWN_DELAY_MS: '0', NODE_ENV: 'production', ...s.env },
      stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 120_000;
    while ((await fetch(`${url}/ready`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('the service did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const payload = s.payload();
    await runLoad({ url, payload, connections: s.connections, durationSec: 1 });
    const r = await runLoad({ url, payload, connections: s.connections, durationSec: Number(values.seconds) });
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
    console.log(`\n## ${name}: ${Math.round(r.reqPerSec)} req/s (profiling on; ${pin ? 'service on core 0' : 'not pinned'})`);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) console.log(summarise(path.join(dir, file), Number(values.top)));
  }
} finally {
  repo.remove();
}
