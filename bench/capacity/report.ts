/** Tables and charts of the capacity model: markdown for docs/capacity.md, SVG via the bench's vega-lite renderer. */
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from '../lib/chart.ts';
import type { ClusterResult } from './cluster.ts';
import type { Calibration, ValidationRow } from './profile.ts';
import type { SteadyPoint } from './sizing.ts';

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(0)}%`;

export function validationTable(rows: ValidationRow[]): string {
  const lines = [
    '| connections | measured req/s (min-max) | simulated req/s | error | measured p99 ms | simulated p99 ms | error | measured p50 ms | simulated p50 ms | sim. mean batch | other CPU per run (cores) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const m = r.measured;
    lines.push(
      `| ${r.connections} | ${f0(m.reqPerSec)} (${f0(m.reqPerSecMin)}-${f0(m.reqPerSecMax)}) | ${f0(r.simulated.reqPerSec)} | ${pct(r.throughputError)} | ${f1(m.p99)} | ${f1(r.simulated.p99)} | ${pct(r.p99Error)} | ${f1(m.p50)} | ${f1(r.simulated.p50)} | ${f1(r.simulated.meanBatch)} | ${m.othersCpu.join(', ')} |`,
    );
  }
  return lines.join('\n');
}

export function calibrationTable(c: Calibration): string {
  const d = c.derivation;
  const ms = (s: number | undefined) => ((s ?? NaN) * 1000).toFixed(3);
  return [
    '| quantity | from | value |',
    '|---|---|---:|',
    `| S1, time per request, batches of 1, saturated | batching off, 64 connections | ${ms(d.S1)} ms |`,
    `| S8, time per request, batches of 8, saturated | MAX_BATCH_SIZE=8, 256 connections | ${ms(d.S8)} ms |`,
    `| m, onnxruntime per row | committed suite, in-process, batch 8 to 32 | ${ms(d.m)} ms |`,
    `| a, CPU per batch (onnxruntime's fixed cost, hand-off to the worker) | 8/7 x (S1 - S8) | ${ms(d.a)} ms |`,
    `| h, main-thread CPU per request (read, parse, reply) | S1 - a - m | ${ms(d.h)} ms |`,
    `| batch of 1, batch of 32 | a + m x b | ${ms(d.c1)}, ${ms(d.c32)} ms |`,
    `| network: round trip outside the pod's CPU | batching off, 1 connection: 1/X - S1 | ${ms(d.networkDelay)} ms |`,
    `| effective batch delay (BATCH_DELAY_MS=2) | batching on minus off, 1 connection | ${ms(d.batchDelay)} ms |`,
  ].join('\n');
}

export function sizingTable(points: Array<{ target: number; point: SteadyPoint }>): string {
  const lines = [
    '| p99 target | req/s per pod | p50 ms | p99 ms | in flight per pod | CPU per pod (cores) |',
    '|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { target, point: p } of points) {
    lines.push(`| ${target} ms | ${f0(p.rate / p.pods)} | ${f1(p.p50)} | ${f1(p.p99)} | ${f1(p.inflightPerPod)} | ${p.cpuPerPod.toFixed(2)} |`);
  }
  return lines.join('\n');
}

export function steadyTable(points: SteadyPoint[]): string {
  const lines = ['| pods | req/s | req/s per pod | p50 ms | p99 ms | rejected | in flight per pod |', '|---:|---:|---:|---:|---:|---:|---:|'];
  for (const p of points) lines.push(`| ${p.pods} | ${f0(p.rate)} | ${f0(p.rate / p.pods)} | ${f1(p.p50)} | ${f1(p.p99)} | ${p.rejectedPct.toFixed(2)}% | ${f1(p.inflightPerPod)} |`);
  return lines.join('\n');
}

export function comparisonTable(results: ClusterResult[], titles: Record<string, string>, p99Target: number): string {
  const lines = [
    `| trace | policy | requests | p50 ms | p99 ms | rejected or timed out | pod-minutes | max pods | minutes with 10 s p99 > ${p99Target * 1000} ms |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.trace} | ${titles[r.policy] ?? r.policy} | ${f0(r.requests)} | ${f1(r.p50)} | ${f1(r.p99)} | ${r.rejectedPct.toFixed(2)}% | ${f0(r.podMinutes)} | ${r.maxReplicas} | ${f1(r.secondsOverTarget / 60)} |`,
    );
  }
  return lines.join('\n');
}

/** Offered load, pods and the 10 s p99 over time, one line per policy. */
export function traceChart(results: ClusterResult[], title: string): Promise<string> {
  const rows = results.flatMap((r) => r.timeline.map((p) => ({ policy: r.policy, minute: p.t / 60, offered: p.offered, replicas: p.replicas, p99: Math.max(0.1, p.p99) })));
  const x = { field: 'minute', type: 'quantitative' as const, title: 'minutes' };
  const color = { field: 'policy', type: 'nominal' as const, title: null, legend: { orient: 'bottom' as const } };
  const panel = (field: string, t: string, log = false) => ({
    title: t,
    width: 260,
    height: 180,
    mark: { type: 'line' as const, strokeWidth: 1.5 },
    encoding: { x, y: { field, type: 'quantitative' as const, title: t, ...(log ? { scale: { type: 'log' as const } } : {}) }, color },
  });
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: rows },
    hconcat: [panel('offered', 'offered req/s'), panel('replicas', 'pods (desired)'), panel('p99', 'p99 ms per 10 s (log)', true)],
  };
  return renderSvg(spec);
}
