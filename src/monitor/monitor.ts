// Black-box monitor: probes a running meshserve the way an operator would and reports each check.
import { setTimeout as delay } from 'node:timers/promises';

export interface MonitorOptions {
  api: URL;
  metrics: URL;
  rounds: number;
  intervalMs: number;
  timeoutMs: number;
  webhook?: URL;
}

export interface MonitorDeps {
  out: { write(chunk: string): unknown };
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  /** HTTP status, or a one-line reason when no response arrived. */
  detail: string;
  ms: number;
}

export interface Summary {
  passed: number;
  total: number;
  avgMs: number;
  ok: boolean;
}

/** Joins a path onto a base URL, keeping any path prefix the base has. */
function under(base: URL, path: string): URL {
  const withSlash = base.pathname.endsWith('/') ? base : new URL(`${base.pathname}/`, base);
  return new URL(path, withSlash);
}

export function checksFor(options: Pick<MonitorOptions, 'api' | 'metrics'>): Array<{ name: string; url: URL }> {
  return [
    { name: 'healthz', url: under(options.api, 'healthz') },
    { name: 'ready', url: under(options.api, 'ready') },
    { name: 'metrics', url: under(options.metrics, 'metrics') },
  ];
}

function hostPort(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
}

/** Turns what fetch throws into one line a person can act on. */
export function describeFetchError(err: unknown, url: URL, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: any };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  const cause = e?.cause;
  const code: string | undefined = cause?.code ?? cause?.errors?.[0]?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused (${hostPort(url)})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${url.hostname})`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `connection reset (${hostPort(url)})`;
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connect timed out (${hostPort(url)})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `host unreachable (${hostPort(url)})`;
  }
  // fetch refuses a list of reserved ports (1, 9, 25, ...) before connecting.
  if (cause?.message === 'bad port') return `port blocked by fetch (${hostPort(url)}): use another port`;
  const message = String(cause?.message ?? e?.message ?? err).split('\n')[0] ?? '';
  return code ? `${code}: ${message}` : message;
}

export async function runCheck(
  name: string,
  url: URL,
  timeoutMs: number,
  deps: Pick<MonitorDeps, 'fetch' | 'now'> = {},
): Promise<CheckResult> {
  const doFetch = deps.fetch ?? fetch;
  const now = deps.now ?? (() => performance.now());
  const start = now();
  try {
    const res = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer(); // time the whole answer, and free the connection
    return { name, ok: res.ok, detail: String(res.status), ms: now() - start };
  } catch (err) {
    return { name, ok: false, detail: describeFetchError(err, url, timeoutMs), ms: now() - start };
  }
}

async function postAlert(webhook: URL, name: string, timeoutMs: number, deps: MonitorDeps): Promise<void> {
  const doFetch = deps.fetch ?? fetch;
  try {
    const res = await doFetch(webhook, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `ALERT: ${name} DOWN` }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    deps.out.write(`webhook  ALERT: ${name} DOWN -> ${res.status}\n`);
  } catch (err) {
    deps.out.write(`webhook  could not post ALERT: ${name} DOWN: ${describeFetchError(err, webhook, timeoutMs)}\n`);
  }
}

/**
 * Runs every check `rounds` times, `intervalMs` apart. A check that goes down posts one alert
 * to the webhook; it alerts again only after it has come back up in between.
 */
export async function runMonitor(options: MonitorOptions, deps: MonitorDeps): Promise<Summary> {
  const sleep = deps.sleep ?? ((ms: number) => delay(ms));
  const checks = checksFor(options);
  const down = new Set<string>();
  const results: CheckResult[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    if (round > 1) await sleep(options.intervalMs);
    const prefix = options.rounds > 1 ? `[${round}/${options.rounds}] ` : '';
    for (const check of checks) {
      const r = await runCheck(check.name, check.url, options.timeoutMs, deps);
      results.push(r);
      deps.out.write(`${prefix}${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(7)}  ${r.detail}  ${Math.round(r.ms)} ms\n`);
      if (r.ok) {
        down.delete(r.name);
      } else if (!down.has(r.name)) {
        down.add(r.name);
        if (options.webhook) await postAlert(options.webhook, r.name, options.timeoutMs, deps);
      }
    }
  }
  const passed = results.filter((r) => r.ok).length;
  const avgMs = results.length ? results.reduce((sum, r) => sum + r.ms, 0) / results.length : 0;
  deps.out.write(`${passed}/${results.length} passed, avg ${Math.round(avgMs)} ms\n`);
  return { passed, total: results.length, avgMs, ok: passed === results.length };
}
