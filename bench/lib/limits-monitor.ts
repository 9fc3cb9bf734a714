// Worker thread of the limits bench: samples the service's memory from /proc and probes /healthz
// the way the kubelet does, on an event loop of its own, so the load generator's work on the main
// thread cannot delay a probe or a sample.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface MonitorOptions {
  pid: number;
  port: number;
  sampleEveryMs: number;
  probeEveryMs: number;
  probeTimeoutMs: number;
}

export interface MemorySample {
  /** Wall-clock ms (see now()). */
  at: number;
  rssKb: number;
  hwmKb: number;
}

export interface Probe {
  at: number;
  /** ms to a complete 200, or undefined when the probe failed. */
  ms?: number;
  /** timeout, a socket error code, or `status <n>`. */
  failure?: string;
}

export interface MonitorReport {
  samples: MemorySample[];
  probes: Probe[];
}

/** Wall-clock ms with sub-ms resolution, comparable between threads (each has its own performance.now()). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** VmRSS and VmHWM of a process in kB and its threads, or undefined once it is gone. */
export function readMemory(pid: number): { rssKb: number; hwmKb: number; threads: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM'), threads: field('Threads') };
  } catch {
    return undefined;
  }
}

function probe(port: number, timeoutMs: number): Promise<{ ms?: number; failure?: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: { ms?: number; failure?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    // A new connection per probe, like the kubelet's HTTP prober.
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200 ? { ms: performance.now() - t0 } : { failure: `status ${res.statusCode}` }));
      res.on('error', (err: NodeJS.ErrnoException) => done({ failure: err.code ?? err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => done({ failure: err.code ?? err.message }));
    const timer = setTimeout(() => {
      done({ failure: 'timeout' });
      req.destroy();
    }, timeoutMs);
  });
}

if (parentPort) {
  const o = workerData as MonitorOptions;
  const port = parentPort;
  const samples: MemorySample[] = [];
  const probes: Probe[] = [];
  const pending: Promise<void>[] = [];
  const sample = () => {
    const m = readMemory(o.pid);
    if (m) samples.push({ at: now(), ...m });
  };
  sample();
  port.postMessage('started');
  const sampler = setInterval(sample, o.sampleEveryMs);
  const prober = setInterval(() => {
    const at = now();
    pending.push(probe(o.port, o.probeTimeoutMs).then((r) => void probes.push({ at, ...r })));
  }, o.probeEveryMs);
  port.on('message', async (message: string) => {
    if (message !== 'stop') return;
    clearInterval(sampler);
    clearInterval(prober);
    sample();
    await Promise.all(pending);
    probes.sort((a, b) => a.at - b.at);
    const report: MonitorReport = { samples, probes };
    port.postMessage(report);
  });
}
