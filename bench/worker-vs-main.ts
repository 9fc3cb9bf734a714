// Does onnxruntime's session.run cost more in a worker thread than on the main thread?
//   node --import tsx bench/worker-vs-main.ts [rounds=3] [batch=24] [runs=300]
// Builds the bench MLP into a temp file, then alternates: a session on this thread, a session in a fresh
// worker thread (this same file); each does 30 warm-up runs and then times `runs` batches.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { mlpModel } from '../scripts/onnx/index.ts';
import { median } from './lib/load.ts';
import { MLP_SEED, MLP_SIZES } from './lib/models.ts';

interface Job {
  modelPath: string;
  batch: number;
  runs: number;
}

/** Milliseconds per batch, after warm-up, on the calling thread. */
async function measure({ modelPath, batch, runs }: Job): Promise<number> {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const data = new Float32Array(batch * 1024).map((_, i) => Math.sin(i));
  const feeds = () => ({ input: new ort.Tensor('float32', data.slice(), [batch, 1024]) });
  for (let i = 0; i < 30; i++) await session.run(feeds());
  const start = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feeds());
  const ms = (performance.now() - start) / runs;
  await session.release();
  return ms;
}

function inWorker(job: Job): Promise<number> {
  // A worker does not inherit the --import tsx loader: register it, then load this file.
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  const worker = new Worker(bootstrap, { eval: true, workerData: job });
  return new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  }).finally(() => worker.terminate());
}

if (!isMainThread) {
  parentPort!.postMessage(await measure(workerData as Job));
} else {
  const [rounds = 3, batch = 24, runs = 300] = process.argv.slice(2).map(Number);
  const dir = mkdtempSync(path.join(tmpdir(), 'meshserve-wvm-'));
  const job: Job = { modelPath: path.join(dir, 'mlp.onnx'), batch, runs };
  writeFileSync(job.modelPath, mlpModel({ sizes: [...MLP_SIZES], seed: MLP_SEED }));
  const main: number[] = [];
  const worker: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    main.push(await measure(job));
    worker.push(await inWorker(job));
    process.stderr.write(`round ${r}/${rounds}: main ${main.at(-1)!.toFixed(2)} ms, worker ${worker.at(-1)!.toFixed(2)} ms per batch of ${batch}\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  const fmt = (xs: number[]) => `median ${median(xs).toFixed(2)} ms (${xs.map((x) => x.toFixed(2)).join(', ')})`;
  console.log(`batch ${batch}, ${runs} runs per round: main thread ${fmt(main)}; worker thread ${fmt(worker)}; worker / main ${(median(worker) / median(main)).toFixed(2)}`);
}
