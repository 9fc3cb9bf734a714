import { SAMPLE_VALUES } from './helpers/samples.ts';
import assert from 'node:assert/strict';
import { after, before, test } from './helpers/node-test.ts';
import { toBinary } from '../src/tensors/binary.ts';
import { fromJsonValues } from '../src/tensors/json.ts';
import { V2_BY_ELEMENT, type ElementType } from '../src/tensors/types.ts';
import { startService, type TestService } from './helpers/service.ts';

const TYPES = SAMPLE_VALUES;

let svc: TestService;
before(async () => {
  svc = await startService(Object.fromEntries(Object.keys(TYPES).map((type) => [type, { versions: { 1: `identity_${type}.onnx` } }])));
});
after(() => svc.close());

/** A binary-extension request: JSON header, then each input's bytes. */
function binaryRequest(header: object, parts: Uint8Array[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}

async function infer(model: string, body: Buffer, headers: Record<string, string>) {
  const res = await fetch(`${svc.url}/v2/models/${model}/infer`, { method: 'POST', body: new Uint8Array(body), headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** Splits a binary-extension response into its JSON header and the binary data after it. */
function splitResponse(res: { headers: Headers; body: Buffer }) {
  const length = Number(res.headers.get('inference-header-content-length'));
  return { json: JSON.parse(res.body.subarray(0, length).toString()), binary: res.body.subarray(length) };
}

for (const [type, values] of Object.entries(TYPES) as [ElementType, unknown[]][]) {
  const datatype = V2_BY_ELEMENT[type];
  test(`${datatype}: binary input and binary output round-trip through the model`, async () => {
    const bytes = toBinary({ type, dims: [1, 3], data: fromJsonValues(type, values, 'x') });
    const { body, headerLength } = binaryRequest(
      { inputs: [{ name: 'x', shape: [1, 3], datatype, parameters: { binary_data_size: bytes.length } }], outputs: [{ name: 'y', parameters: { binary_data: true } }] },
      [bytes],
    );
    const res = await infer(type, body, { 'inference-header-content-length': String(headerLength) });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const { json, binary } = splitResponse(res);
    assert.deepEqual(json.outputs, [{ name: 'y', datatype, shape: [1, 3], parameters: { binary_data_size: bytes.length } }]);
    assert.deepEqual(binary, bytes);
  });

  test(`${datatype}: binary input with JSON output gives the same values`, async () => {
    const bytes = toBinary({ type, dims: [1, 3], data: fromJsonValues(type, values, 'x') });
    const { body, headerLength } = binaryRequest({ inputs: [{ name: 'x', shape: [1, 3], datatype, parameters: { binary_data_size: bytes.length } }] }, [bytes]);
    const res = await infer(type, body, { 'inference-header-content-length': String(headerLength), 'content-type': 'application/octet-stream' });
    assert.equal(res.status, 200);
    const json = JSON.parse(res.body.toString());
    assert.deepEqual(json.outputs[0].data, values);
  });
}

test('binary_data_output on the request makes every output binary, JSON input still accepted', async () => {
  const res = await infer('float32', Buffer.from(JSON.stringify({ parameters: { binary_data_output: true }, inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] })), {});
  const { json, binary } = splitResponse(res);
  assert.equal(json.outputs[0].parameters.binary_data_size, 24);
  assert.deepEqual(Array.from(new Float32Array(Uint8Array.from(binary).buffer)), [1, 2, 3, 4, 5, 6]);
});

const four = Buffer.from(new Float32Array([1, 2, 3]).buffer);
const header = (size: number) => ({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: size } }] });
const malformed: [string, Buffer, Record<string, string>, RegExp][] = [
  ['a header length that is not a number', binaryRequest(header(12), [four]).body, { 'inference-header-content-length': 'abc' }, /must be a byte count/],
  ['a header length past the end of the body', binaryRequest(header(12), [four]).body, { 'inference-header-content-length': '100000' }, /Inference-Header-Content-Length is 100000 but the body has \d+ bytes/],
  ['a header length of zero', binaryRequest(header(12), [four]).body, { 'inference-header-content-length': '0' }, /it must give the length of the JSON header/],
  ['a header length cutting the JSON short', binaryRequest(header(12), [four]).body, { 'inference-header-content-length': '10' }, /not valid JSON in its first Inference-Header-Content-Length bytes/],
  ['binary_data_size larger than the data', binaryRequest(header(16), [four]).body, {}, /binary_data_size is 16 but only 12 bytes/],
  ['binary_data_size disagreeing with the shape', binaryRequest(header(8), [four.subarray(0, 8)]).body, {}, /shape needs 12 bytes of FP32 \(3 elements\), binary_data_size is 8/],
  ['extra bytes after the declared inputs', binaryRequest(header(12), [four, Buffer.from([1, 2])]).body, {}, /14 bytes of binary data .* add up to 12/],
];
for (const [what, body, headers, message] of malformed) {
  test(`binary extension: ${what} is a 400 that says so`, async () => {
    const fixed = { ...headers };
    // Cases without an explicit header length use the real JSON length of their own body.
    if (!('inference-header-content-length' in fixed)) fixed['inference-header-content-length'] = String(body.indexOf(Buffer.from('}]}')) + 3);
    const res = await infer('float32', body, fixed);
    assert.equal(res.status, 400, res.body.toString());
    const err = JSON.parse(res.body.toString());
    assert.equal(err.code, /not valid JSON/.test(message.source) ? 'invalid_json' : 'invalid_request');
    assert.match(err.error, message);
    assert.doesNotMatch(res.body.toString(), /\n\s+at /);
  });
}

test('after malformed binary requests the model still serves', async () => {
  const res = await infer('int32', Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT32', data: [1, 2, 3] }] })), {});
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body.toString()).outputs[0].data, [1, 2, 3]);
});
