// The gRPC Open Inference Protocol (inference.GRPCInferenceService) and grpc.health.v1.Health, end to end with a
// gRPC client: every RPC, every datatype raw and typed, requested outputs, parameters, errors and their codes,
// metrics and logs. Messages are also encoded by hand from the protocol's field numbers.
import { SAMPLE_VALUES } from './helpers/samples.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { status, type ServiceError } from '@grpc/grpc-js';
import onnxProto from 'onnx-proto';
import { after, before, describe, test } from './helpers/node-test.ts';
import { toBinary } from '../src/tensors/binary.ts';
import { toHalf } from '../src/tensors/fp16.ts';
import { fromJsonValues } from '../src/tensors/json.ts';
import { V2_BY_ELEMENT, type ElementType } from '../src/tensors/types.ts';
import { decodeMessage, encodeMessage, healthClient, inferenceClient, rawCall, type InferenceClient } from './helpers/grpc.ts';
import { fixturePath } from './helpers/repository.ts';
import { startService, type TestService } from './helpers/service.ts';

const { onnx } = onnxProto;

const TYPES = SAMPLE_VALUES;

/** identity_float32.onnx with its input and output retyped to FLOAT16 (no fixture ships one). */
function identityFloat16(): Uint8Array {
  const model = onnx.ModelProto.decode(readFileSync(fixturePath('identity_float32.onnx')));
  for (const v of [...model.graph!.input!, ...model.graph!.output!]) v.type!.tensorType!.elemType = onnx.TensorProto.DataType.FLOAT16;
  return onnx.ModelProto.encode(model).finish();
}

const IRIS = { config: JSON.parse(readFileSync('models/iris/config.json', 'utf8')), versions: { 1: new Uint8Array(readFileSync('models/iris/1/model.onnx')) } };

let svc: TestService;
let client: InferenceClient;
before(async () => {
  svc = await startService(
    {
      ...Object.fromEntries(Object.keys(TYPES).map((type) => [type, { versions: { 1: `identity_${type}.onnx` } }])),
      float16: { versions: { 1: identityFloat16() } },
      iris: IRIS,
      add_mul: { config: { version_policy: { all: {} } }, versions: { 1: 'add_mul.onnx', 2: 'add_mul.onnx' } },
    },
    { grpc: true },
  );
  client = inferenceClient(svc.grpcAddress);
});
after(async () => {
  client?.close();
  await svc?.close();
});

/** Rejects with the ServiceError, or fails when the call succeeded. */
async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail('expected the call to fail');
}

const bytesOf = (type: ElementType, values: unknown[]) => toBinary({ type, dims: [1, values.length], data: fromJsonValues(type, values, 'x') });

describe('server and model RPCs', () => {
  test('ServerLive and ServerReady are true once the models are loaded', async () => {
    assert.deepEqual(await client.call('ServerLive'), { live: true });
    assert.deepEqual(await client.call('ServerReady'), { ready: true });
  });

  test('ServerMetadata names the server and its version', async () => {
    assert.deepEqual(await client.call('ServerMetadata'), { name: 'meshserve', version: '0.0.0-test', extensions: [] });
  });

  test('ModelReady: true for a loaded model and version; NOT_FOUND for an unknown model or version; INVALID_ARGUMENT without a name', async () => {
    assert.deepEqual(await client.call('ModelReady', { name: 'iris' }), { ready: true });
    assert.deepEqual(await client.call('ModelReady', { name: 'add_mul', version: '1' }), { ready: true });
    const unknown = await failure(client.call('ModelReady', { name: 'nope' }));
    assert.equal(unknown.code, status.NOT_FOUND);
    assert.match(unknown.details, /unknown model "nope"; available: .*iris/);
    assert.equal((await failure(client.call('ModelReady', { name: 'iris', version: '7' }))).code, status.NOT_FOUND);
    const empty = await failure(client.call('ModelReady', {}));
    assert.equal(empty.code, status.INVALID_ARGUMENT);
    assert.match(empty.details, /expected a model name/);
  });

  test('ModelMetadata gives versions, platform, inputs and outputs (-1 for dynamic dims)', async () => {
    assert.deepEqual(await client.call('ModelMetadata', { name: 'iris' }), {
      name: 'iris',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '4'] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: ['-1', '3'] }],
    });
    const addMul = await client.call('ModelMetadata', { name: 'add_mul', version: '2' });
    assert.deepEqual(addMul.versions, ['1', '2']);
    assert.equal((await failure(client.call('ModelMetadata', { name: 'iris', version: 'x' }))).code, status.NOT_FOUND);
  });
});

describe('ModelInfer: every datatype, raw and typed', () => {
  for (const [type, values] of Object.entries(TYPES) as [Exclude<ElementType, 'float16'>, unknown[]][]) {
    const datatype = V2_BY_ELEMENT[type];
    test(`${datatype}: raw_input_contents in, the same bytes back in raw_output_contents`, async () => {
      const bytes = bytesOf(type, values);
      const reply = await client.call('ModelInfer', { model_name: type, inputs: [{ name: 'x', datatype, shape: [1, 3] }], raw_input_contents: [bytes] });
      assert.equal(reply.model_name, type);
      assert.equal(reply.model_version, '1');
      assert.deepEqual(
        reply.outputs.map((o: { name: string; datatype: string; shape: string[]; contents: unknown }) => [o.name, o.datatype, o.shape, o.contents]),
        [['y', datatype, ['1', '3'], null]],
      );
      assert.deepEqual(reply.raw_output_contents, [bytes]);
    });

    test(`${datatype}: typed contents in, typed contents out with the same values`, async () => {
      const field = {
        bool: 'bool_contents',
        uint8: 'uint_contents',
        uint16: 'uint_contents',
        uint32: 'uint_contents',
        uint64: 'uint64_contents',
        int8: 'int_contents',
        int16: 'int_contents',
        int32: 'int_contents',
        int64: 'int64_contents',
        float32: 'fp32_contents',
        float64: 'fp64_contents',
        string: 'bytes_contents',
      }[type];
      const sent = type === 'string' ? (values as string[]).map((s) => Buffer.from(s)) : type.endsWith('64') && type.includes('int') ? values.map(String) : values;
      const reply = await client.call('ModelInfer', { model_name: type, inputs: [{ name: 'x', datatype, shape: [1, 3], contents: { [field]: sent } }] });
      assert.deepEqual(reply.raw_output_contents, []);
      assert.equal(reply.outputs[0].datatype, datatype);
      assert.deepEqual(reply.outputs[0].contents[field], sent);
    });
  }

  test('FP16: raw in and raw out (2 bytes per element); typed FP16 is refused, naming raw_input_contents', async () => {
    const bits = Uint16Array.from([-2, 0.5, 65504].map(toHalf));
    const bytes = Buffer.from(bits.buffer);
    const reply = await client.call('ModelInfer', { model_name: 'float16', inputs: [{ name: 'x', datatype: 'FP16', shape: [1, 3] }], raw_input_contents: [bytes] });
    assert.equal(reply.outputs[0].datatype, 'FP16');
    assert.deepEqual(reply.raw_output_contents, [bytes]);
    const typed = await failure(client.call('ModelInfer', { model_name: 'float16', inputs: [{ name: 'x', datatype: 'FP16', shape: [1, 3], contents: { fp32_contents: [1, 2, 3] } }] }));
    assert.equal(typed.code, status.INVALID_ARGUMENT);
    assert.match(typed.details, /FP16 has no typed contents field; send FP16 inputs in raw_input_contents/);
  });

  test('BYTES raw: each element is a 4-byte little-endian length and its bytes', async () => {
    const element = (s: string) => {
      const b = Buffer.from(s);
      const length = Buffer.alloc(4);
      length.writeUInt32LE(b.length);
      return Buffer.concat([length, b]);
    };
    const bytes = Buffer.concat(['a', '', 'ünï'].map(element));
    const reply = await client.call('ModelInfer', { model_name: 'string', inputs: [{ name: 'x', datatype: 'BYTES', shape: [1, 3] }], raw_input_contents: [bytes] });
    assert.deepEqual(reply.raw_output_contents, [bytes]);
  });

  test('iris: typed FP32 rows give the same probabilities as the REST V2 route', async () => {
    const rows = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];
    const reply = await client.call('ModelInfer', { model_name: 'iris', id: 'req-1', inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4], contents: { fp32_contents: rows } }] });
    assert.equal(reply.id, 'req-1');
    const rest = (await fetch(`${svc.url}/v2/models/iris/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4], data: rows }] }) }).then((r) => r.json())) as {
      outputs: { data: number[] }[];
    };
    assert.deepEqual(reply.outputs[0].shape, ['2', '3']);
    assert.deepEqual(reply.outputs[0].contents.fp32_contents, rest.outputs[0]!.data);
  });
});

describe('ModelInfer: outputs, versions and parameters', () => {
  const a = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
  const b = Buffer.from(new Float32Array([4, 5, 6, 7]).buffer);
  const inputs = [
    { name: 'a', datatype: 'FP32', shape: [2, 2] },
    { name: 'b', datatype: 'FP32', shape: [2, 2] },
  ];

  test('several inputs in order; every output by default, raw entries in the order of outputs', async () => {
    const reply = await client.call('ModelInfer', { model_name: 'add_mul', inputs, raw_input_contents: [a, b] });
    const floats = (buf: Buffer) => Array.from(new Float32Array(Uint8Array.from(buf).buffer));
    assert.deepEqual(reply.outputs.map((o: { name: string }) => o.name), ['sum', 'product']);
    assert.deepEqual(reply.raw_output_contents.map(floats), [
      [5, 7, 9, 11],
      [4, 10, 18, 28],
    ]);
  });

  test('requested outputs only, in the order asked; a named version', async () => {
    const reply = await client.call('ModelInfer', { model_name: 'add_mul', model_version: '1', inputs, raw_input_contents: [a, b], outputs: [{ name: 'product' }] });
    assert.equal(reply.model_version, '1');
    assert.deepEqual(reply.outputs.map((o: { name: string }) => o.name), ['product']);
    assert.equal(reply.raw_output_contents.length, 1);
  });

  test('parameters: a timeout (microseconds, Triton) is accepted; a bad one is INVALID_ARGUMENT', async () => {
    const ok = await client.call('ModelInfer', { model_name: 'add_mul', inputs, raw_input_contents: [a, b], parameters: { timeout: { int64_param: 5_000_000 } } });
    assert.equal(ok.outputs.length, 2);
    const bad = await failure(client.call('ModelInfer', { model_name: 'add_mul', inputs, raw_input_contents: [a, b], parameters: { timeout: { string_param: 'soon' } } }));
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.match(bad.details, /parameters\.timeout must be a positive number of microseconds/);
  });
});

describe('errors and their codes', () => {
  const x = [{ name: 'x', datatype: 'FP32', shape: [1, 3] }];
  const three = Buffer.from(new Float32Array([1, 2, 3]).buffer);
  const two = Buffer.from(new Float32Array([1, 2]).buffer);
  const cases: [string, object, status, RegExp][] = [
    ['unknown model', { model_name: 'nope', inputs: x, raw_input_contents: [three] }, status.NOT_FOUND, /unknown model "nope"/],
    ['unknown version', { model_name: 'float32', model_version: '9', inputs: x, raw_input_contents: [three] }, status.NOT_FOUND, /has no version 9/],
    ['no model name', { inputs: x, raw_input_contents: [three] }, status.INVALID_ARGUMENT, /model_name: expected a model name/],
    ['no inputs', { model_name: 'float32' }, status.INVALID_ARGUMENT, /inputs: expected at least one input, got none/],
    ['unknown input', { model_name: 'float32', inputs: [{ name: 'z', datatype: 'FP32', shape: [1, 3] }], raw_input_contents: [three] }, status.INVALID_ARGUMENT, /has no input "z"; its inputs are x/],
    ['wrong datatype', { model_name: 'float32', inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 3] }], raw_input_contents: [three] }, status.INVALID_ARGUMENT, /input "x" is FP32, got FP64/],
    ['unknown datatype', { model_name: 'float32', inputs: [{ name: 'x', datatype: 'FLOAT', shape: [1, 3] }], raw_input_contents: [three] }, status.INVALID_ARGUMENT, /datatype: expected one of BOOL/],
    ['wrong shape', { model_name: 'float32', inputs: [{ name: 'x', datatype: 'FP32', shape: [3] }], raw_input_contents: [three] }, status.INVALID_ARGUMENT, /expected shape \[n, 3\]/],
    ['raw entries fewer than inputs', { model_name: 'add_mul', inputs: ['a', 'b'].map((name) => ({ name, datatype: 'FP32', shape: [1, 2] })), raw_input_contents: [three] }, status.INVALID_ARGUMENT, /raw_input_contents has 1 entries but the request has 2 inputs/],
    ['raw and typed mixed', { model_name: 'add_mul', inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2] }, { name: 'b', datatype: 'FP32', shape: [1, 2], contents: { fp32_contents: [1, 2] } }], raw_input_contents: [two, two] }, status.INVALID_ARGUMENT, /no input may carry contents/],
    ['typed data in the wrong field', { model_name: 'float32', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], contents: { int_contents: [1, 2, 3] } }] }, status.INVALID_ARGUMENT, /int_contents holds data, but FP32 data goes in contents\.fp32_contents/],
    ['typed count differs from the shape', { model_name: 'float32', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: [1, 2] } }] }, status.INVALID_ARGUMENT, /fp32_contents has 2 elements but shape \[1, 3\] needs 3/],
    ['typed value out of range', { model_name: 'int8', inputs: [{ name: 'x', datatype: 'INT8', shape: [1, 3], contents: { int_contents: [1, 300, 3] } }] }, status.INVALID_ARGUMENT, /int_contents\[1\] must be an integer from -128 to 127/],
    ['no data at all', { model_name: 'float32', inputs: x }, status.INVALID_ARGUMENT, /contents is missing/],
    ['a missing input', { model_name: 'add_mul', inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2] }], raw_input_contents: [two] }, status.INVALID_ARGUMENT, /missing "b"/],
    ['an unknown output', { model_name: 'float32', inputs: x, raw_input_contents: [three], outputs: [{ name: 'q' }] }, status.INVALID_ARGUMENT, /has no output "q"; its outputs are y/],
    ['an output asked twice', { model_name: 'float32', inputs: x, raw_input_contents: [three], outputs: [{ name: 'y' }, { name: 'y' }] }, status.INVALID_ARGUMENT, /requested twice/],
    ['zero rows', { model_name: 'float32', inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 3] }], raw_input_contents: [Buffer.alloc(0)] }, status.INVALID_ARGUMENT, /expected at least one row/],
  ];
  for (const [what, request, code, message] of cases) {
    test(`${what}: ${status[code]}`, async () => {
      const err = await failure(client.call('ModelInfer', request));
      assert.equal(err.code, code, err.details);
      assert.match(err.details, message);
    });
  }

  test('errors carry the stable error code and the request id; replies echo a given x-request-id', async () => {
    const { result } = client.start('ModelInfer', { model_name: 'nope', inputs: x, raw_input_contents: [three] });
    const { err } = await result;
    assert.equal(err!.metadata.get('meshserve-error-code')[0], 'model_not_found');
    assert.match(String(err!.metadata.get('x-request-id')[0]), /^[0-9a-f-]{36}$/);
    await client.call('ServerLive', {}, { metadata: { 'x-request-id': 'grpc-given-id' } });
    assert.ok(svc.logs.some((l) => l.requestId === 'grpc-given-id' && l.rpc === 'ServerLive' && l.grpcCode === 'OK'));
  });
});

describe('the message itself, encoded by hand from the protocol', () => {
  test("ModelInferRequest fields 1, 5 (name 1, datatype 2, shape 3) and 7; the reply's fields 1, 2, 5 and 6", async () => {
    const input = encodeMessage([
      [1, 'x'],
      [2, 'FP32'],
      // shape as unpacked int64 varints (a parser must accept both packings)
      [3, 1],
      [3, 3],
    ]);
    const data = Buffer.from(new Float32Array([1, 2, 3]).buffer);
    const request = encodeMessage([
      [1, 'float32'],
      [3, 'hand-made'],
      [5, input],
      [7, data],
    ]);
    const { err, reply } = await rawCall(svc.grpcAddress, '/inference.GRPCInferenceService/ModelInfer', request);
    assert.equal(err, null);
    const fields = decodeMessage(reply!);
    assert.equal(String(fields.get(1)![0]), 'float32');
    assert.equal(String(fields.get(2)![0]), '1');
    assert.equal(String(fields.get(3)![0]), 'hand-made');
    const output = decodeMessage(fields.get(5)![0] as Buffer);
    assert.equal(String(output.get(1)![0]), 'y');
    assert.equal(String(output.get(2)![0]), 'FP32');
    assert.deepEqual(fields.get(6), [data]);
  });

  test('ServerLiveResponse.live is field 1', async () => {
    const { reply } = await rawCall(svc.grpcAddress, '/inference.GRPCInferenceService/ServerLive', new Uint8Array());
    assert.deepEqual(decodeMessage(reply!).get(1), [1n]);
  });
});

describe('grpc.health.v1.Health', () => {
  test('Check: "" and the inference service follow readiness, "liveness" is SERVING, an unknown service is NOT_FOUND', async () => {
    const health = healthClient(svc.grpcAddress);
    try {
      for (const service of ['', 'inference.GRPCInferenceService', 'readiness', 'liveness']) {
        assert.deepEqual(await health.call('check', { service }), { status: 'SERVING' }, service);
      }
      assert.equal((await failure(health.call('check', { service: 'other' }))).code, status.NOT_FOUND);
      const list = await health.call('list', {});
      assert.equal(list.statuses[''].status, 'SERVING');
    } finally {
      health.close();
    }
  });

  test('Watch streams the current status', async () => {
    const health = healthClient(svc.grpcAddress);
    try {
      const stream = (health.raw as unknown as { watch(req: object): NodeJS.EventEmitter & { cancel(): void } }).watch({ service: '' });
      const first = await new Promise((resolve) => stream.once('data', resolve));
      assert.deepEqual(first, { status: 'SERVING' });
      stream.on('error', () => {});
      stream.cancel();
    } finally {
      health.close();
    }
  });
});

describe('metrics', () => {
  test('gRPC calls are counted by method and code, and inference metrics per model count them like REST requests', async () => {
    const text = await fetch(`${svc.metricsUrl}/metrics`).then((r) => r.text());
    assert.match(text, /meshserve_grpc_requests_total\{method="ModelInfer",code="OK"\} [1-9]/);
    assert.match(text, /meshserve_grpc_requests_total\{method="ModelInfer",code="INVALID_ARGUMENT"\} [1-9]/);
    assert.match(text, /meshserve_grpc_requests_total\{method="ModelInfer",code="NOT_FOUND"\} [1-9]/);
    assert.match(text, /meshserve_grpc_request_duration_seconds_count\{method="ModelInfer",code="OK"\} [1-9]/);
    assert.match(text, /meshserve_inference_requests_total\{model="add_mul",version="2",outcome="success"\} [1-9]/);
    assert.match(text, /meshserve_inference_requests_total\{model="float32",version="1",outcome="invalid"\} [1-9]/);
  });
});

describe('the documented client', () => {
  test('docs/examples/grpc-infer.mjs prints the iris probabilities the README shows', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['docs/examples/grpc-infer.mjs', svc.grpcAddress, '5.1', '3.5', '1.4', '0.2'], { timeout: 30_000 });
    const readme = readFileSync('README.md', 'utf8');
    const shown = /node docs\/examples\/grpc-infer\.mjs .*\n# (\{.*\})/.exec(readme)?.[1];
    assert.ok(shown, 'README shows the example and its output');
    assert.deepEqual(JSON.parse(stdout), JSON.parse(shown));
  });
});
