/**
 * The single-pod measurements the capacity model is built on and checked against, on one core:
 * the service pinned to core 0 (`taskset`), this process and its load generator on core 1.
 *   1. onnxruntime's cost per batch size on one core (bench/ort-ceiling.ts, in-process);
 *   2. calibration runs that are not the validation points: batching off at 1 and 64 connections,
 *      batching on at 1 connection, MAX_BATCH_SIZE=8 at 256 connections. From them: CPU per
 *      request and per batch beyond onnxruntime's own, the effective batch delay, and the
 *      latency that is not CPU (loopback, load generator, thread hand-offs);
 *   3. the service with batching on (32 rows, 2 ms) at 8, 64 and 256 connections: what the
 *      simulator must reproduce.
 * Writes bench/results/capacity-validation.json.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { measureCeiling } from '../lib/ceiling.ts';
import { cpuWindow } from '../lib/cpu.ts';
import { median, runLoad, summarise, type RunStats } from '../lib/load.ts';
import { describeMachine } from '../lib/machine.ts';
import { makeRepository } from '../lib/models.ts';
import { mlpBinary } from '../lib/payloads.ts';
import { childPids } from '../lib/processes.ts';
import { log } from '../lib/progress.ts';
import { DEFAULT_SETTINGS, ROOT, startService, type RunningService } from '../lib/service.ts';

export const VALIDATION_FILE = path.join(ROOT, 'bench/results/capacity-validation.json');
export const CONNECTIONS = [8, 64, 256];
const BATCHES = [1, 2, 4, 8, 16, 32, 64];

export interface MeasuredPoint {
  connections: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  reqPerSecMin: number;
  reqPerSecMax: number;
  failed: number;
  /** CPU of other processes on the machine during each run, cores. */
  othersCpu: number[];
  /** CPU of the service process during each run, cores (at most 1: it is pinned). */
  serviceCpu: number[];
  runs: RunStats[];
}

export interface Validation {
  date: string;
  machine: ReturnType<typeof describeMachine>;
  method: string;
  runs: number;
  seconds: number;
  /** Median over rounds of ms per batch on one core, per batch size. */
  batchMs: Array<[number, number]>;
  batchMsRounds: Array<Array<[number, number]>>;
  /** Seconds from `node dist/main.js` to /ready 200, pinned to one core. */
  startupSeconds: number[];
  /** Runs used to calibrate the model, by name: off-1, on-1, off-64, b8-256. */
  calibration: Record<string, MeasuredPoint>;
  /** Batching on (MAX_BATCH_SIZE=32, BATCH_DELAY_MS=2): the points the simulator is checked against. */
  points: MeasuredPoint[];
}

function pin(pid: number, core: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

export async function measure(o: { runs: number; seconds: number; build: boolean }): Promise<Validation> {
  pin(process.pid, 1);
  if (o.build) {
    log('building the service (npm run build)');
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  const repo = makeRepository();
  const services: RunningService[] = [];
  try {
    const batchMsRounds: Array<Array<[number, number]>> = [];
    for (let i = 0; i < o.runs; i++) {
      log(`onnxruntime cost per batch, one core, round ${i + 1}`);
      const r = await measureCeiling(repo.mlpPath, { threads: 1, sessions: 1, seconds: 1, batches: BATCHES });
      batchMsRounds.push(r.points.map((p) => [p.batch, p.msPerBatch]));
    }
    const batchMs = BATCHES.map((b, i) => [b, median(batchMsRounds.map((r) => r[i]![1]))] as [number, number]);

    const startupSeconds: number[] = [];
    const start = async (maxBatchSize: number) => {
      const t0 = performance.now();
      const svc = await startService(repo.dir, { ...DEFAULT_SETTINGS, maxBatchSize });
      startupSeconds.push((performance.now() - t0) / 1000);
      pin(svc.child.proc.pid!, 0);
      services.push(svc);
      return svc;
    };
    const on = await start(32);
    const off = await start(1);
    const b8 = await start(8);
    const payload = mlpBinary();
    const plan = [
      { svc: off, c: 1, key: 'off-1' },
      { svc: on, c: 1, key: 'on-1' },
      { svc: off, c: 64, key: 'off-64' },
      { svc: b8, c: 256, key: 'b8-256' },
      ...CONNECTIONS.map((c) => ({ svc: on, c, key: `on-${c}` })),
    ];
    for (const p of plan) await runLoad({ url: p.svc.url, payload, connections: p.c, durationSec: 2 });
    const runs = new Map<string, { stats: RunStats[]; others: number[]; service: number[] }>();
    for (let round = 0; round < o.runs; round++) {
      for (const p of plan) {
        const window = cpuWindow(() => [process.pid, ...childPids], p.svc.child.proc.pid);
        const stats = await runLoad({ url: p.svc.url, payload, connections: p.c, durationSec: o.seconds });
        const cpu = window();
        const entry = runs.get(p.key) ?? { stats: [], others: [], service: [] };
        entry.stats.push(stats);
        entry.others.push(Math.round(cpu.others * 100) / 100);
        entry.service.push(Math.round(cpu.service * 100) / 100);
        runs.set(p.key, entry);
        log(`round ${round + 1} ${p.key}: ${Math.round(stats.reqPerSec)} req/s, p50 ${stats.p50} p99 ${stats.p99} ms, service CPU ${cpu.service.toFixed(2)}, other CPU ${cpu.others.toFixed(2)}`);
      }
    }
    const point = (key: string, connections: number): MeasuredPoint => {
      const { stats, others, service } = runs.get(key)!;
      const s = summarise(stats);
      return { connections, reqPerSec: s.reqPerSec, p50: s.p50, p99: s.p99, reqPerSecMin: s.reqPerSecMin, reqPerSecMax: s.reqPerSecMax, failed: s.non2xx + s.errors, othersCpu: others, serviceCpu: service, runs: stats };
    };
    return {
      date: new Date().toISOString(),
      machine: describeMachine(),
      method:
        'service (node dist/main.js) pinned to core 0 with taskset -a; load generator (autocannon, in the measuring process) and the in-process onnxruntime runs on core 1; MLP 1024-2048-2048-1000 V2 binary, one row per request; medians over interleaved rounds',
      runs: o.runs,
      seconds: o.seconds,
      batchMs,
      batchMsRounds,
      startupSeconds,
      calibration: { 'off-1': point('off-1', 1), 'on-1': point('on-1', 1), 'off-64': point('off-64', 64), 'b8-256': point('b8-256', 256) },
      points: CONNECTIONS.map((c) => point(`on-${c}`, c)),
    };
  } finally {
    for (const s of services) await s.stop();
    repo.remove();
  }
}

export function writeValidation(v: Validation): void {
  writeFileSync(VALIDATION_FILE, `${JSON.stringify(v, null, 2)}\n`);
  log(`wrote ${path.relative(ROOT, VALIDATION_FILE)}`);
}
