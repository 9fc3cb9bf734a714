// The in-process onnxruntime ceiling: one session, no HTTP, no worker hop, rows/s per batch size after
// warm-up, for a model with one float32 input [batch, ...]. Run as a child process by bench/lib/ceiling.ts:
//   node --import tsx bench/ort-ceiling.ts <model.onnx> <intraOpThreads> <secondsPerBatch> <batch,batch,...> [sync]
// With "sync" it prints "ready" after warm-up and waits for a line on stdin, so several copies can
// measure the same window (how much two batches at once gain on this machine).
import { createInterface } from 'node:readline';
import ort from 'onnxruntime-node';
import { inputRow } from './lib/payloads.ts';

const [modelPath, threadsArg, secondsArg, batchesArg, sync] = process.argv.slice(2);
if (!modelPath || !threadsArg || !secondsArg || !batchesArg) {
  process.stderr.write('usage: ort-ceiling.ts <model.onnx> <intraOpThreads> <secondsPerBatch> <batch,batch,...> [sync]\n');
  process.exit(2);
}
const threads = Number(threadsArg);
const seconds = Number(secondsArg);
const batches = batchesArg.split(',').map(Number);

const session = await ort.InferenceSession.create(modelPath, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
// The model's single float32 input, [batch, ...fixed dims] (the MLP's "input" [n, 1024], iris' [n, 4]).
const meta = session.inputMetadata[0]!;
const inputName = session.inputNames[0]!;
const width = meta.isTensor ? meta.shape.slice(1).reduce<number>((a, d) => a * (typeof d === 'number' && d > 0 ? d : 1), 1) : 1024;
const feeds = (batch: number) => ({ [inputName]: new ort.Tensor('float32', inputRow(width * batch, 7), [batch, width]) });

for (const b of batches) for (let i = 0; i < 3; i++) await session.run(feeds(b));

if (sync === 'sync') {
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();
}

const results = [];
for (const batch of batches) {
  const input = feeds(batch);
  let rows = 0;
  let runs = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < seconds * 1000) {
    await session.run(input);
    rows += batch;
    runs++;
    now = performance.now();
  }
  const sec = (now - t0) / 1000;
  results.push({ batch, rowsPerSec: rows / sec, msPerBatch: (sec * 1000) / runs });
}
await session.release();
process.stdout.write(`${JSON.stringify({ threads, results })}\n`);
