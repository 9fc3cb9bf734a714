// meshserve load tests. Usage:
//   npm run bench                       full suite (~13 min): writes bench/results/latest.{json,md,svg}
//   npm run bench -- --quick            short runs to try things out: writes bench/results/tmp/quick.*
//   npm run bench -- cpu [--runs=3] [--root=DIR]  the pod's size only (--root: measure DIR's build, e.g. an older
//                                       tree, with this bench): service pinned to core 0, load generator on the
//                                       others; ratios to same-core baselines, 1-connection latency:
//                                       bench/results/cpu.{json,md} (the full suite ends with the same section)
//   npm run bench -- soak [--minutes=5] steady load, RSS and heap over time: bench/results/soak.{json,md,svg}
//   npm run bench -- limits             bursts against MEMORY_LIMIT=1Gi, a fresh service per burst:
//                                       bench/results/limits.{json,md,svg}; exits 1 unless every burst passes
//        [--env NAME=VALUE ...]         more service environment (e.g. --env MEMORY_LIMIT=768Mi --env MAX_BATCH_SIZE=64)
//        [--only=64x14mb,256x1mb]       some bursts only (8x14mb, 64x14mb, 256x1mb, 1024x1row, 64x16mb-v2)
//        [--request-timeout=120]        seconds the load generator waits for one answer
//        [--root=DIR|FILE.js]           measure DIR's build (an older tree) or a server script under the same load
//                                       (bench/floor-server.js: plain node:http refusing everything, the floor)
//        [--upload-gbps=10]             line rate the bodies of a burst share (0: as fast as loopback takes them)
//        [--node-arg=--cpu-prof ...]    Node flags for the service (profile a burst: --cpu-prof --cpu-prof-dir=DIR)
//   npm run bench -- grpc               gRPC raw vs REST binary vs REST JSON on the MLP and iris (~3 min):
//                                       bench/results/grpc.{json,md} (--quick: shorter, into tmp/)
//   npm run bench -- report [--name=latest] rewrites <name>.md and <name>.svg from <name>.json (no load)
// Options: --name=<name> (results file name), --runs=N, --seconds=S (per run), --no-build.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { suiteChart } from './lib/chart.ts';
import { log } from './lib/progress.ts';
import { GRPC_BENCH, grpcMarkdown, runGrpcBench } from './lib/grpc.ts';
import { limitsChart, limitsMarkdown, limitsTable, runLimits, type LimitsResult } from './lib/limits.ts';
import { ONE_CORE, ONE_CORE_QUICK, oneCoreMarkdown, runOneCore, type OneCoreResult } from './lib/one-core.ts';
import { goals, markdown, ratios } from './lib/report.ts';
import { ROOT } from './lib/service.ts';
import { runSoak, soakChart, soakMarkdown, type SoakResult } from './lib/soak.ts';
import { FULL, QUICK, runSuite, type SuiteResult } from './lib/suite.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    name: { type: 'string' },
    runs: { type: 'string' },
    seconds: { type: 'string' },
    minutes: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
    'node-arg': { type: 'string', multiple: true, default: [] },
    'upload-gbps': { type: 'string' },
    only: { type: 'string' },
    'request-timeout': { type: 'string' },
    root: { type: 'string' },
  },
});
const mode = positionals[0] ?? 'suite';
if (mode !== 'suite' && mode !== 'cpu' && mode !== 'soak' && mode !== 'limits' && mode !== 'report' && mode !== 'grpc') {
  process.stderr.write(`unknown mode "${mode}": use no argument for the suite, "cpu", "soak", "limits", "grpc" or "report"\n`);
  process.exit(2);
}

if (values.name !== undefined && !/^[\w.-]+$/.test(values.name)) {
  process.stderr.write(`--name may only hold letters, digits, "-", "_" and ".", got "${values.name}"\n`);
  process.exit(2);
}

function positive(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(n > 0)) {
    process.stderr.write(`${what} must be a positive number, got "${text}"\n`);
    process.exit(2);
  }
  return n;
}

if (!values['no-build'] && mode !== 'report') {
  log('building the service (npm run build)');
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) {
    process.stderr.write('npm run build failed; not benchmarking a stale dist/\n');
    process.exit(1);
  }
}

const outDir = path.join(ROOT, 'bench', 'results', values.quick ? 'tmp' : '');
mkdirSync(outDir, { recursive: true });
const write = (file: string, text: string) => {
  writeFileSync(path.join(outDir, file), text);
  log(`wrote ${path.relative(ROOT, path.join(outDir, file))}`);
};

if (mode === 'report') {
  const name = values.name ?? 'latest';
  if (name.startsWith('limits')) {
    const result = JSON.parse(readFileSync(path.join(outDir, `${name}.json`), 'utf8')) as LimitsResult;
    write(`${name}.md`, limitsMarkdown(result));
    write(`${name}.svg`, await limitsChart(result));
  } else if (name.endsWith('soak')) {
    const result = JSON.parse(readFileSync(path.join(outDir, `${name}.json`), 'utf8')) as SoakResult;
    write(`${name}.md`, soakMarkdown(result));
    write(`${name}.svg`, await soakChart(result));
  } else {
    const result = JSON.parse(readFileSync(path.join(outDir, `${name}.json`), 'utf8')) as SuiteResult & { oneCore?: OneCoreResult };
    write(`${name}.md`, result.oneCore ? `${markdown(result)}\n${oneCoreMarkdown(result.oneCore)}` : markdown(result));
    write(`${name}.svg`, await suiteChart(result));
  }
} else if (mode === 'limits') {
  const env: Record<string, string> = {};
  for (const pair of values.env) {
    const eq = pair.indexOf('=');
    if (eq < 1) {
      process.stderr.write(`--env takes NAME=VALUE, got "${pair}"\n`);
      process.exit(2);
    }
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const name = values.name ?? 'limits';
  const only = (values.only ?? '').split(',').filter(Boolean);
  const requestTimeoutMs = (positive(values['request-timeout'], '--request-timeout') ?? 120) * 1000;
  const uploadGbps = values['upload-gbps'] === '0' ? 0 : positive(values['upload-gbps'], '--upload-gbps');
  const result = await runLimits(name, { env, only, requestTimeoutMs, nodeArgs: values['node-arg'], uploadGbps, root: values.root });
  write(`${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
  write(`${name}.md`, limitsMarkdown(result));
  write(`${name}.svg`, await limitsChart(result));
  process.stdout.write(`\n${limitsTable(result)}`);
  process.exitCode = result.pass ? 0 : 1;
} else if (mode === 'cpu') {
  const base = values.quick ? ONE_CORE_QUICK : ONE_CORE;
  const options = { ...base, rounds: positive(values.runs, '--runs') ?? base.rounds, durationSec: positive(values.seconds, '--seconds') ?? base.durationSec };
  const name = values.name ?? 'cpu';
  const result = await runOneCore(name, options, values.root);
  write(`${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
  write(`${name}.md`, oneCoreMarkdown(result));
  process.stdout.write(`\n${oneCoreMarkdown(result)}`);
} else if (mode === 'grpc') {
  const base = values.quick ? { ...GRPC_BENCH, durationSec: 3, runs: 1 } : GRPC_BENCH;
  const name = values.name ?? 'grpc';
  const result = await runGrpcBench(name, { ...base, runs: positive(values.runs, '--runs') ?? base.runs, durationSec: positive(values.seconds, '--seconds') ?? base.durationSec });
  write(`${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
  write(`${name}.md`, grpcMarkdown(result));
  process.stdout.write(`\n${grpcMarkdown(result)}`);
} else if (mode === 'soak') {
  const minutes = positive(values.minutes, '--minutes') ?? (values.quick ? 0.5 : 5);
  const durationSec = Math.round(minutes * 60);
  const result = await runSoak({ durationSec, sampleEverySec: durationSec >= 120 ? 5 : 1, connections: 32, warmupSec: Math.min(60, durationSec / 5) });
  write('soak.json', `${JSON.stringify(result, null, 2)}\n`);
  write('soak.md', soakMarkdown(result));
  write('soak.svg', await soakChart(result));
} else {
  const base = values.quick ? QUICK : FULL;
  const options = { ...base, runs: positive(values.runs, '--runs') ?? base.runs, durationSec: positive(values.seconds, '--seconds') ?? base.durationSec };
  const name = values.name ?? (values.quick ? 'quick' : 'latest');
  const result = await runSuite(name, options);
  // Then the pod's size, in the same run: this pins the bench to the cores the service does not use.
  const oneCoreBase = values.quick ? ONE_CORE_QUICK : ONE_CORE;
  const oneCore = await runOneCore(`${name} (one core)`, { ...oneCoreBase, rounds: options.runs });
  const summary = { ...result, ratios: ratios(result), goals: goals(result), oneCore };
  write(`${name}.json`, `${JSON.stringify(summary, null, 2)}\n`);
  write(`${name}.md`, `${markdown(result)}\n${oneCoreMarkdown(oneCore)}`);
  write(`${name}.svg`, await suiteChart(result));
  process.stdout.write(`\n${markdown(result)}\n${oneCoreMarkdown(oneCore)}`);
}
