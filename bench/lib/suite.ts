import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { measureCeiling, type CeilingRun } from './ceiling.ts';
import { cpuWindow, type CpuWindow } from './cpu.ts';
import { median, runLoad, summarise, type RunStats, type Summary } from './load.ts';
import { describeMachine, type Machine } from './machine.ts';
import { makeRepository } from './models.ts';
import { childPids, get, type Child } from './processes.ts';
import { log } from './progress.ts';
import { OVERLOAD, SERVICES, scenarios, type Scenario, type ServiceName } from './scenarios.ts';
import { startHello, startService, type ServiceSettings } from './service.ts';

export interface SuiteOptions {
  runs: number;
  durationSec: number;
  warmupSec: number;
  ceilingSecPerBatch: number;
  overloadSec: number;
}

export const FULL: SuiteOptions = { runs: 3, durationSec: 10, warmupSec: 2, ceilingSecPerBatch: 1, overloadSec: 15 };
export const QUICK: SuiteOptions = { runs: 1, durationSec: 3, warmupSec: 1, ceilingSecPerBatch: 0.3, overloadSec: 5 };

export const CEILING_BATCHES = [1, 8, 16, 32, 64, 128];

export interface ScenarioResult {
  id: string;
  series: string;
  label: string;
  service: ServiceName;
  settings?: ServiceSettings;
  connections: number;
  rowsPerRequest: number;
  summary: Summary;
  runs: (RunStats & { cpu: CpuWindow })[];
}

export interface CeilingResult {
  threads: number;
  sessions: number;
  /** Median over rounds of the best rows/s, and the batch size that was best most often. */
  bestRowsPerSec: number;
  bestBatch: number;
  /** Median rows/s per batch size over rounds. */
  points: { batch: number; rowsPerSec: number; msPerBatch: number }[];
  rounds: CeilingRun[];
}

export interface OverloadResult {
  settings: ServiceSettings;
  connections: number;
  durationSec: number;
  sent: number;
  ok: number;
  rejected503: number;
  otherNon2xx: Record<string, number>;
  errors: number;
  errorCodes: Record<string, number>;
  timeouts: number;
  okP99Ms: number;
  rejectP50Ms: number;
  rejectP99Ms: number;
  /** /healthz probed every 250 ms during the overload. */
  healthzDuring: { probes: number; failed: number; maxMs: number };
  afterwards: { healthz: number | null; ready: number | null; inferenceStatus: number | null };
  cpu: CpuWindow;
}

/** A service that was found dead during the suite and started again. */
export interface Restart {
  service: ServiceName;
  before: string;
  exitCode: number | null;
  signal: string | null;
  stderr: string;
}

export interface SuiteResult {
  name: string;
  date: string;
  machine: Machine;
  options: SuiteOptions;
  services: Record<string, ServiceSettings>;
  ceiling: CeilingResult[];
  scenarios: ScenarioResult[];
  overload: OverloadResult;
  restarts: Restart[];
  loadAverageAtEnd: number[];
  wallClockSec: number;
}

const ours = () => [process.pid, ...childPids];

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** Rows/s per ceiling configuration, medians over the rounds. */
function combineCeiling(rounds: CeilingRun[]): CeilingResult {
  const first = rounds[0]!;
  const points = first.points.map((p, i) => ({
    batch: p.batch,
    rowsPerSec: median(rounds.map((r) => r.points[i]!.rowsPerSec)),
    msPerBatch: median(rounds.map((r) => r.points[i]!.msPerBatch)),
  }));
  const best = points.reduce((a, b) => (b.rowsPerSec > a.rowsPerSec ? b : a));
  return {
    threads: first.threads,
    sessions: first.sessions,
    bestRowsPerSec: median(rounds.map((r) => r.best.rowsPerSec)),
    bestBatch: best.batch,
    points,
    rounds,
  };
}

/**
 * Runs every scenario `runs` times, round-robin (round 1 of every scenario, then round 2, ...), with
 * every service started once at the beginning. Interleaving spreads any disturbance from other work on
 * the machine over all scenarios instead of letting it land on one side of a comparison.
 */
export async function runSuite(name: string, o: SuiteOptions): Promise<SuiteResult> {
  const t0 = performance.now();
  const machine = describeMachine();
  log(`machine: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, load average ${machine.loadAverageAtStart.join(' ')}`);
  const repo = makeRepository();
  log(`model repository ${repo.dir} (iris + synthetic MLP 1024-2048-2048-1000)`);
  const list = scenarios();
  const services = new Map<ServiceName, { url: string; child: Child; stop: () => Promise<number | null> }>();
  const restarts: Restart[] = [];
  const start = (svc: ServiceName) => (svc === 'hello' ? startHello() : startService(repo.dir, SERVICES[svc]));
  // Another process on a shared machine may stop a service; start it again and record it rather than
  // measuring connection errors.
  const ensureAlive = async (svc: ServiceName, before: string): Promise<boolean> => {
    const { child } = services.get(svc)!;
    if (child.proc.exitCode === null && child.proc.signalCode === null) return false;
    const restart = { service: svc, before, exitCode: child.proc.exitCode, signal: child.proc.signalCode, stderr: child.stderr().slice(-2000) };
    restarts.push(restart);
    log(`service "${svc}" had exited (code ${restart.exitCode}, signal ${restart.signal}); starting it again`);
    services.set(svc, await start(svc));
    return true;
  };
  const stats = new Map<string, (RunStats & { cpu: CpuWindow })[]>(list.map((s) => [s.id, []]));
  const ceilingRounds = new Map<string, CeilingRun[]>();
  try {
    services.set('hello', await start('hello'));
    for (const [svc, settings] of Object.entries(SERVICES) as [keyof typeof SERVICES, ServiceSettings][]) {
      log(`starting service "${svc}": MAX_BATCH_SIZE=${settings.maxBatchSize} ORT_INTRA_OP_THREADS=${settings.intraOpThreads}`);
      services.set(svc, await start(svc));
    }

    log(`warm-up: ${o.warmupSec} s per scenario`);
    for (const s of list) await runLoad({ url: services.get(s.service)!.url, payload: s.payload, connections: s.connections, durationSec: o.warmupSec });

    for (let round = 1; round <= o.runs; round++) {
      for (const [threads, sessions] of [
        [1, 1],
        [2, 1],
        [1, 2],
      ] as const) {
        log(`round ${round}/${o.runs} in-process onnxruntime ceiling: ${sessions} session(s), ${threads} intra-op thread(s), batches ${CEILING_BATCHES.join(',')}`);
        const r = await measureCeiling(repo.mlpPath, { threads, sessions, seconds: o.ceilingSecPerBatch, batches: CEILING_BATCHES });
        const key = `${threads}x${sessions}`;
        ceilingRounds.set(key, [...(ceilingRounds.get(key) ?? []), r]);
        log(`  best ${fmt(r.best.rowsPerSec)} rows/s at batch ${r.best.batch}`);
      }
      for (const [i, s] of list.entries()) {
        const label = `round ${round}/${o.runs} [${i + 1}/${list.length}] ${s.label}, ${s.connections} connections, ${o.durationSec} s`;
        log(label);
        await ensureAlive(s.service, s.id);
        let end = cpuWindow(ours, services.get(s.service)!.child.proc.pid);
        let r = await runLoad({ url: services.get(s.service)!.url, payload: s.payload, connections: s.connections, durationSec: o.durationSec });
        let cpu = end();
        if (await ensureAlive(s.service, s.id)) {
          log('  the service died during this run: running it again');
          end = cpuWindow(ours, services.get(s.service)!.child.proc.pid);
          r = await runLoad({ url: services.get(s.service)!.url, payload: s.payload, connections: s.connections, durationSec: o.durationSec });
          cpu = end();
        }
        stats.get(s.id)!.push({ ...r, cpu });
        log(
          `  ${fmt(r.reqPerSec)} req/s, p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms, non-2xx ${r.non2xx}, errors ${r.errors}; CPU cores: service ${fmt(cpu.service, 2)}, load generator ${fmt(cpu.ours - cpu.service, 2)}, other processes ${fmt(cpu.others, 2)} cores`,
        );
      }
    }
  } finally {
    for (const [svc, s] of services) {
      const code = await s.stop();
      if (code !== 0 && svc !== 'hello') log(`service "${svc}" exited with code ${code}`);
    }
  }

  const overload = await runOverload(repo.dir, o);
  repo.remove();

  const ceiling = [...ceilingRounds.values()].map(combineCeiling);
  return {
    name,
    date: new Date().toISOString(),
    machine,
    options: o,
    services: { ...SERVICES },
    ceiling,
    scenarios: list.map((s) => ({
      id: s.id,
      series: s.series,
      label: s.label,
      service: s.service,
      ...(s.service !== 'hello' ? { settings: SERVICES[s.service] } : {}),
      connections: s.connections,
      rowsPerRequest: s.payload.rows,
      summary: summarise(stats.get(s.id)!),
      runs: stats.get(s.id)!,
    })),
    overload,
    restarts,
    loadAverageAtEnd: os.loadavg().map((v) => Math.round(v * 100) / 100),
    wallClockSec: Math.round((performance.now() - t0) / 1000),
  };
}

async function runOverload(repository: string, o: SuiteOptions): Promise<OverloadResult> {
  const settings = OVERLOAD.settings;
  log(`overload: MAX_QUEUE_SIZE=${settings.maxQueueSize}, ${OVERLOAD.connections} connections of MLP V2 JSON for ${o.overloadSec} s`);
  const svc = await startService(repository, settings);
  try {
    const payload = OVERLOAD.payload();
    await runLoad({ url: svc.url, payload, connections: 16, durationSec: o.warmupSec });
    let probing = true;
    const probes: number[] = [];
    let failed = 0;
    const prober = (async () => {
      while (probing) {
        const r = await get(`${svc.url}/healthz`, 2000);
        if (r?.status === 200) probes.push(r.ms);
        else failed++;
        await sleep(250);
      }
    })();
    const end = cpuWindow(ours, svc.child.proc.pid);
    const r = await runLoad({ url: svc.url, payload, connections: OVERLOAD.connections, durationSec: o.overloadSec });
    const cpu = end();
    probing = false;
    await prober;
    await sleep(500);
    const healthz = await get(`${svc.url}/healthz`);
    const ready = await get(`${svc.url}/ready`);
    const infer = await fetch(`${svc.url}${payload.path}`, { method: 'POST', headers: payload.headers, body: new Uint8Array(payload.body!) }).catch(() => undefined);
    await infer?.arrayBuffer();
    const otherNon2xx = Object.fromEntries(Object.entries(r.statuses).filter(([code]) => !code.startsWith('2') && code !== '503'));
    const result: OverloadResult = {
      settings,
      connections: OVERLOAD.connections,
      durationSec: r.durationSec,
      sent: r.ok + r.non2xx + r.errors,
      ok: r.ok,
      rejected503: r.statuses['503'] ?? 0,
      otherNon2xx,
      errors: r.errors,
      errorCodes: r.errorCodes,
      timeouts: r.timeouts,
      okP99Ms: r.p99,
      rejectP50Ms: r.rejectLatency['503']?.p50 ?? NaN,
      rejectP99Ms: r.rejectLatency['503']?.p99 ?? NaN,
      healthzDuring: { probes: probes.length + failed, failed, maxMs: probes.length ? Math.max(...probes) : NaN },
      afterwards: { healthz: healthz?.status ?? null, ready: ready?.status ?? null, inferenceStatus: infer?.status ?? null },
      cpu,
    };
    log(
      `  2xx ${result.ok}, 503 ${result.rejected503} (p99 ${fmt(result.rejectP99Ms, 1)} ms), other non-2xx ${JSON.stringify(otherNon2xx)}, errors ${result.errors} ${JSON.stringify(result.errorCodes)}; afterwards /healthz ${result.afterwards.healthz}, /ready ${result.afterwards.ready}`,
    );
    return result;
  } finally {
    await svc.stop();
  }
}
