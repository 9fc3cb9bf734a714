// Cost of the business metrics on the iris path: `taskset -c 1 node --import tsx bench/business-metrics.ts [--rounds=N] [--seconds=S]`.
// Needs a built dist/main.js (npm run build). Two figures:
// 1. In-process: the time of recordInputs + recordPredictions per request (1 and 32 rows), the whole per-request
//    work the statistics add, against nothing else.
// 2. End to end: the built service runs twice, pinned to core 0 (taskset, when the machine has 2+ cores), on a
//    repository whose iris config.json has its reference block (statistics on) and on one without it (off; labels
//    stay, as the row format needs them, so the prediction counter runs in both). Each round drives iris /predict
//    at 64 connections from this process against one, then the other (order alternating), so the two runs of a
//    pair are seconds apart on a noisy machine. Prints medians of req/s, p99 and the per-round ratio, and writes
//    bench/results/business-metrics.md.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createMetrics } from '../src/metrics.ts';
import { createStatistics } from '../src/models/statistics.ts';
import type { Tensors } from '../src/tensors/types.ts';
import { median, runLoad } from './lib/load.ts';
import { describeMachine } from './lib/machine.ts';
import { irisPredict } from './lib/payloads.ts';
import { freePort } from './lib/processes.ts';
import { ROOT } from './lib/service.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, seconds: { type: 'string', default: '3' } } });
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const irisConfig = JSON.parse(readFileSync(path.join(ROOT, 'models/iris/config.json'), 'utf8'));
const lines: string[] = [];
const log = (line: string) => {
  console.log(line);
  lines.push(line);
};

// ---- 1. in-process cost per request ----

function perCallNs(rows: number): number {
  const metrics = createMetrics({ defaultMetrics: false });
  const stats = createStatistics({
    name: 'iris',
    version: 1,
    config: irisConfig,
    inputs: [{ name: 'input', type: 'float32', shape: [-1, 4] }],
    outputs: [{ name: 'probabilities', type: 'float32', shape: [-1, 3] }],
    metrics,
  });
  const inputs: Tensors = { input: { type: 'float32', dims: [rows, 4], data: Float32Array.from({ length: rows * 4 }, (_, i) => 1 + (i % 7)) } };
  const outputs: Tensors = { probabilities: { type: 'float32', dims: [rows, 3], data: Float32Array.from({ length: rows * 3 }, (_, i) => (i * 7) % 3) } };
  const calls = 200_000;
  const samples: number[] = [];
  for (let s = 0; s < 7; s++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      stats.recordInputs(inputs);
      stats.recordPredictions(outputs);
    }
    samples.push(Number(process.hrtime.bigint() - start) / calls);
  }
  return median(samples.slice(2)); // the first two warm the JIT up
}

const machine = describeMachine();
const pin = os.cpus().length >= 2;
log(`# Cost of the business metrics on the iris path`);
log('');
log(`Machine: ${os.cpus().length} cores (this process sees ${machine.cores}), ${machine.cpuModel}; Node ${machine.node}; onnxruntime-node ${machine.onnxruntime}; commit ${machine.commit}; load average at start ${machine.loadAverageAtStart.join(' ')}.`);
log(`The machine is shared with other work and noisy: figures are medians over rounds, and the rounds below show the spread.`);
log('');
log('## In-process: recordInputs + recordPredictions per request');
log('');
const oneRow = perCallNs(1);
const batch = perCallNs(32);
log(`| rows per request | ns per request (4 features, 3 labels) |`);
log(`|---:|---:|`);
log(`| 1 | ${oneRow.toFixed(0)} |`);
log(`| 32 | ${batch.toFixed(0)} |`);
log('');

// ---- 2. end to end, on one pinned core ----

const repoWith = mkdtempSync(path.join(os.tmpdir(), 'meshserve-bm-on-'));
const repoWithout = mkdtempSync(path.join(os.tmpdir(), 'meshserve-bm-off-'));
cpSync(path.join(ROOT, 'models/iris'), path.join(repoWith, 'iris'), { recursive: true });
cpSync(path.join(ROOT, 'models/iris'), path.join(repoWithout, 'iris'), { recursive: true });
const { reference: _dropped, ...withoutReference } = irisConfig;
writeFileSync(path.join(repoWithout, 'iris', 'config.json'), JSON.stringify(withoutReference, null, 2));
const variants = { off: repoWithout, on: repoWith } as const;
type Variant = keyof typeof variants;
const results: Record<Variant, { rps: number[]; p99: number[] }> = { off: { rps: [], p99: [] }, on: { rps: [], p99: [] } };
const paired: number[] = [];

log(`## End to end: iris POST /predict, 64 connections, ${rounds} rounds of one ${seconds} s run each way`);
log('');
log(`Both services run side by side, ${pin ? 'pinned to core 0 (taskset -c 0)' : 'not pinned (one core only)'}, and take turns under load (the idle one costs nothing), so each pair of runs is seconds apart; the order alternates per round. Load is generated by this process (run it with taskset -c 1). "on": iris config.json with its reference block (4 features tracked, priors); "off": the same without it. Both count predictions by label (labels are needed by the row format).`);
log('');
log('```');
const services: Record<Variant, { url: string; metricsUrl: string; child: ReturnType<typeof spawn> }> = {} as never;
try {
  for (const variant of ['off', 'on'] as Variant[]) {
    const port = await freePort();
    const metricsPort = await freePort();
    const args = [...(pin ? ['-c', '0', process.execPath] : []), path.join(ROOT, 'dist/main.js')];
    const child = spawn(pin ? 'taskset' : process.execPath, args, {
      env: { PATH: process.env.PATH, PORT: String(port), METRICS_PORT: String(metricsPort), GRPC_PORT: '0', HOST: '127.0.0.1', MODEL_REPOSITORY: variants[variant], DEFAULT_MODEL: 'iris', LOG_LEVEL: 'warn', SHUTDOWN_DELAY_MS: '0', NODE_ENV: 'production' },
      stdio: 'ignore',
    });
    services[variant] = { url: `http://127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${metricsPort}`, child };
    const deadline = Date.now() + 120_000;
    while ((await fetch(`${services[variant].url}/ready`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${variant}: dist/main.js did not become ready (run npm run build)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await runLoad({ url: services[variant].url, payload: irisPredict, connections: 64, durationSec: 2 }); // warm-up
  }
  for (let round = 1; round <= rounds; round++) {
    const order: Variant[] = round % 2 ? ['off', 'on'] : ['on', 'off'];
    const rps: Partial<Record<Variant, number>> = {};
    for (const variant of order) {
      const run = await runLoad({ url: services[variant].url, payload: irisPredict, connections: 64, durationSec: seconds });
      results[variant].rps.push(run.reqPerSec);
      results[variant].p99.push(run.p99);
      rps[variant] = run.reqPerSec;
      log(`round ${round} ${variant.padEnd(3)}: ${Math.round(run.reqPerSec)} req/s, p99 ${run.p99} ms, non-2xx ${run.non2xx}`);
    }
    paired.push(rps.on! / rps.off!);
  }
  for (const variant of ['off', 'on'] as Variant[]) {
    const scrape = await (await fetch(`${services[variant].metricsUrl}/metrics`)).text();
    const observed = /^meshserve_feature_observations_total\{[^}]*feature="petal_length_cm"\} (\S+)$/m.exec(scrape)?.[1];
    if (variant === 'on' && !(Number(observed) > 0)) throw new Error('statistics on, but no feature observations were recorded');
    if (variant === 'off' && observed !== undefined) throw new Error('statistics off, but feature series were exported');
    if (variant === 'on') log(`(on: meshserve_feature_observations_total of petal_length_cm after the runs: ${observed})`);
  }
} finally {
  for (const { child } of Object.values(services)) {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
  rmSync(repoWith, { recursive: true, force: true });
  rmSync(repoWithout, { recursive: true, force: true });
}
log('```');
log('');
const off = median(results.off.rps);
const on = median(results.on.rps);
log(`| statistics | req/s (median) | p99 ms (median) |`);
log(`|---|---:|---:|`);
log(`| off | ${Math.round(off)} | ${median(results.off.p99)} |`);
log(`| on | ${Math.round(on)} | ${median(results.on.p99)} |`);
log('');
const sorted = [...paired].sort((a, b) => a - b);
const quartile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
log(`Ratio on / off of the medians: ${(on / off).toFixed(3)}; median of the per-round ratios: ${median(paired).toFixed(3)}, interquartile range ${quartile(0.25).toFixed(3)} to ${quartile(0.75).toFixed(3)}.`);
log(`In-process, the statistics add ${oneRow.toFixed(0)} ns to a one-row request; at ${Math.round(off)} req/s on one core a request costs ${(1e9 / off / 1000).toFixed(0)} us of CPU, so the expected cost is ${((100 * oneRow) / (1e9 / off)).toFixed(2)}%.`);
writeFileSync(path.join(ROOT, 'bench/results/business-metrics.md'), `${lines.join('\n')}\n`);
