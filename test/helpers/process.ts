// Child processes and waits that cannot outlive a test: every process started here is killed by the test's
// t.after (or the file's after hook) whatever happens, and again when this process exits or is told to stop
// (the runner sends SIGTERM to a file past its time); every wait has a bound and says what it waited for.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after } from './node-test.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The entry point the process tests run: dist/main.js, or MESHSERVE_TEST_MAIN (a test-only switch to run a
 * patched build, e.g. one whose readiness never turns 200, and see the suite fail in bounded time).
 */
export const MAIN = process.env.MESHSERVE_TEST_MAIN ?? 'dist/main.js';

const live = new Set<ChildProcess>();

function killAll(): void {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
process.once('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 1));
  });
}
// The file's last hook: nothing this file started may outlive it.
after(() => stopAll());

/** A tracked child process: `exited` settles when it is gone; `stop()` kills it (SIGKILL) and waits. */
export interface Tracked {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** Spawns a process that this file will kill if the test does not; pass `cleanup` (t.after) to kill it when the test ends. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions, cleanup?: (fn: () => Promise<void>) => void): Tracked {
  const child = spawn(command, args, options);
  live.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', () => {
      live.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await withTimeout(exited, 10_000, `process ${child.pid} to exit after SIGKILL`);
  };
  cleanup?.(stop);
  return { child, exited, stop };
}

/** Kills every process this file started that is still running, and waits for them. */
export async function stopAll(): Promise<void> {
  killAll();
  await Promise.all([...live].map((child) => withTimeout(new Promise((r) => child.once('exit', r)), 10_000, `process ${child.pid} to exit`).catch(() => {})));
}

/** Settles as `promise` does, or rejects after `ms` naming what it waited for. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` every `intervalMs` until it is true; throws after `timeoutMs`. Returns the time it took. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000, intervalMs = 20): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return performance.now() - started;
}

/** GET url and return the status, or 0 when the request fails (not listening yet, or gone). */
export async function statusOf(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** `npm run build`, bounded: the process tests run the built entry point. */
export function build(): void {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'pipe', timeout: 240_000 });
}
