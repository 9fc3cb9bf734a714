import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A port that was free a moment ago on 127.0.0.1 (the child binds it right after). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Pids of the children still running (for the CPU accounting in cpu.ts). */
export const childPids = new Set<number>();

export interface Child {
  proc: ChildProcess;
  /** The last lines the child wrote to stdout and stderr (its logs), for error messages. */
  stderr: () => string;
  stop: () => Promise<number | null>;
}

/**
 * Starts `node <args>` with env; its output is kept (last 8 KB) to explain failures. With `cpus`
 * ("0", "0-1") it runs under `taskset -c` (which execs node: the pid is node's).
 */
export function startNode(args: string[], env: Record<string, string>, options: { cpus?: string } = {}): Child {
  const [command, argv] = options.cpus === undefined ? [process.execPath, args] : ['taskset', ['-c', options.cpus, process.execPath, ...args]];
  const proc = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = proc.pid!;
  childPids.add(pid);
  proc.once('exit', () => childPids.delete(pid));
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-8192);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    stderr: () => tail,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout' as const)]);
      if (code !== 'timeout') return code;
      proc.kill('SIGKILL');
      return exited;
    },
  };
}

/** GET url with a timeout; resolves with status and body text, or undefined when it does not answer. */
export async function get(url: string, timeoutMs = 2000): Promise<{ status: number; body: string; ms: number } | undefined> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    return { status: res.status, body, ms: performance.now() - t0 };
  } catch {
    return undefined;
  }
}

/** Polls url until it answers 200, the child exits, or timeoutMs passes. */
export async function waitFor200(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`process exited with code ${child.proc.exitCode} before ${url} answered:\n${child.stderr()}`);
    const res = await get(url, 1000);
    if (res?.status === 200) return;
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${child.stderr()}`);
}
