// The pod's size: one CPU. The service runs pinned to core 0 (taskset), the load generator (this process)
// on the other cores, and every baseline a ratio compares with runs on core 0 in the same round: the
// in-process onnxruntime ceiling (bench/ort-ceiling.ts) and a bare node:http route reading the same body.
// Ratios are per round, then the median over rounds; CPU per 1,000 rows is the service's own CPU time
// (all its threads) over the rows it answered.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { measureCeiling } from './ceiling.ts';
import { cpuWindow, type CpuWindow } from './cpu.ts';
import { median, runLoad, type RunStats } from './load.ts';
import { describeMachine, type Machine } from './machine.ts';
import { makeRepository } from './models.ts';
import { irisPredict, mlpBinary, mlpJson, mlpRows, nodeRead, type Payload } from './payloads.ts';
import { childPids } from './processes.ts';
import { log } from './progress.ts';
import { DEFAULT_SETTINGS, startHello, startService, type ServiceSettings } from './service.ts';

export interface OneCoreOptions {
  rounds: number;
  durationSec: number;
  warmupSec: number;
  ceilingSec: number;
}

export const ONE_CORE: OneCoreOptions = { rounds: 3, durationSec: 5, warmupSec: 2, ceilingSec: 1.5 };
export const ONE_CORE_QUICK: OneCoreOptions = { rounds: 1, durationSec: 3, warmupSec: 1, ceilingSec: 0.5 };

/** The throughput scenarios (64 connections, defaults) and what each is compared with. */
const RATIO_SCENARIOS = [
  { id: 'mlp-binary-c64', label: 'MLP V2 binary', baseline: 'ceiling', goal: 0.75 },
  { id: 'mlp-json-c64', label: 'MLP V2 JSON', baseline: 'ceiling', goal: 0.55 },
  { id: 'mlp-rows-c64', label: 'MLP POST /v1/models/mlp:predict rows', baseline: 'ceiling', goal: 0.55 },
  { id: 'iris-c64', label: 'iris POST /predict', baseline: 'node-read-c64', goal: 0.5 },
] as const;

/** Latency scenarios at 1 connection: the overhead over the in-process batch-1 run. */
const LATENCY_SCENARIOS = [
  { id: 'iris-c1', label: 'iris POST /predict', model: 'iris', target: 250 },
  { id: 'mlp-binary-c1', label: 'MLP V2 binary', model: 'mlp', target: undefined },
  { id: 'mlp-rows-c1', label: 'MLP POST /v1/models/mlp:predict rows', model: 'mlp', target: undefined },
] as const;

interface Scenario {
  id: string;
  service: 'defaults' | 'no-delay' | 'node-read';
  payload: Payload;
  connections: number;
}

export interface OneCoreRun extends RunStats {
  cpu: CpuWindow;
  /** Service CPU time per 1,000 rows answered, ms. */
  cpuMsPer1000Rows: number;
}

export interface OneCoreRound {
  round: number;
  /** In-process rows/s on core 0: MLP at batch 32 and 1, iris at batch 1. */
  ceiling: { mlpBatch32: number; mlpBatch1: number; irisBatch1: number };
  runs: Record<string, OneCoreRun>;
}

export interface OneCoreResult {
  name: string;
  date: string;
  machine: Machine;
  /** The build measured, when not this tree's (--root). */
  serviceRoot?: string;
  pinned: boolean;
  serviceCpus: string;
  loadCpus: string;
  options: OneCoreOptions;
  services: Record<string, ServiceSettings>;
  rounds: OneCoreRound[];
  ratios: { id: string; label: string; baseline: string; goal: number; perRound: number[]; median: number; met: boolean }[];
  latency: { id: string; label: string; perRoundUs: number[]; medianUs: number; inProcessUs: number; overheadUs: number; target?: number; met?: boolean }[];
  cpuPer1000Rows: { id: string; medianMs: number; ceilingMs?: number }[];
  wallClockSec: number;
}

/** Pins this process (all its threads) to `cpus`; false when taskset is missing. */
function pinSelf(cpus: string): boolean {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { encoding: 'utf8' });
  return r.status === 0;
}

export async function runOneCore(name: string, o: OneCoreOptions, serviceRoot?: string): Promise<OneCoreResult> {
  const t0 = performance.now();
  const machine = describeMachine();
  const cores = os.cpus().length;
  const canPin = cores >= 2 && pinSelf(`1-${cores - 1}`);
  const serviceCpus = canPin ? '0' : 'all';
  const loadCpus = canPin ? `1-${cores - 1}` : 'all';
  if (canPin) log(`one-core mode: service and baselines pinned to core 0, load generator to cores ${loadCpus}`);
  else log(`one-core mode: NOT pinned (${cores < 2 ? 'the machine has one core' : 'taskset failed'}); service and load generator share the cores, the ratios mean less`);
  const cpus = canPin ? { cpus: '0' } : {};
  const repo = makeRepository();
  const services = { defaults: { ...DEFAULT_SETTINGS }, 'no-delay': { ...DEFAULT_SETTINGS, batchDelayMs: 0 } };
  const scenarios: Scenario[] = [
    { id: 'node-read-c64', service: 'node-read', payload: nodeRead, connections: 64 },
    { id: 'iris-c64', service: 'defaults', payload: irisPredict, connections: 64 },
    { id: 'mlp-binary-c64', service: 'defaults', payload: mlpBinary(), connections: 64 },
    { id: 'mlp-json-c64', service: 'defaults', payload: mlpJson(), connections: 64 },
    { id: 'mlp-rows-c64', service: 'defaults', payload: mlpRows(), connections: 64 },
    { id: 'node-read-c1', service: 'node-read', payload: nodeRead, connections: 1 },
    { id: 'iris-c1', service: 'no-delay', payload: irisPredict, connections: 1 },
    { id: 'mlp-binary-c1', service: 'no-delay', payload: mlpBinary(), connections: 1 },
    { id: 'mlp-rows-c1', service: 'no-delay', payload: mlpRows(), connections: 1 },
  ];
  const running = {
    'node-read': await startHello(cpus),
    defaults: await startService(repo.dir, services.defaults, { ...cpus, root: serviceRoot }),
    'no-delay': await startService(repo.dir, services['no-delay'], { ...cpus, root: serviceRoot }),
  };
  const rounds: OneCoreRound[] = [];
  try {
    log(`warm-up: ${o.warmupSec} s per scenario`);
    for (const s of scenarios) await runLoad({ url: running[s.service].url, payload: s.payload, connections: s.connections, durationSec: o.warmupSec });
    const irisPath = `${repo.dir}/iris/1/model.onnx`;
    for (let round = 1; round <= o.rounds; round++) {
      const mlp = await measureCeiling(repo.mlpPath, { threads: 1, sessions: 1, seconds: o.ceilingSec, batches: [1, 32], ...cpus });
      const iris = await measureCeiling(irisPath, { threads: 1, sessions: 1, seconds: o.ceilingSec, batches: [1], ...cpus });
      const ceiling = { mlpBatch32: mlp.points[1]!.rowsPerSec, mlpBatch1: mlp.points[0]!.rowsPerSec, irisBatch1: iris.points[0]!.rowsPerSec };
      log(`round ${round}/${o.rounds} in-process on core ${serviceCpus}: MLP ${Math.round(ceiling.mlpBatch32)} rows/s at batch 32, ${Math.round(ceiling.mlpBatch1)} at batch 1; iris ${Math.round(ceiling.irisBatch1)} at batch 1`);
      const runs: Record<string, OneCoreRun> = {};
      for (const s of scenarios) {
        const svc = running[s.service];
        const end = cpuWindow(() => [process.pid, ...childPids], svc.child.proc.pid);
        const r = await runLoad({ url: svc.url, payload: s.payload, connections: s.connections, durationSec: o.durationSec });
        const cpu = end();
        const cpuMsPer1000Rows = s.payload.rows > 0 && r.rowsPerSec > 0 ? (cpu.service / r.rowsPerSec) * 1e6 : NaN;
        runs[s.id] = { ...r, cpu, cpuMsPer1000Rows };
        log(
          `  ${s.id}: ${Math.round(r.reqPerSec)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}; service ${cpu.service.toFixed(2)} cores${Number.isFinite(cpuMsPer1000Rows) ? ` (${cpuMsPer1000Rows.toFixed(0)} ms CPU per 1,000 rows)` : ''}, other processes ${cpu.others.toFixed(2)} cores`,
        );
      }
      rounds.push({ round, ceiling, runs });
    }
  } finally {
    for (const svc of Object.values(running)) await svc.stop();
    repo.remove();
  }
  const ratios = RATIO_SCENARIOS.map((s) => {
    const perRound = rounds.map((r) => r.runs[s.id]!.rowsPerSec / (s.baseline === 'ceiling' ? r.ceiling.mlpBatch32 : r.runs[s.baseline]!.reqPerSec));
    const m = median(perRound);
    return { id: s.id, label: s.label, baseline: s.baseline === 'ceiling' ? 'in-process onnxruntime, batch 32, same core' : 'node:http POST /node-read, same core', goal: s.goal, perRound, median: m, met: m >= s.goal };
  });
  const latency = LATENCY_SCENARIOS.map((s) => {
    const perRoundUs = rounds.map((r) => 1e6 / r.runs[s.id]!.reqPerSec);
    const inProcessUs = median(rounds.map((r) => 1e6 / (s.model === 'iris' ? r.ceiling.irisBatch1 : r.ceiling.mlpBatch1)));
    const medianUs = median(perRoundUs);
    const overheadUs = median(rounds.map((r, i) => perRoundUs[i]! - 1e6 / (s.model === 'iris' ? r.ceiling.irisBatch1 : r.ceiling.mlpBatch1)));
    return { id: s.id, label: s.label, perRoundUs, medianUs, inProcessUs, overheadUs, ...(s.target !== undefined ? { target: s.target, met: overheadUs < s.target } : {}) };
  });
  const cpuPer1000Rows = ['iris-c64', 'mlp-binary-c64', 'mlp-json-c64', 'mlp-rows-c64'].map((id) => ({
    id,
    medianMs: median(rounds.map((r) => r.runs[id]!.cpuMsPer1000Rows)),
    ...(id.startsWith('mlp') ? { ceilingMs: median(rounds.map((r) => 1e6 / r.ceiling.mlpBatch32)) } : {}),
  }));
  return {
    name,
    date: new Date().toISOString(),
    machine,
    ...(serviceRoot ? { serviceRoot } : {}),
    pinned: canPin,
    serviceCpus,
    loadCpus,
    options: o,
    services,
    rounds,
    ratios,
    latency,
    cpuPer1000Rows,
    wallClockSec: Math.round((performance.now() - t0) / 1000),
  };
}

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');

export function oneCoreMarkdown(r: OneCoreResult): string {
  const m = r.machine;
  const others = r.rounds.flatMap((x) => Object.values(x.runs).map((run) => run.cpu.others));
  const lines = [
    `# One core (the pod's size): ${r.name}`,
    '',
    `${r.date}, commit ${m.commit}${r.serviceRoot ? ` (service built from ${r.serviceRoot})` : ''}, ${m.cpuModel}, ${m.cores} cores, Node ${m.node}, onnxruntime-node ${m.onnxruntime}; load average at start ${m.loadAverageAtStart.join(' ')}.`,
    r.pinned
      ? `Service and baselines pinned to core ${r.serviceCpus} (taskset), load generator on cores ${r.loadCpus}.`
      : 'NOT pinned: the machine has one core or taskset failed; service and load generator shared the cores.',
    `${r.options.rounds} round(s) of ${r.options.durationSec} s per scenario; each round measures its own baselines. Other processes used ${f2(Math.min(...others))}-${f2(Math.max(...others))} cores during the runs (above ~0.2 the machine was busy).`,
    '',
    '## Ratios (medians of per-round ratios), 64 connections, one row per request, defaults',
    '',
    '| scenario | baseline | per round | median | goal |',
    '|---|---|---|---:|---:|',
    ...r.ratios.map((x) => `| ${x.label} | ${x.baseline} | ${x.perRound.map(f2).join(', ')} | ${f2(x.median)} | ${f2(x.goal)} ${x.met ? 'met' : 'not met'} |`),
    '',
    '## Throughput and CPU per 1,000 rows (medians)',
    '',
    '| scenario | req/s | p50 ms | p99 ms | service cores | service CPU ms per 1,000 rows |',
    '|---|---:|---:|---:|---:|---:|',
    ...Object.keys(r.rounds[0]!.runs).map((id) => {
      const runs = r.rounds.map((x) => x.runs[id]!);
      return `| ${id} | ${f0(median(runs.map((x) => x.reqPerSec)))} | ${median(runs.map((x) => x.p50))} | ${median(runs.map((x) => x.p99))} | ${f2(median(runs.map((x) => x.cpu.service)))} | ${f0(median(runs.map((x) => x.cpuMsPer1000Rows)))} |`;
    }),
    `| in-process MLP, batch 32 | ${f0(median(r.rounds.map((x) => x.ceiling.mlpBatch32)))} rows/s | | | 1.00 | ${f0(median(r.rounds.map((x) => 1e6 / x.ceiling.mlpBatch32)))} |`,
    '',
    '## Latency at 1 connection (BATCH_DELAY_MS=0): mean time per request minus the in-process batch-1 run',
    '',
    '| scenario | per request, per round (us) | in-process batch 1 (us) | overhead (us, median) | target |',
    '|---|---|---:|---:|---:|',
    ...r.latency.map((x) => `| ${x.label} | ${x.perRoundUs.map(f0).join(', ')} | ${f0(x.inProcessUs)} | ${f0(x.overheadUs)} | ${x.target === undefined ? '-' : `< ${x.target} ${x.met ? 'met' : 'not met'}`} |`),
    `| bare node:http POST /node-read (the HTTP round trip alone) | ${r.rounds.map((x) => f0(1e6 / x.runs['node-read-c1']!.reqPerSec)).join(', ')} | - | - | - |`,
    '',
    `Wall clock ${r.wallClockSec} s.`,
    '',
  ];
  return lines.join('\n');
}
