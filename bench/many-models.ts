// Many models in one pod: time to ready, idle resident memory and threads of the built service with 1, 10
// and 173 of the ONNX backend test models (scripts/backend-models.ts; needs Debian's libonnx-testdata), at the
// pod's size (pinned to one core, so one inference worker) and on two cores; next to the same sessions
// created in one plain Node process. Medians of --rounds runs.
//   npm run build && node --import tsx bench/many-models.ts [--rounds=3]
// Writes bench/results/many-models.{json,md}.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_MODEL_COUNT, selectBackendModels, TESTDATA, testdataPresent, writeRepository } from '../scripts/backend-models.ts';
import { readMemory } from './lib/limits-monitor.ts';
import { median } from './lib/load.ts';
import { describeMachine } from './lib/machine.ts';
import { freePort } from './lib/processes.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const rounds = Number(values.rounds);
if (!testdataPresent) {
  console.error(`${TESTDATA} is missing: apt-get install libonnx-testdata`);
  process.exit(1);
}
const ROOT = path.resolve(import.meta.dirname, '..');
const COUNTS = [1, 10, BACKEND_MODEL_COUNT];
const pinnable = os.cpus().length >= 2;

/** Starts `node <args>` (pinned with taskset when cpus is set), waits for `ready`, measures, and stops it. */
async function measure(args: string[], env: Record<string, string>, cpus: string | undefined, ready: (child: ReturnType<typeof spawn>, out: () => string) => Promise<void>) {
  const started = performance.now();
  const child = spawn(cpus ? 'taskset' : process.execPath, cpus ? ['-c', cpus, process.execPath, ...args] : args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  try {
    await ready(child, () => out);
    const readyMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 1000));
    const memory = readMemory(child.pid!)!;
    const idle = { rssMb: memory.rssKb / 1024, threads: memory.threads };
    const lines = out.split('\n').filter((l) => l.trim());
    const notJson = lines.filter((l) => !l.startsWith('{')).length;
    return { readyMs, ...idle, notJson };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function service(repo: string, cpus: string | undefined) {
  const port = await freePort();
  const metricsPort = await freePort();
  return measure([path.join(ROOT, 'dist/main.js')], { PORT: String(port), METRICS_PORT: String(metricsPort), HOST: '127.0.0.1', MODEL_REPOSITORY: repo, SHUTDOWN_DELAY_MS: '0' }, cpus, async (child, out) => {
    const deadline = Date.now() + 300_000;
    while ((await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the service did not become ready:\n${out().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
}

/** The same sessions created in one plain Node process: the floor. */
async function plain(files: string[], cpus: string | undefined) {
  const script = `import ort from 'onnxruntime-node'; ort.env.logLevel = 'fatal'; const s = []; for (const f of ${JSON.stringify(files)}) s.push(await ort.InferenceSession.create(f, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 4 })); console.log('ready'); setInterval(() => {}, 1000);`;
  return measure(['--input-type=module', '-e', script], {}, cpus, async (child, out) => {
    while (!out().includes('ready')) {
      if (child.exitCode !== null) throw new Error(out());
      await new Promise((r) => setTimeout(r, 10));
    }
  });
}

const all = await selectBackendModels(BACKEND_MODEL_COUNT);
const setups = [
  { label: 'pod size: one core (1 worker)', cpus: pinnable ? '0' : undefined },
  { label: 'two cores (2 workers)', cpus: undefined },
];
const rows: { models: number; setup: string; what: string; readyMs: number; rssMb: number; threads: number; notJson: number }[] = [];
for (const count of COUNTS) {
  const models = all.slice(0, count);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshserve-many-'));
  await writeRepository(dir, models);
  const files = models.map((m) => path.join(dir, m.name, '1', 'model.onnx'));
  for (const setup of setups) {
    for (const [what, run] of [
      ['meshserve', () => service(dir, setup.cpus)],
      ['plain onnxruntime process', () => plain(files, setup.cpus)],
    ] as const) {
      const runs = [];
      for (let r = 0; r < rounds; r++) runs.push(await run());
      const row = { models: count, setup: setup.label, what, readyMs: median(runs.map((x) => x.readyMs)), rssMb: median(runs.map((x) => x.rssMb)), threads: median(runs.map((x) => x.threads)), notJson: Math.max(...runs.map((x) => x.notJson)) };
      rows.push(row);
      console.log(`${count} models, ${setup.label}, ${what}: ready ${Math.round(row.readyMs)} ms, idle RSS ${Math.round(row.rssMb)} MB, ${row.threads} threads, ${row.notJson} non-JSON lines`);
    }
  }
  await rm(dir, { recursive: true, force: true });
}

const machine = describeMachine();
const md = [
  `Machine: ${JSON.stringify(machine)}. Medians of ${rounds} runs; "ready" is from spawning the process to its first 200 on /ready (the plain process: to its last session created); idle RSS 1 s later.`,
  '',
  '| models | setup | process | time to ready | idle RSS | threads | non-JSON output lines |',
  '|---:|---|---|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.models} | ${r.setup} | ${r.what} | ${(r.readyMs / 1000).toFixed(2)} s | ${Math.round(r.rssMb)} MB | ${r.threads} | ${r.what === 'meshserve' ? r.notJson : '-'} |`),
].join('\n');
writeFileSync(path.join(ROOT, 'bench/results/many-models.json'), JSON.stringify({ machine, rounds, rows }, null, 2));
writeFileSync(path.join(ROOT, 'bench/results/many-models.md'), md + '\n');
console.log(md);
