// The limits bench: bursts of concurrent requests, all in flight at once, against the built service
// with a memory limit, one fresh process per burst (VmHWM is a process-lifetime peak). Checks the
// targets of issue 11: peak RSS (VmHWM) <= 85% of MEMORY_LIMIT, every response 200 or a fast 503
// with Retry-After (413 only past the body limit), no socket error, /healthz p99 <= 100 ms with no
// probe past 1 s, and a normal request answered 200 afterwards.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { renderSvg } from './chart.ts';
import { readMemory, now, type MonitorOptions, type MonitorReport } from './limits-monitor.ts';
import { describeMachine, type Machine } from './machine.ts';
import { MLP_SIZES, makeRepository } from './models.ts';
import { inputRow, mlpBinary } from './payloads.ts';
import { childPids, freePort, startNode, waitFor200, type Child } from './processes.ts';
import { log } from './progress.ts';
import { ROOT } from './service.ts';

/** The targets, as issue 11 states them. */
export const TARGETS = {
  peakRssFraction: 0.85,
  /** /healthz, and a 503 that is answered without reading the body: p99 and worst case, ms. */
  fastP99Ms: 100,
  fastMaxMs: 1000,
  probeEveryMs: 250,
  probeTimeoutMs: 1000,
  sampleEveryMs: 50,
};

export const DEFAULT_MEMORY_LIMIT = '1Gi';
/** A 10 Gbit/s link: more than a 1-CPU pod's node usually gives it. */
export const UPLOAD_GBPS = 10;
const DEFAULT_BODY_LIMIT = 16 * 1024 ** 2;
const WIDTH = MLP_SIZES[0];

export interface LimitsOptions {
  /** Environment given to the service on top of the bench's own (MEMORY_LIMIT=1Gi by default). */
  env: Record<string, string>;
  /** Burst ids to run (all when empty). */
  only: string[];
  /** Per-request timeout of the load generator, ms. */
  requestTimeoutMs: number;
  /** Line rate all uploads of a burst share, Gbit/s (0: as fast as loopback takes them). */
  uploadGbps?: number;
  /** Tree whose dist/main.js is measured (default: this one), e.g. an older build, or a server script (.js). */
  root?: string;
  /** Node flags for the service, before the script (e.g. --cpu-prof to profile a burst). */
  nodeArgs?: string[];
}

// ---------------------------------------------------------------------------------------
// Sizes

const QUANTITY: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** Bytes of a Kubernetes quantity ("1Gi", "1073741824", "900M"); undefined when it is not one. */
export function quantityBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|)$/.exec(text.trim());
  return m ? Math.floor(Number(m[1]) * QUANTITY[m[2]!]!) : undefined;
}

/** BODY_LIMIT as the service reads it ("16mb" = 16 MiB). */
function bodyLimitBytes(text: string | undefined): number {
  if (text === undefined) return DEFAULT_BODY_LIMIT;
  const m = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(text.trim());
  if (!m) throw new Error(`BODY_LIMIT=${text} is not a size this bench understands`);
  return Number(m[1]) * { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b']!;
}

// ---------------------------------------------------------------------------------------
// Bodies, generated once and reused by every request of a burst

interface Body {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  rows: number;
}

/**
 * Rows of MLP input printed with three decimals ("-0.724"), about 6.5 bytes a value: 2,100 rows make
 * the 14 MB bodies of issue 11, 150 rows the 1 MB ones. Each row is the values without brackets.
 */
class RowTexts {
  private rows: string[] = [];
  get(n: number): string[] {
    while (this.rows.length < n) {
      const values = inputRow(WIDTH, 1000 + this.rows.length);
      this.rows.push(Array.from(values, (v) => String(Math.round(v * 1000) / 1000)).join(','));
    }
    return this.rows.slice(0, n);
  }
}

function rowFormat(texts: RowTexts, rows: number): Body {
  const body = Buffer.from(`{"instances":[[${texts.get(rows).join('],[')}]]}`);
  return { path: '/predict', headers: { 'content-type': 'application/json' }, body, rows };
}

function v2JsonText(texts: RowTexts, rows: number): string {
  return `{"inputs":[{"name":"input","shape":[${rows},${WIDTH}],"datatype":"FP32","data":[${texts.get(rows).join(',')}]}]}`;
}

/** The V2 JSON body with the most rows that stays at least 1 KiB under the body limit. */
function v2JsonUnder(texts: RowTexts, limit: number): Body {
  const target = limit - 1024;
  const perRow = texts.get(1)[0]!.length + 1;
  let rows = Math.max(1, Math.floor(target / perRow));
  while (rows > 1 && Buffer.byteLength(v2JsonText(texts, rows)) > target) rows--;
  while (Buffer.byteLength(v2JsonText(texts, rows + 1)) <= target) rows++;
  const body = Buffer.from(v2JsonText(texts, rows));
  return { path: '/v2/models/mlp/infer', headers: { 'content-type': 'application/json' }, body, rows };
}

export interface Burst {
  id: string;
  label: string;
  /** For the chart's panel titles. */
  short: string;
  count: number;
  body: Body;
}

export function makeBursts(bodyLimit: number): Burst[] {
  const texts = new RowTexts();
  const mb = (b: Body) => `${(b.body.length / 1e6).toFixed(1)} MB`;
  const big = rowFormat(texts, 2100);
  const small = rowFormat(texts, 150);
  const bin = mlpBinary(1);
  const binary: Body = { path: bin.path, headers: bin.headers, body: bin.body!, rows: 1 };
  const v2 = v2JsonUnder(texts, bodyLimit);
  return [
    { id: '8x14mb', label: `8 × ${mb(big)} POST /predict (2,100 rows)`, short: `8 × ${mb(big)} /predict`, count: 8, body: big },
    { id: '64x14mb', label: `64 × ${mb(big)} POST /predict (2,100 rows)`, short: `64 × ${mb(big)} /predict`, count: 64, body: big },
    { id: '256x1mb', label: `256 × ${mb(small)} POST /predict (150 rows)`, short: `256 × ${mb(small)} /predict`, count: 256, body: small },
    { id: '1024x1row', label: '1,024 × one row, V2 binary', short: '1,024 × one row, V2 binary', count: 1024, body: binary },
    {
      id: '64x16mb-v2',
      label: `64 × ${mb(v2)} V2 JSON (${v2.rows.toLocaleString('en-US')} rows, ${bodyLimit - v2.body.length} bytes under BODY_LIMIT)`,
      short: `64 × ${mb(v2)} V2 JSON`,
      count: 64,
      body: v2,
    },
  ];
}

// ---------------------------------------------------------------------------------------
// One request

interface Outcome {
  status?: number;
  /** ms from sending to the response headers. */
  ms?: number;
  retryAfter?: boolean;
  code?: string;
  /** Socket error before any response. */
  error?: string;
  /** Socket error after the response headers came (e.g. the server closed while the body was still going out). */
  errorAfterResponse?: string;
}

function send(port: number, b: Body, timeoutMs: number, link: Link): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = {};
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: b.path, headers: { ...b.headers, 'content-length': String(b.body.length) }, agent: false });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('no answer in time'), { code: 'TIMEOUT' })), timeoutMs);
    req.on('response', (res) => {
      out.status = res.statusCode;
      out.ms = performance.now() - t0;
      out.retryAfter = res.headers['retry-after'] !== undefined;
      if (res.statusCode === 200) {
        res.resume(); // the answers of one burst can reach gigabytes: count nothing, keep nothing
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < 4096) text += chunk;
      });
      res.on('end', () => {
        try {
          out.code = (JSON.parse(text) as { code?: string }).code;
        } catch {
          out.code = 'unparsable body';
        }
      });
      res.on('error', () => {});
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message;
      if (out.status === undefined) out.error = code;
      else out.errorAfterResponse = code;
    });
    // 'close' comes after the response ended or the request failed, and after any write error.
    req.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    writeInSlices(req, b.body, link);
  });
}

/**
 * Uploads share one line rate, as the requests of a burst share the pod's network link. Unpaced, this
 * process copied a burst's bodies into loopback sockets as fast as memory allows (about 1 GB in the first
 * 100 ms of 64 × 14 MB): its own event loop stalled for up to 350 ms, and every latency it measured
 * (503s, probes on the same core) included that stall.
 */
class Link {
  #free = 0;
  constructor(readonly bytesPerMs: number) {}

  /** ms to wait before sending `bytes`, reserving them on the link (0 when unpaced). */
  reserve(bytes: number): number {
    if (!(this.bytesPerMs > 0)) return 0;
    const at = performance.now();
    const start = Math.max(at, this.#free);
    this.#free = start + bytes / this.bytesPerMs;
    return start - at;
  }
}

/** Writes a body in 64 KiB slices, each once the socket took the one before and the link has room for it. */
function writeInSlices(req: http.ClientRequest, body: Buffer, link: Link): void {
  const SLICE = 64 * 1024;
  let offset = 0;
  const next = () => {
    if (offset >= body.length) {
      req.end();
      return;
    }
    const end = Math.min(offset + SLICE, body.length);
    const slice = body.subarray(offset, end);
    offset = end;
    const send = () => (req.write(slice) ? next() : req.once('drain', next));
    const wait = link.reserve(slice.length);
    if (wait < 1) send();
    else setTimeout(send, wait);
  };
  next();
}

// ---------------------------------------------------------------------------------------
// One burst against a fresh service

export interface Check {
  name: string;
  ok: boolean;
  measured: string;
}

export interface BurstResult {
  id: string;
  label: string;
  short: string;
  count: number;
  bodyBytes: number;
  rowsPerRequest: number;
  /** ms from firing the burst to its last answer. */
  durationMs: number;
  /** VmHWM before the burst (start-up and warm-up) and VmRSS when idle, MB. */
  startupHwmMb: number;
  idleRssMb: number;
  /** VmHWM at the end (after the burst and the request after it), MB, and as a fraction of the limit. */
  peakRssMb: number;
  peakFraction: number;
  statuses: Record<string, number>;
  /** Error codes of non-200 answers ({"code"} of the body), counted. */
  codes: Record<string, number>;
  missingRetryAfter: number;
  okP50Ms: number | null;
  okP99Ms: number | null;
  rejectP50Ms: number | null;
  rejectP99Ms: number | null;
  rejectMaxMs: number | null;
  socketErrors: Record<string, number>;
  socketErrorsAfterResponse: Record<string, number>;
  timeouts: number;
  healthz: { probes: number; failed: number; failures: Record<string, number>; p99Ms: number | null; maxMs: number | null };
  after: { healthz: number | null; status: number | null; ms: number | null };
  serviceExit: { code: number | null; signal: string | null; output: string } | null;
  /** 1-minute load average of the machine when the burst was fired (others share it). */
  loadAverage?: number;
  /** Every 503's latency, ms, in the order the requests were sent. */
  rejectMsEach?: number[];
  /** The load generator's own event-loop delay during the burst, ms (p99, max): its latencies include it. */
  generatorLagMs?: { p99: number; max: number };
  /**
   * Connections the kernel dropped because a listen queue was full while the burst ran (TcpExt
   * ListenDrops, machine-wide): a dropped SYN is retried after 1 s, which a probe sees as a timeout.
   */
  listenDrops?: number;
  /** RSS every 50 ms, t in seconds from firing the burst. */
  samples: { t: number; rssMb: number }[];
  /** Every /healthz probe while the burst was in flight: t in seconds from firing, ms (null when it failed). */
  probes: { t: number; ms: number | null; failure?: string }[];
  checks: Check[];
  pass: boolean;
}

export interface LimitsResult {
  name: string;
  date: string;
  machine: Machine;
  memoryLimit: string;
  memoryLimitBytes: number;
  bodyLimitBytes: number;
  env: Record<string, string>;
  pinning: string;
  /** The line rate the uploads of a burst shared, Gbit/s (0: unpaced). */
  uploadGbps?: number;
  targets: typeof TARGETS;
  bursts: BurstResult[];
  pass: boolean;
}

/** TcpExt ListenDrops from /proc/net/netstat (machine-wide), or undefined where it is not readable. */
function listenDrops(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    const i = names.indexOf('ListenDrops');
    return i > 0 ? Number(values[i]) : undefined;
  } catch {
    return undefined;
  }
}

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const mb = (kb: number) => Math.round(kb / 102.4) / 10;
const r1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
const count = (into: Record<string, number>, key: string) => void (into[key] = (into[key] ?? 0) + 1);

interface Running {
  child: Child;
  port: number;
}

async function startLimitsService(repository: string, env: Record<string, string>, cpus: string | undefined, nodeArgs: string[], root: string): Promise<Running> {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = startNode(
    [...nodeArgs, root.endsWith('.js') ? path.resolve(root) : path.join(root, 'dist/main.js')],
    {
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      GRPC_PORT: '0',
      HOST: '127.0.0.1',
      MODEL_REPOSITORY: repository,
      DEFAULT_MODEL: 'mlp',
      LOG_LEVEL: 'warn',
      SHUTDOWN_DELAY_MS: '0',
      NODE_ENV: 'production',
      ...env,
    },
    cpus === undefined ? {} : { cpus },
  );
  try {
    await waitFor200(`http://127.0.0.1:${port}/ready`, child, 120_000);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { child, port };
}

function startMonitor(o: MonitorOptions): { ready: () => Promise<void>; stop: () => Promise<MonitorReport> } {
  // A worker does not inherit the --import tsx loader: register it, then load the monitor.
  const url = new URL('./limits-monitor.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); });`;
  const worker = new Worker(bootstrap, { eval: true, workerData: o });
  let started!: () => void;
  const ready = new Promise<void>((resolve) => (started = resolve));
  const report = new Promise<MonitorReport>((resolve, reject) => {
    worker.on('message', (m: MonitorReport | 'started') => (m === 'started' ? started() : resolve(m)));
    worker.once('error', reject);
  });
  report.catch(() => {}); // surfaced by ready() or stop(); never an unhandled rejection that skips the service's stop
  return {
    ready: () => Promise.race([ready, report.then(() => undefined)]),
    stop: async () => {
      worker.postMessage('stop');
      const r = await report;
      await worker.terminate();
      return r;
    },
  };
}

async function get(port: number, path: string, timeoutMs: number): Promise<{ status: number; ms: number } | undefined> {
  const t0 = performance.now();
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - t0 };
  } catch {
    return undefined;
  }
}

async function afterRequest(port: number, timeoutMs: number): Promise<{ status: number; ms: number } | undefined> {
  const t0 = performance.now();
  try {
    const body = JSON.stringify({ instances: [Array.from(inputRow(WIDTH, 99), (v) => Math.round(v * 1000) / 1000)] });
    const res = await fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - t0 };
  } catch {
    return undefined;
  }
}

async function runBurst(burst: Burst, repository: string, o: LimitsOptions, limitBytes: number, bodyLimit: number, cpus: string | undefined): Promise<BurstResult> {
  const svc = await startLimitsService(repository, o.env, cpus, o.nodeArgs ?? [], o.root ?? ROOT);
  const pid = svc.child.proc.pid!;
  let exit: BurstResult['serviceExit'] = null;
  svc.child.proc.once('exit', (code, signal) => (exit = { code, signal, output: svc.child.stderr().slice(-2000) }));
  try {
    const before = readMemory(pid)!;
    const monitor = startMonitor({ pid, port: svc.port, sampleEveryMs: TARGETS.sampleEveryMs, probeEveryMs: TARGETS.probeEveryMs, probeTimeoutMs: TARGETS.probeTimeoutMs });
    await monitor.ready();
    await new Promise((r) => setTimeout(r, 500));

    const loadAverage = Math.round(os.loadavg()[0]! * 100) / 100;
    const dropsBefore = listenDrops();
    const lag = monitorEventLoopDelay({ resolution: 5 });
    lag.enable();
    const fired = now();
    const link = new Link((o.uploadGbps ?? UPLOAD_GBPS) * 1e6 / 8); // Gbit/s -> bytes/ms
    const outcomes = await Promise.all(Array.from({ length: burst.count }, () => send(svc.port, burst.body, o.requestTimeoutMs, link)));
    const ended = now();
    lag.disable();
    const generatorLagMs = { p99: r1(lag.percentile(99) / 1e6)!, max: r1(lag.max / 1e6)! };
    const dropsAfter = listenDrops();

    const healthzAfter = await get(svc.port, '/healthz', 5000);
    const after = await afterRequest(svc.port, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const report = await monitor.stop();
    const last = readMemory(pid);
    const hwmKb = Math.max(last?.hwmKb ?? 0, ...report.samples.map((s) => s.hwmKb));

    const statuses: Record<string, number> = {};
    const codes: Record<string, number> = {};
    const socketErrors: Record<string, number> = {};
    const socketErrorsAfterResponse: Record<string, number> = {};
    const okMs: number[] = [];
    const rejectMs: number[] = [];
    let missingRetryAfter = 0;
    let timeouts = 0;
    for (const out of outcomes) {
      if (out.error !== undefined) {
        if (out.error === 'TIMEOUT') timeouts++;
        else count(socketErrors, out.error);
        continue;
      }
      if (out.errorAfterResponse !== undefined) count(socketErrorsAfterResponse, out.errorAfterResponse);
      count(statuses, String(out.status));
      if (out.status === 200) okMs.push(out.ms!);
      else count(codes, `${out.status} ${out.code ?? '?'}`);
      if (out.status === 503) {
        rejectMs.push(out.ms!);
        if (!out.retryAfter) missingRetryAfter++;
      }
    }
    const during = report.probes.filter((p) => p.at >= fired && p.at <= ended);
    const failures: Record<string, number> = {};
    for (const p of during) if (p.failure !== undefined) count(failures, p.failure);
    // A failed probe counts as at least the probe timeout in the percentiles.
    const probeMs = during.map((p) => p.ms ?? TARGETS.probeTimeoutMs);
    const failed = during.filter((p) => p.failure !== undefined).length;

    const peakRssMb = mb(hwmKb);
    const result: Omit<BurstResult, 'checks' | 'pass'> = {
      id: burst.id,
      label: burst.label,
      short: burst.short,
      count: burst.count,
      bodyBytes: burst.body.body.length,
      rowsPerRequest: burst.body.rows,
      durationMs: Math.round(ended - fired),
      startupHwmMb: mb(before.hwmKb),
      idleRssMb: mb(before.rssKb),
      peakRssMb,
      peakFraction: Math.round((hwmKb * 1024 * 1000) / limitBytes) / 1000,
      statuses,
      codes,
      missingRetryAfter,
      okP50Ms: r1(percentile(okMs, 50)),
      okP99Ms: r1(percentile(okMs, 99)),
      rejectP50Ms: r1(percentile(rejectMs, 50)),
      rejectP99Ms: r1(percentile(rejectMs, 99)),
      rejectMaxMs: r1(rejectMs.length ? Math.max(...rejectMs) : null),
      socketErrors,
      socketErrorsAfterResponse,
      timeouts,
      healthz: { probes: during.length, failed, failures, p99Ms: r1(percentile(probeMs, 99)), maxMs: r1(probeMs.length ? Math.max(...probeMs) : null) },
      after: { healthz: healthzAfter?.status ?? null, status: after?.status ?? null, ms: r1(after?.ms ?? null) },
      serviceExit: exit,
      loadAverage,
      generatorLagMs,
      rejectMsEach: rejectMs.map((ms) => r1(ms)!),
      ...(dropsBefore !== undefined && dropsAfter !== undefined ? { listenDrops: dropsAfter - dropsBefore } : {}),
      samples: report.samples.map((s) => ({ t: Math.round(s.at - fired) / 1000, rssMb: mb(s.rssKb) })),
      probes: during.map((p) => ({ t: Math.round(p.at - fired) / 1000, ms: r1(p.ms ?? null), ...(p.failure === undefined ? {} : { failure: p.failure }) })),
    };
    const checks = checksOf(result, bodyLimit);
    return { ...result, checks, pass: checks.every((c) => c.ok) };
  } finally {
    await svc.child.stop();
  }
}

function checksOf(r: Omit<BurstResult, 'checks' | 'pass'>, bodyLimit: number): Check[] {
  const allowed = new Set(['200', '503', ...(r.bodyBytes > bodyLimit ? ['413'] : [])]);
  const others = Object.entries(r.statuses).filter(([s]) => !allowed.has(s));
  const errors = Object.values(r.socketErrors).reduce((a, n) => a + n, 0) + Object.values(r.socketErrorsAfterResponse).reduce((a, n) => a + n, 0);
  const answered = Object.values(r.statuses).reduce((a, n) => a + n, 0);
  return [
    { name: `peak RSS <= ${TARGETS.peakRssFraction * 100}% of the limit`, ok: r.peakFraction <= TARGETS.peakRssFraction, measured: `${r.peakRssMb} MB = ${(r.peakFraction * 100).toFixed(1)}%` },
    {
      name: `every answer 200 or 503${allowed.has('413') ? ' or 413' : ''}`,
      ok: others.length === 0 && answered === r.count,
      measured: `${JSON.stringify(r.statuses)}${answered < r.count ? `, ${r.count - answered} unanswered` : ''}`,
    },
    { name: 'every 503 has Retry-After', ok: r.missingRetryAfter === 0, measured: `${r.missingRetryAfter} without` },
    {
      name: `503s fast (p99 <= ${TARGETS.fastP99Ms} ms, max <= ${TARGETS.fastMaxMs} ms)`,
      ok: r.rejectP99Ms === null || (r.rejectP99Ms <= TARGETS.fastP99Ms && r.rejectMaxMs! <= TARGETS.fastMaxMs),
      measured: r.rejectP99Ms === null ? 'no 503' : `p99 ${r.rejectP99Ms} ms, max ${r.rejectMaxMs} ms`,
    },
    {
      name: 'no socket error or timeout',
      ok: errors === 0 && r.timeouts === 0,
      measured: `${JSON.stringify(r.socketErrors)} before an answer, ${JSON.stringify(r.socketErrorsAfterResponse)} after, ${r.timeouts} timeouts`,
    },
    {
      name: `/healthz p99 <= ${TARGETS.fastP99Ms} ms, none past ${TARGETS.probeTimeoutMs} ms`,
      ok: r.healthz.failed === 0 && r.healthz.p99Ms !== null && r.healthz.p99Ms <= TARGETS.fastP99Ms,
      measured: `${r.healthz.probes} probes, ${r.healthz.failed} failed, p99 ${r.healthz.p99Ms} ms, max ${r.healthz.maxMs} ms`,
    },
    { name: 'a normal request succeeds after', ok: r.after.status === 200, measured: `${r.after.status ?? 'no answer'}` },
    { name: 'the service did not exit', ok: r.serviceExit === null, measured: r.serviceExit ? `exited (code ${r.serviceExit.code}, signal ${r.serviceExit.signal})` : 'alive' },
  ];
}

/** Pins the service to core 0 and this process (load generator, prober) to the other cores. */
function pinning(): { cpus: string | undefined; text: string } {
  const cores = os.availableParallelism();
  if (cores < 2) return { cpus: undefined, text: `not pinned (${cores} core)` };
  const others = cores === 2 ? '1' : `1-${cores - 1}`;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', others, String(process.pid)], { stdio: 'ignore' });
    return { cpus: '0', text: `service on core 0, load generator and probes on core${cores === 2 ? '' : 's'} ${others} (taskset)` };
  } catch {
    return { cpus: '0', text: 'service on core 0 (taskset); load generator not pinned' };
  }
}

export async function runLimits(name: string, o: LimitsOptions): Promise<LimitsResult> {
  const memoryLimit = o.env.MEMORY_LIMIT ?? DEFAULT_MEMORY_LIMIT;
  const limitBytes = quantityBytes(memoryLimit);
  if (limitBytes === undefined) throw new Error(`MEMORY_LIMIT=${memoryLimit} is not a byte count or a Kubernetes quantity`);
  const env: Record<string, string> = { ...o.env, MEMORY_LIMIT: memoryLimit };
  const bodyLimit = bodyLimitBytes(env.BODY_LIMIT);
  const machine = describeMachine();
  const pin = pinning();
  log(`limits: MEMORY_LIMIT=${memoryLimit} (${limitBytes} bytes), BODY_LIMIT ${bodyLimit} bytes; ${pin.text}`);
  log('generating the request bodies');
  const all = makeBursts(bodyLimit);
  const unknown = o.only.filter((id) => !all.some((b) => b.id === id));
  if (unknown.length) throw new Error(`unknown burst ${unknown.join(', ')}: choose from ${all.map((b) => b.id).join(', ')}`);
  const bursts = o.only.length ? all.filter((b) => o.only.includes(b.id)) : all;
  const repo = makeRepository();
  // Interrupted (Ctrl-C) or crashed: leave no service and no model repository behind.
  const killChildren = () => {
    childPids.forEach((pid) => process.kill(pid, 'SIGKILL'));
    repo.remove();
  };
  const interrupted = () => process.exit(130);
  process.once('exit', killChildren);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const results: BurstResult[] = [];
  try {
    for (const burst of bursts) {
      log(`${burst.id}: ${burst.label}, fresh service`);
      const r = await runBurst(burst, repo.dir, { ...o, env }, limitBytes, bodyLimit, pin.cpus);
      results.push(r);
      log(`  ${r.pass ? 'PASS' : 'FAIL'} in ${(r.durationMs / 1000).toFixed(1)} s: peak ${r.peakRssMb} MB (${(r.peakFraction * 100).toFixed(0)}%), ${JSON.stringify(r.statuses)}, /healthz ${r.healthz.failed}/${r.healthz.probes} failed`);
      for (const c of r.checks) if (!c.ok) log(`    FAIL ${c.name}: ${c.measured}`);
    }
  } finally {
    repo.remove();
    process.off('exit', killChildren);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  return {
    name,
    date: new Date().toISOString(),
    machine,
    memoryLimit,
    memoryLimitBytes: limitBytes,
    bodyLimitBytes: bodyLimit,
    env,
    pinning: pin.text,
    uploadGbps: o.uploadGbps ?? UPLOAD_GBPS,
    targets: TARGETS,
    bursts: results,
    pass: results.length > 0 && results.every((r) => r.pass),
  };
}

// ---------------------------------------------------------------------------------------
// Report

const cell = (v: number | null, unit = '') => (v === null ? '–' : `${v.toLocaleString('en-US')}${unit}`);
const entries = (m: Record<string, number>) =>
  Object.entries(m)
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ') || '–';

export function limitsMarkdown(r: LimitsResult, chartFile = `${r.name}.svg`): string {
  const envText = Object.entries(r.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const lines = [
    `## Limits: bursts against MEMORY_LIMIT=${r.memoryLimit} (${r.date.slice(0, 16).replace('T', ' ')} UTC, commit ${r.machine.commit})`,
    '',
    `MLP ${MLP_SIZES.join('-')} as the default model, \`node dist/main.js\` with ${envText}, a fresh process per burst; ${r.pinning}. ` +
      `${r.machine.cores} cores (${r.machine.cpuModel}, shared: load average ${r.machine.loadAverageAtStart.join(' / ')} at the start), Node ${r.machine.node}. Every request of a burst is sent at once, each on its own connection${r.uploadGbps ? `, the bodies sharing a ${r.uploadGbps} Gbit/s line rate` : ''}. ` +
      `Peak RSS is the process's VmHWM (start-up included); /healthz probed every ${r.targets.probeEveryMs} ms with a ${r.targets.probeTimeoutMs} ms timeout while the burst is in flight.`,
    '',
    `Targets: peak RSS <= ${r.targets.peakRssFraction * 100}% of the limit (${Math.round((r.memoryLimitBytes * r.targets.peakRssFraction) / 1024 ** 2)} MB); every answer 200, or 503 with Retry-After in p99 <= ${r.targets.fastP99Ms} ms and max <= ${r.targets.fastMaxMs} ms (413 only past the body limit); no socket error; /healthz p99 <= ${r.targets.fastP99Ms} ms and no probe failed; a one-row /predict answered 200 afterwards.`,
    '',
    '| burst | peak RSS MB (% of limit) | answers | 503 p50 / p99 / max ms | socket errors, timeouts | /healthz probes, failed, p99, max ms | after | result |',
    '|---|---:|---|---:|---|---:|---|---|',
  ];
  for (const b of r.bursts) {
    const errs = [entries(b.socketErrors), Object.keys(b.socketErrorsAfterResponse).length ? `after an answer ${entries(b.socketErrorsAfterResponse)}` : '', `${b.timeouts} timeouts`].filter((s) => s && s !== '–').join('; ');
    lines.push(
      `| ${b.label} | ${cell(b.peakRssMb)} (${(b.peakFraction * 100).toFixed(0)}%) | ${entries(b.statuses)}${Object.keys(b.codes).length ? ` (${entries(b.codes)})` : ''} | ${cell(b.rejectP50Ms)} / ${cell(b.rejectP99Ms)} / ${cell(b.rejectMaxMs)} | ${errs || '0'} | ${b.healthz.probes}, ${b.healthz.failed}, ${cell(b.healthz.p99Ms)}, ${cell(b.healthz.maxMs)} | ${b.after.status ?? 'none'} | ${b.pass ? 'PASS' : `FAIL: ${b.checks
        .filter((c) => !c.ok)
        .map((c) => c.name.split(' (')[0])
        .join('; ')}`} |`,
    );
  }
  lines.push('');
  lines.push(`Overall: **${r.pass ? 'PASS' : 'FAIL'}**. Start-up peak (VmHWM before the burst) and idle RSS, MB: ${r.bursts.map((b) => `${b.id} ${b.startupHwmMb} / ${b.idleRssMb}`).join(', ')}. Burst durations, s: ${r.bursts.map((b) => `${b.id} ${(b.durationMs / 1000).toFixed(1)}`).join(', ')}.`);
  const loads = r.bursts.filter((b) => b.loadAverage !== undefined);
  if (loads.length) lines.push('', `Load average when each burst was fired: ${loads.map((b) => `${b.id} ${b.loadAverage}`).join(', ')}.`);
  const drops = r.bursts.filter((b) => b.listenDrops !== undefined);
  if (drops.length) lines.push('', `Connections dropped by full listen queues during each burst (TcpExt ListenDrops, machine-wide): ${drops.map((b) => `${b.id} ${b.listenDrops}`).join(', ')}.`);
  const exits = r.bursts.filter((b) => b.serviceExit);
  for (const b of exits) lines.push('', `${b.id}: the service exited (code ${b.serviceExit!.code}, signal ${b.serviceExit!.signal}).`);
  lines.push('', `![RSS over time during each burst](${chartFile})`, '');
  return lines.join('\n');
}

/** RSS over time, one panel per burst, with the limit and the 85% target as rules and failed probes as ticks. */
export function limitsChart(r: LimitsResult): Promise<string> {
  const values = r.bursts.flatMap((b) => [
    ...b.samples.map((s) => ({ burst: b.short, kind: 'rss', t: s.t, rss: s.rssMb })),
    ...b.probes.filter((p) => p.failure !== undefined).map((p) => ({ burst: b.short, kind: 'probe failed', t: p.t, rss: 0 })),
  ]);
  const limitMb = r.memoryLimitBytes / 1024 ** 2;
  const targetMb = Math.round(limitMb * r.targets.peakRssFraction);
  const x = { field: 't', type: 'quantitative' as const, title: 's since the burst was fired', scale: { nice: false } };
  return renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `meshserve RSS during bursts, MEMORY_LIMIT=${r.memoryLimit}, ${r.date.slice(0, 10)}`,
      subtitle: `dashed: the limit (${Math.round(limitMb)} MB); dotted: the ${r.targets.peakRssFraction * 100}% target (${targetMb} MB); red ticks on the axis: /healthz probes that failed (1 s timeout)`,
    },
    data: { values },
    facet: { field: 'burst', type: 'nominal', title: null, sort: r.bursts.map((b) => b.short), header: { labelLimit: 0, labelFontSize: 12 } },
    columns: 2,
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 340,
      height: 180,
      layer: [
        { transform: [{ filter: "datum.kind === 'rss'" }], mark: { type: 'line', interpolate: 'step-after' }, encoding: { x, y: { field: 'rss', type: 'quantitative', title: 'RSS MB' } } },
        { transform: [{ filter: "datum.kind === 'probe failed'" }], mark: { type: 'tick', color: 'firebrick', orient: 'vertical', size: 14 }, encoding: { x, y: { field: 'rss', type: 'quantitative' } } },
        { mark: { type: 'rule', color: 'firebrick', strokeDash: [6, 4] }, encoding: { y: { datum: limitMb } } },
        { mark: { type: 'rule', color: 'darkorange', strokeDash: [2, 2] }, encoding: { y: { datum: targetMb } } },
      ],
    },
  });
}

/** The per-burst table as the terminal shows it. */
export function limitsTable(r: LimitsResult): string {
  const out: string[] = [];
  for (const b of r.bursts) {
    out.push(`${b.id}  ${b.label}  -> ${b.pass ? 'PASS' : 'FAIL'}`);
    out.push(`  peak RSS ${b.peakRssMb} MB (${(b.peakFraction * 100).toFixed(1)}% of ${r.memoryLimit}); start-up ${b.startupHwmMb} MB, idle ${b.idleRssMb} MB; burst ${(b.durationMs / 1000).toFixed(1)} s; load average ${b.loadAverage ?? '?'}, listen drops ${b.listenDrops ?? '?'}${b.generatorLagMs ? `, load generator's event-loop delay p99 ${b.generatorLagMs.p99} ms, max ${b.generatorLagMs.max} ms` : ''}`);
    out.push(`  answers ${entries(b.statuses)}${Object.keys(b.codes).length ? ` (${entries(b.codes)})` : ''}; 200 p50/p99 ${cell(b.okP50Ms)}/${cell(b.okP99Ms)} ms; 503 p50/p99/max ${cell(b.rejectP50Ms)}/${cell(b.rejectP99Ms)}/${cell(b.rejectMaxMs)} ms`);
    out.push(`  socket errors ${entries(b.socketErrors)}; after an answer ${entries(b.socketErrorsAfterResponse)}; timeouts ${b.timeouts}`);
    out.push(`  /healthz ${b.healthz.probes} probes, ${b.healthz.failed} failed${b.healthz.failed ? ` (${entries(b.healthz.failures)})` : ''}, p99 ${cell(b.healthz.p99Ms)} ms, max ${cell(b.healthz.maxMs)} ms; after: /healthz ${b.after.healthz ?? 'none'}, /predict ${b.after.status ?? 'none'}`);
    for (const c of b.checks) out.push(`    ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.measured}`);
  }
  out.push(`overall: ${r.pass ? 'PASS' : 'FAIL'}`);
  return `${out.join('\n')}\n`;
}
