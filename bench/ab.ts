// A/B of built trees on one core: `node --import tsx bench/ab.ts <label>=<root>[+<node flag>...] ... [--rounds=N]
// [--seconds=S] [--scenarios=iris,binary,json,rows] [--unpinned]`. Each root must hold a built dist/main.js; node
// flags after "+" go to that tree's service (`gc=.+--single-threaded-gc` beside `now=.` compares a flag). Every round starts
// each tree's service pinned to core 0 (taskset, when the machine has 2+ cores; not with --unpinned: both
// cores, as the README's figures), runs the scenarios at 64 connections from this process (pin it to another
// core: `taskset -c 1 node ...`), and stops it. Prints medians of req/s, p99, the service's CPU time per request
// (steadier than req/s when other work shares the core) and peak RSS per tree, and the
// median of the per-round ratios last / first tree.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { readMemory } from './lib/limits-monitor.ts';
import { median, runLoad } from './lib/load.ts';
import { makeRepository } from './lib/models.ts';
import { irisPredict, mlpBinary, mlpJson, mlpRows, type Payload } from './lib/payloads.ts';
import { freePort } from './lib/processes.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' }, scenarios: { type: 'string', default: 'iris,binary' }, unpinned: { type: 'boolean', default: false } },
});
const trees = positionals.map((p) => {
  const eq = p.indexOf('=');
  const [label, spec] = [p.slice(0, eq), p.slice(eq + 1)];
  const [root, ...flags] = spec.split('+');
  return { label, root: root!, flags: flags.filter(Boolean) };
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const pin = os.cpus().length >= 2 && !values.unpinned;
if (!pin) console.log(values.unpinned ? 'unpinned: the service may use every core' : 'one core only: the service is not pinned');
const repo = makeRepository();
// Trees older than the config.json "reference" block refuse it: A/Bs compare without input statistics
// (their cost is measured on its own in bench/business-metrics.ts).
const irisConfig = path.join(repo.dir, 'iris', 'config.json');
const { reference: _reference, ...plainConfig } = JSON.parse(readFileSync(irisConfig, 'utf8')) as Record<string, unknown>;
writeFileSync(irisConfig, JSON.stringify(plainConfig));
const SCENARIOS: Record<string, [string, () => Payload]> = {
  iris: ['iris /predict c64', () => irisPredict],
  binary: ['MLP V2 binary c64', () => mlpBinary()],
  json: ['MLP V2 JSON c64', () => mlpJson()],
  rows: ['MLP rows /v1/models/mlp:predict c64', () => mlpRows()],
};
const scenarios: [string, Payload][] = values.scenarios.split(',').map((id) => {
  const s = SCENARIOS[id];
  if (!s) throw new Error(`unknown scenario ${id}: use ${Object.keys(SCENARIOS).join(', ')}`);
  return [s[0], s[1]()];
});
const results: Record<string, Record<string, { rps: number[]; p99: number[]; cpu: number[] }>> = {};
/** User + system CPU of a process (all threads), ms: steadier than req/s when other work shares the core. */
const cpuMs = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
/** Peak RSS (VmHWM) of each tree's service over its round, MB. */
const peaks: Record<string, number[]> = {};

for (let round = 1; round <= rounds; round++) {
  for (const { label, root, flags } of trees) {
    const port = await freePort();
    const metricsPort = await freePort();
    const args = [...(pin ? ['-c', '0', process.execPath] : []), ...flags, `${root}/dist/main.js`];
    const child = spawn(pin ? 'taskset' : process.execPath, args, {
      env: { PATH: process.env.PATH, PORT: String(port), METRICS_PORT: String(metricsPort), GRPC_PORT: '0', HOST: '127.0.0.1', MODEL_REPOSITORY: repo.dir, DEFAULT_MODEL: 'iris', LOG_LEVEL: 'warn', SHUTDOWN_DELAY_MS: '0', NODE_ENV: 'production' },
      stdio: 'ignore',
    });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 120_000;
    while ((await fetch(`${url}/ready`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${label}: ${root}/dist/main.js did not become ready`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const [name, payload] of scenarios) {
      await runLoad({ url, payload, connections: 64, durationSec: 1 }); // warm-up
      const cpu0 = cpuMs(child.pid!);
      const run = await runLoad({ url, payload, connections: 64, durationSec: seconds });
      const perRequestUs = ((cpuMs(child.pid!) - cpu0) * 1000) / Math.max(1, run.ok);
      const r = ((results[name] ??= {})[label] ??= { rps: [], p99: [], cpu: [] });
      r.rps.push(run.reqPerSec);
      r.p99.push(run.p99);
      r.cpu.push(perRequestUs);
      console.log(`round ${round} ${label} ${name}: ${Math.round(run.reqPerSec)} req/s, p99 ${run.p99} ms, service CPU ${perRequestUs.toFixed(0)} us per request`);
    }
    const hwm = readMemory(child.pid!)?.hwmKb;
    if (hwm) (peaks[label] ??= []).push(hwm / 1024);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}
repo.remove();
const others = trees.slice(1);
console.log(`\n| scenario | ${trees.map((t) => `${t.label} req/s (p99 ms)`).join(' | ')} | ${others.map((t) => `${t.label} / ${trees[0]!.label} (median of rounds)`).join(' | ')} |`);
console.log(`|---|${trees.map(() => '---:').join('|')}|${others.map(() => '---:').join('|')}|`);
for (const [name, byTree] of Object.entries(results)) {
  const cells = trees.map((t) => `${Math.round(median(byTree[t.label]!.rps))} (${median(byTree[t.label]!.p99)})`);
  const first = byTree[trees[0]!.label]!.rps;
  const ratios = others.map((t) => median(byTree[t.label]!.rps.map((x, i) => x / first[i]!)).toFixed(2));
  console.log(`| ${name} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
}
console.log(`| **service CPU per request, us** (median of rounds) | ${trees.map(() => '').join(' | ')} |${others.map(() => ' |').join('')}`);
for (const [name, byTree] of Object.entries(results)) {
  const first = byTree[trees[0]!.label]!.cpu;
  const ratios = others.map((t) => median(byTree[t.label]!.cpu.map((x, i) => x / first[i]!)).toFixed(2));
  console.log(`| ${name} | ${trees.map((t) => median(byTree[t.label]!.cpu).toFixed(0)).join(' | ')} | ${ratios.join(' | ')} |`);
}
console.log(`| peak RSS MB (VmHWM, median of rounds) | ${trees.map((t) => (peaks[t.label] ? median(peaks[t.label]!).toFixed(0) : '-')).join(' | ')} |${others.map(() => ' |').join('')}`);
