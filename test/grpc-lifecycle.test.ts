// gRPC calls under time and load: the client's deadline is the request's deadline, a cancelled call leaves the
// queue, a full queue or memory budget is UNAVAILABLE (retryable), the receive limit is BODY_LIMIT, and a
// shutdown drains calls in flight like HTTP requests. A long BATCH_DELAY_MS holds requests in the queue.
import assert from 'node:assert/strict';
import { status, type ServiceError } from '@grpc/grpc-js';
import { after, before, describe, test } from './helpers/node-test.ts';
import { healthClient, inferenceClient, type InferenceClient } from './helpers/grpc.ts';
import { waitFor } from './helpers/process.ts';
import { startService, type TestService } from './helpers/service.ts';

const HOLD_MS = 1500;
const row = Buffer.from(new Float32Array([1, 2]).buffer);
const request = { model_name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2] }], raw_input_contents: [row] };

async function metric(svc: TestService, pattern: RegExp): Promise<number> {
  const text = await fetch(`${svc.metricsUrl}/metrics`).then((r) => r.text());
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('deadline, cancellation and a full queue', () => {
  let svc: TestService;
  let client: InferenceClient;
  before(async () => {
    svc = await startService(
      { m: { versions: { 1: 'add_one.onnx' } } },
      { grpc: true, env: { BATCH_DELAY_MS: String(HOLD_MS), MAX_BATCH_SIZE: '64', MAX_QUEUE_SIZE: '3', BODY_LIMIT: '64kb' } },
    );
    client = inferenceClient(svc.grpcAddress);
  });
  after(async () => {
    client?.close();
    await svc?.close();
  });
  const depth = () => svc.service.repository.resolve('m').queueDepth;

  test('a call whose deadline passes in the queue ends DEADLINE_EXCEEDED and is counted as a timeout, not run', async () => {
    const started = Date.now();
    const { result } = client.start('ModelInfer', request, { deadline: Date.now() + 300 });
    const { err } = await result;
    assert.equal(err?.code, status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < HOLD_MS, 'answered at the deadline, not when the batch would have run');
    await waitFor('the queue to empty', () => depth() === 0, 5000);
    await waitFor('the timeout to be counted', async () => (await metric(svc, /meshserve_inference_requests_total\{model="m",version="1",outcome="timeout"\} (\d+)/)) >= 1, 5000);
  });

  test('parameters.timeout shorter than the deadline ends the request with DEADLINE_EXCEEDED too', async () => {
    const err = await client.call('ModelInfer', { ...request, parameters: { timeout: { int64_param: 200_000 } } }).catch((e: ServiceError) => e);
    assert.equal((err as ServiceError).code, status.DEADLINE_EXCEEDED);
    assert.equal((err as ServiceError).metadata.get('meshserve-error-code')[0], 'deadline_exceeded');
  });

  test('a cancelled call is dropped from the queue at once and counted as cancelled', async () => {
    const before = await metric(svc, /meshserve_inference_requests_total\{model="m",version="1",outcome="cancelled"\} (\d+)/);
    const { call, result } = client.start('ModelInfer', request, { deadline: Date.now() + 30_000 });
    await waitFor('the call to be queued', () => depth() === 1, 5000);
    call.cancel();
    assert.equal((await result).err?.code, status.CANCELLED);
    await waitFor('the queue to empty', () => depth() === 0, HOLD_MS / 2);
    await waitFor('the cancellation to be counted', async () => (await metric(svc, /meshserve_inference_requests_total\{model="m",version="1",outcome="cancelled"\} (\d+)/)) === before + 1, 5000);
  });

  test('a full queue is UNAVAILABLE with queue_full and retry-after; the queued calls still succeed', async () => {
    const queued = [0, 1, 2].map(() => client.start('ModelInfer', request, { deadline: Date.now() + 30_000 }).result);
    await waitFor('three calls queued', () => depth() === 3, 5000);
    const { err } = await client.start('ModelInfer', request, { deadline: Date.now() + 30_000 }).result;
    assert.equal(err?.code, status.UNAVAILABLE);
    assert.equal(err?.metadata.get('meshserve-error-code')[0], 'queue_full');
    assert.equal(err?.metadata.get('retry-after')[0], '1');
    for (const r of await Promise.all(queued)) assert.equal(r.err, null);
  });

  test('a message over BODY_LIMIT is refused by the server with RESOURCE_EXHAUSTED', async () => {
    const big = Buffer.alloc(80 * 1024);
    const { err } = await client.start('ModelInfer', { ...request, inputs: [{ name: 'x', datatype: 'FP32', shape: [10240, 2] }], raw_input_contents: [big] }).result;
    assert.equal(err?.code, status.RESOURCE_EXHAUSTED);
  });
});

describe('memory budget', () => {
  let svc: TestService;
  before(async () => {
    // A budget of about 1.2 MB for requests (MEMORY_LIMIT * 0.85 - rss - 48 MiB, rss taken as 0).
    const limit = Math.ceil((48 * 2 ** 20 + 1.2 * 2 ** 20) / 0.85);
    svc = await startService(
      { m: { versions: { 1: 'add_one.onnx' } } },
      { grpc: true, rss: () => 0, env: { MEMORY_LIMIT: String(limit), BODY_LIMIT: '64kb', BATCH_DELAY_MS: String(HOLD_MS), MAX_BATCH_SIZE: '65536' } },
    );
  });
  after(() => svc?.close());

  test('calls past the memory budget are UNAVAILABLE with memory_exhausted, the others succeed', async () => {
    const client = inferenceClient(svc.grpcAddress);
    try {
      // About 56 KB of raw FP32 each: charged 64 KiB + 4 x 56 KB, so four fit and the fifth does not.
      const rows = 7000;
      const big = { ...request, inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, 2] }], raw_input_contents: [Buffer.alloc(rows * 8)] };
      const results = await Promise.all(Array.from({ length: 8 }, () => client.start('ModelInfer', big, { deadline: Date.now() + 30_000 }).result));
      const codes = results.map((r) => r.err?.code ?? status.OK);
      assert.ok(codes.includes(status.OK), String(codes));
      const refused = results.filter((r) => r.err);
      assert.ok(refused.length > 0, String(codes));
      for (const r of refused) {
        assert.equal(r.err!.code, status.UNAVAILABLE);
        assert.equal(r.err!.metadata.get('meshserve-error-code')[0], 'memory_exhausted');
      }
      await waitFor('every charge to be given back', async () => (await metric(svc, /meshserve_memory_in_flight_bytes (\d+)/)) === 0, 5000);
    } finally {
      client.close();
    }
  });
});

describe('graceful shutdown', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService(
      { m: { versions: { 1: 'add_one.onnx' } } },
      { grpc: true, env: { BATCH_DELAY_MS: '800', MAX_BATCH_SIZE: '64', SHUTDOWN_DELAY_MS: '400', SHUTDOWN_TIMEOUT_MS: '10000' } },
    );
  });
  after(() => svc?.close().catch(() => {}));

  test('calls in flight and calls made during the delay all succeed; health turns NOT_SERVING at once; new calls fail after', async () => {
    const client = inferenceClient(svc.grpcAddress);
    const health = healthClient(svc.grpcAddress);
    try {
      const watch = (health.raw as unknown as { watch(req: object): NodeJS.EventEmitter }).watch({ service: '' });
      const statuses: string[] = [];
      const watchEnded = new Promise<void>((resolve) => {
        watch.on('data', (m: { status: string }) => statuses.push(m.status));
        watch.on('error', () => resolve());
        watch.on('end', () => resolve());
      });
      await waitFor('the watch to report', () => statuses.length > 0, 5000);
      const inFlight = [0, 1, 2].map(() => client.start('ModelInfer', request, { deadline: Date.now() + 30_000 }).result);
      await waitFor('three calls queued', () => svc.service.repository.resolve('m').queueDepth === 3, 5000);
      const stopped = svc.service.shutdown();
      assert.deepEqual(await health.call('check', { service: '' }), { status: 'NOT_SERVING' });
      assert.deepEqual(await health.call('check', { service: 'liveness' }), { status: 'SERVING' });
      assert.deepEqual(await client.call('ServerReady'), { ready: false });
      const duringDelay = client.start('ModelInfer', request, { deadline: Date.now() + 30_000 }).result;
      await stopped;
      for (const r of [...(await Promise.all(inFlight)), await duringDelay]) assert.equal(r.err, null, r.err?.details);
      await watchEnded;
      assert.equal(statuses.at(-1), 'NOT_SERVING', 'the watch saw NOT_SERVING before it ended');
      const after = await client.start('ModelInfer', request, { deadline: Date.now() + 3000 }).result;
      assert.equal(after.err?.code, status.UNAVAILABLE);
    } finally {
      client.close();
      health.close();
    }
  });
});
