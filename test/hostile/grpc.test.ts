// Hostile gRPC messages: bytes that are not protobuf, raw contents whose sizes disagree with their shapes, shapes
// too large to allocate, names of unknown models. Each gets INVALID_ARGUMENT (or NOT_FOUND) with a message
// saying what was wrong, nothing is allocated for a shape before it is checked, and the server keeps serving.
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { after, before, test } from '../helpers/node-test.ts';
import { encodeMessage, inferenceClient, rawCall, type InferenceClient } from '../helpers/grpc.ts';
import { startService, type TestService } from '../helpers/service.ts';

let svc: TestService;
let client: InferenceClient;
before(async () => {
  svc = await startService({ f: { versions: { 1: 'identity_float32.onnx' } }, s: { versions: { 1: 'identity_string.onnx' } } }, { grpc: true, env: { LOG_LEVEL: 'warn' } });
  client = inferenceClient(svc.grpcAddress);
});
after(async () => {
  client?.close();
  await svc?.close();
});

const INFER = '/inference.GRPCInferenceService/ModelInfer';

async function refused(request: object, code: status, message: RegExp): Promise<void> {
  const { err } = await client.start('ModelInfer', request, { deadline: Date.now() + 30_000 }).result;
  assert.ok(err, 'expected the call to fail');
  assert.equal(err.code, code, err.details);
  assert.match(err.details, message);
}

test('bytes that are not a protobuf message are INVALID_ARGUMENT, for every RPC', async () => {
  const garbage = [
    Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // a varint that never ends
    Uint8Array.from([0x08]), // a varint field with no value
    Uint8Array.from([0x0f]), // wire type 7 does not exist
  ];
  for (const bytes of garbage) {
    for (const path of [INFER, '/inference.GRPCInferenceService/ModelMetadata', '/inference.GRPCInferenceService/ModelReady']) {
      const { err } = await rawCall(svc.grpcAddress, path, bytes);
      assert.equal(err?.code, status.INVALID_ARGUMENT, `${path}: ${err?.details}`);
      assert.match(err!.details, /could not be decoded as protobuf/);
    }
  }
});

test('a message whose nested input is garbage is INVALID_ARGUMENT', async () => {
  const { err } = await rawCall(svc.grpcAddress, INFER, encodeMessage([[1, 'f'], [5, Uint8Array.from([0x1a, 0x05, 0x01])]]));
  assert.equal(err?.code, status.INVALID_ARGUMENT);
});

const x = (shape: (number | string)[], datatype = 'FP32') => [{ name: 'x', datatype, shape }];

test('raw contents shorter or longer than the shape needs', async () => {
  await refused({ model_name: 'f', inputs: x([1, 3]), raw_input_contents: [Buffer.alloc(8)] }, status.INVALID_ARGUMENT, /raw_input_contents\[0\] \(input "x"\) has 8 bytes but shape \[1, 3\] of FP32 needs 12/);
  await refused({ model_name: 'f', inputs: x([1, 3]), raw_input_contents: [Buffer.alloc(13)] }, status.INVALID_ARGUMENT, /has 13 bytes but shape \[1, 3\] of FP32 needs 12/);
  await refused({ model_name: 'f', inputs: x([2, 3]), raw_input_contents: [Buffer.alloc(0)] }, status.INVALID_ARGUMENT, /has 0 bytes/);
});

test('BYTES raw contents: a length prefix past the end, a truncated prefix, more or fewer elements than the shape', async () => {
  const prefix = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  await refused({ model_name: 's', inputs: x([1, 3], 'BYTES'), raw_input_contents: [Buffer.concat([prefix(0xffffffff), Buffer.from('abc')])] }, status.INVALID_ARGUMENT, /declares 4294967295 bytes but only 3 remain/);
  await refused({ model_name: 's', inputs: x([1, 3], 'BYTES'), raw_input_contents: [Buffer.from([1, 0])] }, status.INVALID_ARGUMENT, /truncated 4-byte length prefix/);
  await refused({ model_name: 's', inputs: x([1, 3], 'BYTES'), raw_input_contents: [Buffer.concat([prefix(1), Buffer.from('a')])] }, status.INVALID_ARGUMENT, /shape needs 3 BYTES elements, binary data holds 1/);
  const four = Buffer.concat(Array.from({ length: 4 }, () => Buffer.concat([prefix(1), Buffer.from('a')])));
  await refused({ model_name: 's', inputs: x([1, 3], 'BYTES'), raw_input_contents: [four] }, status.INVALID_ARGUMENT, /shape needs 3 BYTES elements/);
});

test('huge, negative and overlong shapes are refused before anything is allocated', async () => {
  await refused({ model_name: 'f', inputs: x([2 ** 40, 3]), raw_input_contents: [Buffer.alloc(12)] }, status.INVALID_ARGUMENT, /more than 268435456 elements/);
  await refused({ model_name: 'f', inputs: x(['9223372036854775807', '3']), raw_input_contents: [Buffer.alloc(12)] }, status.INVALID_ARGUMENT, /shape\[0\] must be a non-negative integer, got 9223372036854775807/);
  await refused({ model_name: 'f', inputs: x([-1, 3]), raw_input_contents: [Buffer.alloc(12)] }, status.INVALID_ARGUMENT, /shape\[0\] must be a non-negative integer, got -1/);
  await refused({ model_name: 'f', inputs: x(Array.from({ length: 40 }, () => 1)), raw_input_contents: [Buffer.alloc(4)] }, status.INVALID_ARGUMENT, /at most 32 dimensions, got 40/);
  const before = process.memoryUsage().rss;
  await refused({ model_name: 'f', inputs: x([2 ** 27, 3]), contents: undefined } as object, status.INVALID_ARGUMENT, /more than 268435456 elements|contents is missing/);
  assert.ok(process.memoryUsage().rss - before < 256 * 2 ** 20, 'no buffer was allocated for the declared shape');
});

test('unknown models, long names and many inputs get short, clear answers', async () => {
  await refused({ model_name: 'n'.repeat(10_000), inputs: x([1, 3]), raw_input_contents: [Buffer.alloc(12)] }, status.NOT_FOUND, /^unknown model "n{64}…"; available: f, s$/);
  const many = Array.from({ length: 1000 }, (_, i) => ({ name: `in${i}`, datatype: 'FP32', shape: [1, 3] }));
  await refused({ model_name: 'f', inputs: many, raw_input_contents: many.map(() => Buffer.alloc(12)) }, status.INVALID_ARGUMENT, /has no input "in0"; its inputs are x/);
});

test('after all of it the server still serves gRPC and HTTP', async () => {
  assert.deepEqual(await client.call('ServerLive'), { live: true });
  const reply = await client.call('ModelInfer', { model_name: 'f', inputs: x([1, 3]), raw_input_contents: [Buffer.from(new Float32Array([1, 2, 3]).buffer)] });
  assert.equal(reply.outputs[0].name, 'y');
  assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
});
