import { setTimeout as sleep } from 'node:timers/promises';
import { renderSvg } from './chart.ts';
import { cpuWindow, type CpuWindow } from './cpu.ts';
import { runLoad, type RunStats } from './load.ts';
import { describeMachine, type Machine } from './machine.ts';
import { makeRepository } from './models.ts';
import { mlpJson } from './payloads.ts';
import { childPids, get } from './processes.ts';
import { log } from './progress.ts';
import { DEFAULT_SETTINGS, startService, type ServiceSettings } from './service.ts';

export interface SoakOptions {
  durationSec: number;
  sampleEverySec: number;
  connections: number;
  /** Samples before this are warm-up and left out of the slope. */
  warmupSec: number;
}

export interface Sample {
  t: number;
  rssMb: number;
  heapUsedMb: number;
  externalMb: number;
  answered: number;
}

export interface Trend {
  startMb: number;
  endMb: number;
  maxMb: number;
  /** Least-squares slope over the samples after warm-up, MB per minute. */
  slopeMbPerMin: number;
}

export interface SoakResult {
  name: 'soak';
  date: string;
  machine: Machine;
  options: SoakOptions;
  settings: ServiceSettings;
  load: Omit<RunStats, 'rejectLatency'>;
  rss: Trend;
  heapUsed: Trend;
  external: Trend;
  samples: Sample[];
  cpu: CpuWindow;
}

/** Reads one sample-less gauge from Prometheus text. */
function gauge(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

function trend(samples: Sample[], pick: (s: Sample) => number, warmupSec: number): Trend {
  const steady = samples.filter((s) => s.t >= warmupSec);
  const pts = steady.length >= 2 ? steady : samples;
  const n = pts.length;
  const mx = pts.reduce((a, s) => a + s.t, 0) / n;
  const my = pts.reduce((a, s) => a + pick(s), 0) / n;
  let num = 0;
  let den = 0;
  for (const s of pts) {
    num += (s.t - mx) * (pick(s) - my);
    den += (s.t - mx) ** 2;
  }
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    startMb: r(pick(samples[0]!)),
    endMb: r(pick(samples.at(-1)!)),
    maxMb: r(Math.max(...samples.map(pick))),
    slopeMbPerMin: Math.round((den ? (num / den) * 60 : 0) * 100) / 100,
  };
}

/** Steady load on the MLP (V2 JSON, batching on) while RSS and heap are sampled from /metrics. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const machine = describeMachine();
  const repo = makeRepository();
  const settings = { ...DEFAULT_SETTINGS };
  log(`soak: ${o.durationSec} s of MLP V2 JSON at ${o.connections} connections, batching on; memory sampled every ${o.sampleEverySec} s`);
  const svc = await startService(repo.dir, settings);
  const samples: Sample[] = [];
  let answered = 0;
  try {
    const t0 = performance.now();
    let sampling = true;
    const sampler = (async () => {
      let lastLog = -Infinity;
      while (sampling) {
        const r = await get(svc.metricsUrl, 5000);
        if (r?.status === 200) {
          const mb = (name: string) => Math.round((gauge(r.body, name) / 1024 ** 2) * 10) / 10;
          const s = { t: Math.round((performance.now() - t0) / 100) / 10, rssMb: mb('process_resident_memory_bytes'), heapUsedMb: mb('nodejs_heap_size_used_bytes'), externalMb: mb('nodejs_external_memory_bytes'), answered };
          samples.push(s);
          if (s.t - lastLog >= 30) {
            lastLog = s.t;
            log(`  t=${Math.round(s.t)} s: RSS ${s.rssMb} MB, heap used ${s.heapUsedMb} MB, external ${s.externalMb} MB, ${s.answered} responses`);
          }
        }
        await sleep(o.sampleEverySec * 1000);
      }
    })();
    const end = cpuWindow(() => [process.pid, ...childPids], svc.child.proc.pid);
    const payload = mlpJson();
    const died = new AbortController();
    const onExit = (code: number | null, signal: string | null) => {
      log(`the service exited during the soak (code ${code}, signal ${signal}); its last output:\n${svc.child.stderr()}`);
      died.abort();
    };
    svc.child.proc.once('exit', onExit);
    const stats = await runLoad({ url: svc.url, payload, connections: o.connections, durationSec: o.durationSec, onResponse: () => answered++, signal: died.signal });
    svc.child.proc.off('exit', onExit);
    const cpu = end();
    sampling = false;
    await sampler;
    if (died.signal.aborted) throw new Error('the service died during the soak; no result written');
    const { rejectLatency: _unused, ...load } = stats;
    const result: SoakResult = {
      name: 'soak',
      date: new Date().toISOString(),
      machine,
      options: o,
      settings,
      load,
      rss: trend(samples, (s) => s.rssMb, o.warmupSec),
      heapUsed: trend(samples, (s) => s.heapUsedMb, o.warmupSec),
      external: trend(samples, (s) => s.externalMb, o.warmupSec),
      samples,
      cpu,
    };
    log(
      `  ${Math.round(stats.reqPerSec)} req/s, ${stats.ok} ok, ${stats.non2xx} non-2xx, ${stats.errors} errors; RSS ${result.rss.startMb} -> ${result.rss.endMb} MB (max ${result.rss.maxMb}, slope ${result.rss.slopeMbPerMin} MB/min), heap used ${result.heapUsed.startMb} -> ${result.heapUsed.endMb} MB (max ${result.heapUsed.maxMb}, slope ${result.heapUsed.slopeMbPerMin} MB/min)`,
    );
    return result;
  } finally {
    await svc.stop();
    repo.remove();
  }
}

export function soakChart(r: SoakResult): Promise<string> {
  const values = r.samples.flatMap((s) => [
    { t: s.t, series: 'RSS', mb: s.rssMb },
    { t: s.t, series: 'V8 heap used', mb: s.heapUsedMb },
    { t: s.t, series: 'external (ArrayBuffers)', mb: s.externalMb },
  ]);
  return renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `meshserve soak: MLP V2 JSON, ${r.options.connections} connections, ${Math.round(r.load.reqPerSec)} req/s for ${Math.round(r.options.durationSec / 60)} min`,
    width: 560,
    height: 260,
    data: { values },
    mark: { type: 'line' },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'seconds under load' },
      y: { field: 'mb', type: 'quantitative', title: 'MB' },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' } },
    },
  });
}

export function soakMarkdown(r: SoakResult): string {
  const row = (name: string, t: Trend) => `| ${name} | ${t.startMb} | ${t.endMb} | ${t.maxMb} | ${t.slopeMbPerMin} |`;
  return [
    `## Soak (${r.date.slice(0, 16).replace('T', ' ')} UTC, ${Math.round(r.options.durationSec / 60)} min, ${r.options.connections} connections, MLP V2 JSON, batching on)`,
    '',
    `${r.load.ok} requests answered 2xx (${Math.round(r.load.reqPerSec)} req/s), ${r.load.non2xx} non-2xx, ${r.load.errors} socket errors; p99 ${r.load.p99} ms. Slope: least squares over the samples after the first ${r.options.warmupSec} s.`,
    '',
    '| memory (MB) | start | end | max | slope MB/min |',
    '|---|---:|---:|---:|---:|',
    row('RSS (process, all threads)', r.rss),
    row('V8 heap used (main thread)', r.heapUsed),
    row('external (ArrayBuffers)', r.external),
    '',
    '![memory over time](soak.svg)',
    '',
  ].join('\n');
}
