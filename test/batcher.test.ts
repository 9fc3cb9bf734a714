import assert from 'node:assert/strict';
import { test } from './helpers/node-test.ts';
import { AppError } from '../src/errors.ts';
import { Batcher } from '../src/batching/batcher.ts';
import type { TensorData, Tensors } from '../src/tensors/types.ts';
import { FakeClock, flush } from './helpers/fake-clock.ts';

const rows = (values: number[][]): Tensors => ({
  x: { type: 'float32', dims: [values.length, values[0]!.length], data: Float32Array.from(values.flat()) },
});
const values = (t: TensorData) => Array.from(t.data as Float32Array);

/** A batcher whose model doubles its input; records every batch it runs and lets the test finish runs by hand. */
function setup(options: { maxBatchSize?: number; batchDelayMs?: number; maxQueueSize?: number; batchable?: boolean; manual?: boolean } = {}) {
  const clock = new FakeClock();
  const batches: number[][] = [];
  const waiting: (() => void)[] = [];
  let fail: Error | undefined;
  const batcher = new Batcher({
    maxBatchSize: options.maxBatchSize ?? 4,
    batchDelayMs: options.batchDelayMs ?? 10,
    maxQueueSize: options.maxQueueSize ?? 100,
    batchable: options.batchable ?? true,
    clock,
    run: async (inputs) => {
      const x = inputs.x!;
      batches.push(values(x));
      if (options.manual) await new Promise<void>((r) => waiting.push(r));
      if (fail) throw fail;
      return { y: { type: 'float32', dims: x.dims, data: (x.data as Float32Array).map((v) => v * 2) } };
    },
  });
  return {
    clock,
    batcher,
    batches,
    finishOne: () => waiting.shift()?.(),
    failNext: (e: Error) => (fail = e),
    submit: (v: number[][], deadline = 1000, signal?: AbortSignal) => batcher.submit(rows(v), { deadline, signal }),
  };
}

test('a lone request waits the batch delay, then runs', async () => {
  const { clock, batches, submit } = setup({ batchDelayMs: 10 });
  const result = submit([[1]]);
  clock.advance(9);
  await flush();
  assert.equal(batches.length, 0, 'must not run before the delay ends');
  clock.advance(1);
  const r = await result;
  assert.deepEqual(batches, [[1]]);
  assert.deepEqual(values(r.outputs.y!), [2]);
  assert.equal(r.queueMs, 10);
  assert.equal(r.batchSize, 1);
});

test('requests arriving within the delay share one batch and each gets its own rows back in order', async () => {
  const { clock, batches, submit } = setup({ batchDelayMs: 10, maxBatchSize: 8 });
  const a = submit([[1], [2]]);
  clock.advance(3);
  const b = submit([[3]]);
  clock.advance(3);
  const c = submit([[4], [5], [6]]);
  clock.advance(4);
  const [ra, rb, rc] = await Promise.all([a, b, c]);
  assert.deepEqual(batches, [[1, 2, 3, 4, 5, 6]]);
  assert.deepEqual(values(ra.outputs.y!), [2, 4]);
  assert.deepEqual(ra.outputs.y!.dims, [2, 1]);
  assert.deepEqual(values(rb.outputs.y!), [6]);
  assert.deepEqual(values(rc.outputs.y!), [8, 10, 12]);
  assert.equal(rc.batchSize, 6);
});

test('a batch closes as soon as it reaches the size cap, without waiting for the delay', async () => {
  const { batches, submit } = setup({ batchDelayMs: 1000, maxBatchSize: 3 });
  const all = [submit([[1]]), submit([[2]]), submit([[3]])];
  await Promise.all(all);
  assert.deepEqual(batches, [[1, 2, 3]]);
});

test('rows beyond the size cap go to the next batch', async () => {
  const { clock, batches, submit } = setup({ batchDelayMs: 10, maxBatchSize: 2 });
  const all = [submit([[1]]), submit([[2]]), submit([[3]])];
  await flush();
  clock.advance(10);
  await Promise.all(all);
  assert.deepEqual(batches, [[1, 2], [3]]);
});

// The tests above dispatch as soon as the cap is reached, so the queue never holds more rows than the cap
// and a batch one row over it (`rows + p.rows <= max + 1` when filling a batch) would go unseen. Here a
// running batch holds the queue while far more rows than the cap pile up, in requests of 1 and 2 rows.
test('while a batch runs and more rows than the cap queue up, no batch ever exceeds MAX_BATCH_SIZE rows', async () => {
  const { clock, batches, submit, finishOne } = setup({ batchDelayMs: 1, maxBatchSize: 3, manual: true });
  const busy = submit([[0]]);
  clock.advance(1);
  await flush();
  assert.deepEqual(batches, [[0]], 'one batch is running and holds the queue');
  // 1 + 1 + 2 + 1 + 2 + 1 = 8 rows queued behind a cap of 3.
  const queued = [submit([[1]]), submit([[2]]), submit([[3], [4]]), submit([[5]]), submit([[6], [7]]), submit([[8]])];
  clock.advance(50);
  await flush();
  assert.equal(batches.length, 1, 'nothing else runs while the first batch does');
  for (let i = 0; i < 5; i++) {
    finishOne();
    await flush();
  }
  await busy;
  const results = await Promise.all(queued);
  for (const b of batches) assert.ok(b.length <= 3, `a batch of ${b.length} rows for a cap of 3: ${JSON.stringify(batches)}`);
  // A request that does not fit is left for the next batch; a later one that fits joins this one.
  assert.deepEqual(batches, [[0], [1, 2, 5], [3, 4, 8], [6, 7]]);
  assert.deepEqual(results.map((r) => values(r.outputs.y!)), [[2], [4], [6, 8], [10], [12, 14], [16]]);
});

test('requests with different non-batch shapes never share a batch', async () => {
  const { clock, batches, submit } = setup({ batchDelayMs: 5, maxBatchSize: 8 });
  const a = submit([[1, 1]]);
  const b = submit([[2]]);
  const c = submit([[3, 3]]);
  clock.advance(5);
  await flush();
  clock.advance(5);
  const [ra, rb, rc] = await Promise.all([a, b, c]);
  assert.deepEqual(batches, [[1, 1, 3, 3], [2]]);
  assert.deepEqual(values(ra.outputs.y!), [2, 2]);
  assert.deepEqual(values(rb.outputs.y!), [4]);
  assert.deepEqual(values(rc.outputs.y!), [6, 6]);
});

test('with a max batch size of 1 every request runs alone and without delay', async () => {
  const { batches, submit } = setup({ batchDelayMs: 1000, maxBatchSize: 1 });
  await Promise.all([submit([[1]]), submit([[2]])]);
  assert.deepEqual(batches, [[1], [2]]);
});

test('a model without a dynamic batch dimension runs each request alone', async () => {
  const { clock, batches, submit } = setup({ batchable: false, batchDelayMs: 5 });
  const all = [submit([[1], [2]]), submit([[3], [4]])];
  clock.advance(5);
  await Promise.all(all);
  assert.deepEqual(batches, [[1, 2], [3, 4]]);
});

test('one batch runs at a time; requests that arrive meanwhile form the next batch', async () => {
  const { clock, batches, submit, finishOne } = setup({ batchDelayMs: 2, maxBatchSize: 8, manual: true });
  const first = submit([[1]]);
  clock.advance(2);
  await flush();
  const second = [submit([[2]]), submit([[3]])];
  clock.advance(50);
  await flush();
  assert.deepEqual(batches, [[1]], 'the second batch must wait for the first');
  finishOne();
  await first;
  await flush();
  assert.deepEqual(batches, [[1], [2, 3]]);
  finishOne();
  const done = await Promise.all(second);
  assert.equal(done[0]!.queueMs, 50, 'queued from t=2 until the first batch finished at t=52');
});

test('a request still queued at its deadline is answered 503 and never run', async () => {
  const { clock, batches, submit, finishOne } = setup({ batchDelayMs: 1, manual: true });
  const busy = submit([[1]], 1000);
  clock.advance(1);
  await flush();
  const late = submit([[2]], 30);
  clock.advance(30);
  await assert.rejects(late, (e: AppError) => e.status === 503 && e.code === 'deadline_exceeded' && e.headers['retry-after'] !== undefined);
  finishOne();
  await busy;
  await flush();
  assert.deepEqual(batches, [[1]], 'the expired request must not run');
});

test('past MAX_QUEUE_SIZE pending requests, new ones are rejected at once with 503 naming the limit', async () => {
  const { clock, submit } = setup({ maxQueueSize: 2, batchDelayMs: 10, maxBatchSize: 100 });
  const queued = [submit([[1]]), submit([[2]])];
  await assert.rejects(submit([[3]]), (e: AppError) => e.status === 503 && e.code === 'queue_full' && /MAX_QUEUE_SIZE 2/.test(e.message) && e.headers['retry-after'] === '1');
  clock.advance(10);
  await Promise.all(queued);
  const again = submit([[4]]);
  clock.advance(10);
  assert.deepEqual(values((await again).outputs.y!), [8], 'space frees up once the queue drains');
});

test('a client that disconnects before its batch runs is dropped from the queue', async () => {
  const { clock, batcher, batches, submit } = setup({ batchDelayMs: 10 });
  const controller = new AbortController();
  const gone = submit([[1]], 1000, controller.signal);
  const stays = submit([[2]]);
  controller.abort();
  await assert.rejects(gone, (e: AppError) => e.code === 'cancelled');
  assert.equal(batcher.depth, 1);
  clock.advance(10);
  await stays;
  assert.deepEqual(batches, [[2]]);
});

test('an error in one batch fails only the requests of that batch', async () => {
  const { clock, submit, failNext, batches } = setup({ batchDelayMs: 5, maxBatchSize: 2 });
  failNext(new Error('boom'));
  const first = [submit([[1]]), submit([[2]])];
  const results = await Promise.allSettled(first);
  assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'boom'));
  failNext(undefined as unknown as Error);
  const next = submit([[3]]);
  clock.advance(5);
  assert.deepEqual(values((await next).outputs.y!), [6]);
  assert.equal(batches.length, 2);
});

test('drain waits for queued and running work and then refuses new requests', async () => {
  const { clock, batcher, submit } = setup({ batchDelayMs: 10 });
  const queued = submit([[1]]);
  let drained = false;
  const drain = batcher.drain().then(() => (drained = true));
  await flush();
  assert.equal(drained, false);
  clock.advance(10);
  await queued;
  await drain;
  await assert.rejects(submit([[2]]), (e: AppError) => e.status === 503 && e.code === 'shutting_down');
});

test('a full batch of one shape runs at once even while an older request of another shape still waits', async () => {
  const { clock, batches, submit } = setup({ batchDelayMs: 10, maxBatchSize: 2 });
  const older = submit([[9, 9]]);
  const full = [submit([[1]]), submit([[2]])];
  await Promise.all(full);
  assert.deepEqual(batches, [[1, 2]], 'the full batch must not wait for the older request\'s delay');
  clock.advance(10);
  await older;
  assert.deepEqual(batches, [[1, 2], [9, 9]]);
});
