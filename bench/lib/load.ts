import autocannon from 'autocannon';
import type { Payload } from './payloads.ts';

export interface RunStats {
  durationSec: number;
  /** Successful (2xx) requests per second. */
  reqPerSec: number;
  /** Model rows answered successfully per second. */
  rowsPerSec: number;
  /** Latency of 2xx responses, ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  ok: number;
  non2xx: number;
  /** Responses per status code. */
  statuses: Record<string, number>;
  /** Socket errors (including timeouts), by code (ECONNRESET, ...). */
  errors: number;
  errorCodes: Record<string, number>;
  timeouts: number;
  /** p50/p99 latency of non-2xx responses by status, ms (how fast a rejection is). */
  rejectLatency: Record<string, { p50: number; p99: number }>;
}

export interface LoadOptions {
  url: string;
  payload: Payload;
  connections: number;
  durationSec: number;
  /** Per-request timeout in seconds. */
  timeoutSec?: number;
  onResponse?: (statusCode: number) => void;
  /** Stops the run early (e.g. when the service died). */
  signal?: AbortSignal;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One autocannon run against a payload. */
export async function runLoad(o: LoadOptions): Promise<RunStats> {
  const errorCodes: Record<string, number> = {};
  const rejected = new Map<number, number[]>();
  let finish!: (r: { err: unknown; result: autocannon.Result }) => void;
  const done = new Promise<{ err: unknown; result: autocannon.Result }>((resolve) => (finish = resolve));
  const instance = autocannon(
    {
      url: o.url + o.payload.path,
      method: o.payload.method,
      headers: o.payload.headers,
      ...(o.payload.body ? { body: o.payload.body } : {}),
      connections: o.connections,
      duration: o.durationSec,
      timeout: o.timeoutSec ?? 20,
    },
    (err, result) => finish({ err, result }),
  );
  o.signal?.addEventListener('abort', () => instance.stop(), { once: true });
  instance.on('reqError', (err: NodeJS.ErrnoException) => {
    const code = err.code ?? err.name ?? 'error';
    errorCodes[code] = (errorCodes[code] ?? 0) + 1;
  });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    o.onResponse?.(statusCode);
    if (statusCode >= 200 && statusCode < 300) return;
    let list = rejected.get(statusCode);
    if (!list) rejected.set(statusCode, (list = []));
    list.push(responseTime);
  });
  const { err, result } = await done;
  if (err) throw err instanceof Error ? err : new Error(String(err));
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count ?? 0;
  const rejectLatency: RunStats['rejectLatency'] = {};
  for (const [code, list] of rejected) {
    list.sort((a, b) => a - b);
    rejectLatency[code] = { p50: percentile(list, 50), p99: percentile(list, 99) };
  }
  const ok = result['2xx'];
  const durationSec = result.duration;
  return {
    durationSec,
    reqPerSec: ok / durationSec,
    rowsPerSec: (ok * Math.max(o.payload.rows, 1)) / durationSec,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    ok,
    non2xx: result.non2xx,
    statuses,
    errors: result.errors,
    errorCodes,
    timeouts: result.timeouts,
    rejectLatency,
  };
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Summary {
  runs: number;
  reqPerSec: number;
  rowsPerSec: number;
  p50: number;
  p99: number;
  /** Lowest and highest req/s of the runs, to show the spread. */
  reqPerSecMin: number;
  reqPerSecMax: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statuses: Record<string, number>;
  errorCodes: Record<string, number>;
}

/** Medians of throughput and latency over runs; counts of failures summed over runs. */
export function summarise(runs: RunStats[]): Summary {
  const sum = (f: (r: RunStats) => number) => runs.reduce((a, r) => a + f(r), 0);
  const merge = (f: (r: RunStats) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of runs) for (const [k, v] of Object.entries(f(r))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const rps = runs.map((r) => r.reqPerSec);
  return {
    runs: runs.length,
    reqPerSec: median(rps),
    rowsPerSec: median(runs.map((r) => r.rowsPerSec)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    reqPerSecMin: Math.min(...rps),
    reqPerSecMax: Math.max(...rps),
    ok: sum((r) => r.ok),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    statuses: merge((r) => r.statuses),
    errorCodes: merge((r) => r.errorCodes),
  };
}
