import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ROOT } from './service.ts';

export interface CeilingPoint {
  batch: number;
  rowsPerSec: number;
  msPerBatch: number;
}

export interface CeilingRun {
  threads: number;
  /** Sessions measured at the same time, each in its own process. */
  sessions: number;
  /** Per batch size: rows/s summed over the sessions. */
  points: CeilingPoint[];
  best: CeilingPoint;
}

/** Measures the in-process ceiling with `sessions` copies of bench/ort-ceiling.ts running side by side (on `cpus` when given). */
export async function measureCeiling(
  modelPath: string,
  o: { threads: number; sessions: number; seconds: number; batches: number[]; /** taskset -c list, e.g. "0" */ cpus?: string },
): Promise<CeilingRun> {
  const children = Array.from({ length: o.sessions }, () => {
    const args = ['--import', 'tsx', `${ROOT}bench/ort-ceiling.ts`, modelPath, String(o.threads), String(o.seconds), o.batches.join(','), 'sync'];
    const [command, argv] = o.cpus === undefined ? [process.execPath, args] : ['taskset', ['-c', o.cpus, process.execPath, ...args]];
    const proc = spawn(command, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: proc.stdout! });
    const queue: string[] = [];
    const waiters: ((line: string) => void)[] = [];
    lines.on('line', (line) => {
      const w = waiters.shift();
      if (w) w(line);
      else queue.push(line);
    });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    const nextLine = () =>
      new Promise<string>((resolve, reject) => {
        const queued = queue.shift();
        if (queued !== undefined) return resolve(queued);
        waiters.push(resolve);
        void exited.then((code) => reject(new Error(`ort-ceiling exited with code ${code}`)));
      });
    return { proc, nextLine, exited };
  });
  try {
    for (const c of children) if ((await c.nextLine()) !== 'ready') throw new Error('ort-ceiling did not report ready');
    for (const c of children) c.proc.stdin!.write('go\n');
    const outputs = await Promise.all(children.map(async (c) => JSON.parse(await c.nextLine()) as { results: CeilingPoint[] }));
    const points = o.batches.map((batch, i) => ({
      batch,
      rowsPerSec: outputs.reduce((a, out) => a + out.results[i]!.rowsPerSec, 0),
      msPerBatch: outputs.reduce((a, out) => a + out.results[i]!.msPerBatch, 0) / outputs.length,
    }));
    const best = points.reduce((a, b) => (b.rowsPerSec > a.rowsPerSec ? b : a));
    return { threads: o.threads, sessions: o.sessions, points, best };
  } finally {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGTERM');
    await Promise.all(children.map((c) => c.exited));
  }
}
