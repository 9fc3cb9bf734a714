import { median } from './load.ts';
import type { ScenarioResult, SuiteResult } from './suite.ts';

export interface Ratio {
  name: string;
  value: number;
  detail: string;
}

export interface Goal {
  goal: string;
  measured: string;
  met: boolean;
}

function find(r: SuiteResult, id: string): ScenarioResult {
  const s = r.scenarios.find((x) => x.id === id);
  if (!s) throw new Error(`no scenario ${id} in the results`);
  return s;
}

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '-');

/**
 * a / b computed per round (runs of the same round are minutes apart at most), then the median over rounds.
 * This machine's speed drifts by 20-30% over a full suite; pairing within a round keeps that drift out
 * of the ratios, where a ratio of two medians would mix rounds.
 */
function paired(a: number[], b: number[]): { value: number; text: string } {
  const perRound = a.slice(0, b.length).map((x, i) => x / b[i]!);
  return { value: median(perRound), text: `per round ${perRound.map(f2).join(', ')}` };
}

const rps = (s: ScenarioResult) => s.runs.map((x) => x.reqPerSec);
const rowsPs = (s: ScenarioResult) => s.runs.map((x) => x.rowsPerSec);
const bestPerRound = (c: ReturnType<typeof ceilingOf>) => c.rounds.map((x) => x.best.rowsPerSec);

export function ceilingOf(r: SuiteResult, threads = 1, sessions = 1) {
  const c = r.ceiling.find((x) => x.threads === threads && x.sessions === sessions);
  if (!c) throw new Error(`no ceiling for ${threads} threads x ${sessions} sessions`);
  return c;
}

export function ratios(r: SuiteResult): Ratio[] {
  const ceiling = ceilingOf(r);
  const out: Ratio[] = [];
  for (const format of ['json', 'binary']) {
    const on = find(r, `mlp-${format}-on-c64`);
    const off = find(r, `mlp-${format}-off-c64`);
    const name = format === 'json' ? 'JSON' : 'binary';
    const speedup = paired(rps(on), rps(off));
    out.push({
      name: `MLP ${name} @64: batching on / off, req/s`,
      value: speedup.value,
      detail: `medians ${f0(on.summary.reqPerSec)} / ${f0(off.summary.reqPerSec)} req/s; ${speedup.text}`,
    });
    out.push({ name: `MLP ${name} @64: batching on / off, p99`, value: on.summary.p99 / off.summary.p99, detail: `${f1(on.summary.p99)} / ${f1(off.summary.p99)} ms (below 1 = on is better)` });
    const frac = paired(rowsPs(on), bestPerRound(ceiling));
    out.push({
      name: `MLP ${name} @64: batching on rows/s / in-process ceiling`,
      value: frac.value,
      detail: `medians ${f0(on.summary.rowsPerSec)} / ${f0(ceiling.bestRowsPerSec)} rows/s (ceiling: 1 session, 1 intra-op thread, batch ${ceiling.bestBatch}); ${frac.text}`,
    });
  }
  const hello = find(r, 'hello-get-c64');
  for (const mode of ['on', 'off']) {
    const iris = find(r, `iris-${mode}-c64`);
    const x = paired(rps(iris), rps(hello));
    out.push({ name: `iris /predict @64 (batching ${mode}) / express hello, req/s`, value: x.value, detail: `medians ${f0(iris.summary.reqPerSec)} / ${f0(hello.summary.reqPerSec)} req/s; ${x.text}` });
  }
  // A stricter yardstick than the goal's: the same small reply from node:http with no framework (absent from older results).
  const nodeHello = r.scenarios.find((x) => x.id === 'node-hello-get-c64');
  if (nodeHello) {
    const iris = find(r, 'iris-on-c64');
    const a = paired(rps(iris), rps(nodeHello));
    out.push({ name: 'iris /predict @64 (batching on) / node:http hello, req/s', value: a.value, detail: `medians ${f0(iris.summary.reqPerSec)} / ${f0(nodeHello.summary.reqPerSec)} req/s; ${a.text}` });
    const b = paired(rps(hello), rps(nodeHello));
    out.push({ name: 'express hello / node:http hello, req/s', value: b.value, detail: `medians ${f0(hello.summary.reqPerSec)} / ${f0(nodeHello.summary.reqPerSec)} req/s; ${b.text}` });
  }
  for (const format of ['json', 'binary']) {
    const t2 = find(r, `mlp-${format}-on-2threads-c64`);
    const t1 = find(r, `mlp-${format}-on-c64`);
    const x = paired(rps(t2), rps(t1));
    out.push({
      name: `MLP ${format === 'json' ? 'JSON' : 'binary'} @64 batching on: 2 / 1 intra-op threads, req/s`,
      value: x.value,
      detail: `medians ${f0(t2.summary.reqPerSec)} / ${f0(t1.summary.reqPerSec)} req/s; p99 ${f1(t2.summary.p99)} / ${f1(t1.summary.p99)} ms; ${x.text}`,
    });
  }
  const c21 = ceilingOf(r, 2, 1);
  const c12 = ceilingOf(r, 1, 2);
  out.push({ name: 'ceiling: 1 session x 2 intra-op threads / 1 x 1', value: c21.bestRowsPerSec / ceiling.bestRowsPerSec, detail: `${f0(c21.bestRowsPerSec)} / ${f0(ceiling.bestRowsPerSec)} rows/s` });
  out.push({ name: 'ceiling: 2 sessions (2 batches at once) x 1 thread / 1 x 1', value: c12.bestRowsPerSec / ceiling.bestRowsPerSec, detail: `${f0(c12.bestRowsPerSec)} / ${f0(ceiling.bestRowsPerSec)} rows/s` });
  return out;
}

export function goals(r: SuiteResult): Goal[] {
  const ceiling = ceilingOf(r);
  const out: Goal[] = [];
  for (const format of ['json', 'binary']) {
    const name = format === 'json' ? 'V2 JSON' : 'V2 binary';
    const on = find(r, `mlp-${format}-on-c64`);
    const off = find(r, `mlp-${format}-off-c64`);
    const speedup = paired(rps(on), rps(off)).value;
    out.push({ goal: `MLP ${name} @64: batching on >= 4x req/s of off`, measured: `${f2(speedup)}x`, met: Number.isFinite(speedup) && speedup >= 4 });
    out.push({ goal: `MLP ${name} @64: batching on p99 no worse than off`, measured: `${f1(on.summary.p99)} vs ${f1(off.summary.p99)} ms`, met: on.summary.ok > 0 && off.summary.ok > 0 && on.summary.p99 <= off.summary.p99 });
    const frac = paired(rowsPs(on), bestPerRound(ceiling)).value;
    out.push({ goal: `MLP ${name} @64: batching on >= 50% of the in-process ceiling`, measured: pct(frac), met: Number.isFinite(frac) && frac >= 0.5 });
  }
  const irisRatio = paired(rps(find(r, 'iris-on-c64')), rps(find(r, 'hello-get-c64'))).value;
  out.push({ goal: 'iris /predict @64 >= 70% of express hello req/s', measured: pct(irisRatio), met: Number.isFinite(irisRatio) && irisRatio >= 0.7 });
  const o = r.overload;
  const other = Object.values(o.otherNon2xx).reduce((a, b) => a + b, 0);
  out.push({
    goal: 'overload: only 503s beyond capacity, no 500s, no resets, healthy after',
    measured: `${other} other non-2xx, ${o.errors} socket errors, /healthz ${o.afterwards.healthz}, /ready ${o.afterwards.ready}`,
    met: other === 0 && o.errors === 0 && o.afterwards.healthz === 200 && o.afterwards.ready === 200,
  });
  return out;
}

function scenarioRow(s: ScenarioResult): string {
  const m = s.summary;
  const others = s.runs.map((x) => x.cpu.others);
  const failures = m.non2xx + m.errors;
  const service = s.runs.map((x) => x.cpu.service);
  return `| ${s.label} | ${s.connections} | ${f0(m.reqPerSec)} | ${s.rowsPerRequest ? f0(m.rowsPerSec) : '-'} | ${f1(m.p50)} | ${f1(m.p99)} | ${failures} | ${f2(median(service))} | ${others.map(f2).join(' / ')} |`;
}

export function markdown(r: SuiteResult): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(`# meshserve benchmark results: ${r.name}`);
  lines.push('');
  lines.push(
    `${r.date.slice(0, 16).replace('T', ' ')} UTC, commit ${m.commit}. Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.kernel}, Node ${m.node}, onnxruntime-node ${m.onnxruntime}, autocannon ${m.autocannon}. ` +
      `${r.options.runs} runs x ${r.options.durationSec} s per scenario (medians), interleaved round-robin, after ${r.options.warmupSec} s warm-up each; load generator on the same machine. ` +
      `Load average ${m.loadAverageAtStart.join(' ')} at start, ${r.loadAverageAtEnd.join(' ')} at end; wall clock ${Math.round(r.wallClockSec / 60)} min.`,
  );
  lines.push('');
  lines.push('## Goals');
  lines.push('');
  lines.push('| goal | measured | met |');
  lines.push('|---|---|---|');
  for (const g of goals(r)) lines.push(`| ${g.goal} | ${g.measured} | ${g.met ? 'yes' : '**no**'} |`);
  lines.push('');
  lines.push('## Ratios');
  lines.push('');
  lines.push('| ratio | value | from |');
  lines.push('|---|---|---|');
  for (const x of ratios(r)) lines.push(`| ${x.name} | ${f2(x.value)} | ${x.detail} |`);
  lines.push('');
  lines.push('## Scenarios');
  lines.push('');
  lines.push('One row of model input per request. req/s counts 2xx answers only. "failed" = non-2xx + socket errors over all runs. "other CPU" = CPU (in cores) used by processes other than the bench and its services during each run: above ~0.2 that run was disturbed by other work on the machine (the median usually comes from an undisturbed run). "service CPU" = cores the service used (median of runs; the load generator used most of the rest).');
  lines.push('');
  lines.push('| scenario | conns | req/s | rows/s | p50 ms | p99 ms | failed | service CPU | other CPU per run |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of r.scenarios) lines.push(scenarioRow(s));
  lines.push('');
  lines.push('## In-process onnxruntime ceiling (MLP 1024-2048-2048-1000, no HTTP, rows/s, median of rounds)');
  lines.push('');
  lines.push(`| batch | ${r.ceiling.map((c) => `${c.sessions} session${c.sessions > 1 ? 's' : ''} x ${c.threads} thread${c.threads > 1 ? 's' : ''}`).join(' | ')} |`);
  lines.push(`|---:|${r.ceiling.map(() => '---:').join('|')}|`);
  for (const [i, p] of r.ceiling[0]!.points.entries()) {
    lines.push(`| ${p.batch} | ${r.ceiling.map((c) => `${f0(c.points[i]!.rowsPerSec)} (${f1(c.points[i]!.msPerBatch)} ms/batch)`).join(' | ')} |`);
  }
  lines.push(`| best | ${r.ceiling.map((c) => `**${f0(c.bestRowsPerSec)}**`).join(' | ')} |`);
  lines.push('');
  const o = r.overload;
  lines.push(`## Overload (MAX_QUEUE_SIZE=${o.settings.maxQueueSize}, ${o.connections} connections, MLP V2 JSON, ${f0(o.durationSec)} s)`);
  lines.push('');
  lines.push('| answered 2xx | 503 | 503 p50 / p99 ms | other non-2xx | socket errors | timeouts | /healthz during (probes, failed, max ms) | /healthz, /ready, inference after |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---|');
  lines.push(
    `| ${o.ok} | ${o.rejected503} | ${f1(o.rejectP50Ms)} / ${f1(o.rejectP99Ms)} | ${JSON.stringify(o.otherNon2xx)} | ${o.errors} ${Object.keys(o.errorCodes).length ? JSON.stringify(o.errorCodes) : ''} | ${o.timeouts} | ${o.healthzDuring.probes}, ${o.healthzDuring.failed}, ${f1(o.healthzDuring.maxMs)} | ${o.afterwards.healthz}, ${o.afterwards.ready}, ${o.afterwards.inferenceStatus} |`,
  );
  lines.push('');
  if (r.restarts.length > 0) {
    lines.push('## Service restarts');
    lines.push('');
    lines.push('A service found dead (stopped by something outside the bench) was started again and the run repeated:');
    lines.push('');
    for (const x of r.restarts) lines.push(`- "${x.service}" before ${x.before}: exit code ${x.exitCode}, signal ${x.signal}`);
    lines.push('');
  }
  lines.push(`![throughput and p99 against concurrency](${r.name}.svg)`);
  lines.push('');
  return lines.join('\n');
}
