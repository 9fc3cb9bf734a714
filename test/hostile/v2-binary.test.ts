// Triton's binary tensor data extension with headers and sizes that lie.
import { describe } from '../helpers/node-test.ts';
import { runCases, useService, type Case } from './helpers.ts';

const svc = useService();
const PATH = '/v2/models/vec/infer';
const f32 = (...v: number[]) => Buffer.from(new Float32Array(v).buffer);
const header = (inputs: unknown[], extra: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ inputs, ...extra }));
const x = (parameters: Record<string, unknown>, over: Record<string, unknown> = {}) => ({ name: 'x', shape: [1, 3], datatype: 'FP32', parameters, ...over });

/** A binary request: JSON header, then the parts; the header length can be overridden to lie. */
function binary(name: string, json: Buffer, parts: Buffer[], headerLength: string = String(json.length), path = PATH, says?: RegExp): Case {
  return {
    name,
    path,
    headers: { 'inference-header-content-length': headerLength, 'content-type': 'application/octet-stream' },
    body: Buffer.concat([json, ...parts]),
    status: 400,
    code: says && /not valid JSON/.test(says.source) ? 'invalid_json' : 'invalid_request',
    says,
  };
}

const good = header([x({ binary_data_size: 12 })]);
const bytesElement = (length: number, content = '') => {
  const b = Buffer.alloc(4 + Buffer.byteLength(content));
  b.writeUInt32LE(length, 0);
  b.write(content, 4);
  return b;
};
const words = (size: number) => header([{ name: 'x', shape: [1, 3], datatype: 'BYTES', parameters: { binary_data_size: size } }]);

const cases: Case[] = [
  // Inference-Header-Content-Length lies
  binary('a header length of 0', good, [f32(1, 2, 3)], '0', PATH, /Inference-Header-Content-Length/),
  binary('a header length past the end of the body', good, [f32(1, 2, 3)], '99999', PATH, /Inference-Header-Content-Length/),
  binary('a header length of 2^40', good, [f32(1, 2, 3)], String(2 ** 40), PATH, /Inference-Header-Content-Length/),
  binary('a negative header length', good, [f32(1, 2, 3)], '-12', PATH, /byte count/),
  binary('a header length in exponent notation', good, [f32(1, 2, 3)], '1e2', PATH, /byte count/),
  binary('an empty header length', good, [f32(1, 2, 3)], '', PATH, /byte count/),
  binary('a header length that cuts the JSON short', good, [f32(1, 2, 3)], String(good.length - 5), PATH, /not valid JSON/),
  binary('a header length that runs into the binary part', good, [f32(1, 2, 3)], String(good.length + 6), PATH, /not valid JSON/),
  // binary_data_size lies
  binary('binary_data_size smaller than the shape needs', header([x({ binary_data_size: 8 })]), [f32(1, 2)], undefined, PATH, /needs 12 bytes/),
  binary('binary_data_size larger than the shape needs', header([x({ binary_data_size: 16 })]), [f32(1, 2, 3, 4)], undefined, PATH, /needs 12 bytes/),
  binary('binary_data_size past the end of the body', header([x({ binary_data_size: 12 })]), [f32(1)], undefined, PATH, /remain/),
  binary('binary_data_size of 2^32', header([x({ binary_data_size: 2 ** 32 })]), [f32(1, 2, 3)], undefined, PATH, /remain/),
  binary('binary_data_size beyond 2^53', Buffer.from('{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":1e300}}]}'), [f32(1, 2, 3)], undefined, PATH, /binary_data_size/),
  binary('a negative binary_data_size', header([x({ binary_data_size: -12 })]), [f32(1, 2, 3)], undefined, PATH, /binary_data_size/),
  binary('a fractional binary_data_size', header([x({ binary_data_size: 11.5 })]), [f32(1, 2, 3)], undefined, PATH, /binary_data_size/),
  binary('binary_data_size as a string', header([x({ binary_data_size: '12' })]), [f32(1, 2, 3)], undefined, PATH, /binary_data_size/),
  binary('binary bytes left over after every input', good, [f32(1, 2, 3), f32(4)], undefined, PATH, /binary data/),
  binary('no binary part at all', good, [], undefined, PATH, /remain/),
  binary('both data and binary_data_size', header([x({ binary_data_size: 12 }, { data: [1, 2, 3] })]), [f32(1, 2, 3)], undefined, PATH, /not both/),
  binary('a binary part for a shape of [1e9, 3]', header([x({ binary_data_size: 12 }, { shape: [1e9, 3] })]), [f32(1, 2, 3)], undefined, PATH, /elements/),
  binary('a binary part for a shape of [8e7, 3]', header([x({ binary_data_size: 12 }, { shape: [8e7, 3] })]), [f32(1, 2, 3)], undefined, PATH, /bytes/),
  // BOOL bytes other than 0 and 1
  binary('BOOL bytes of 2', header([{ name: 'x', shape: [1, 3], datatype: 'BOOL', parameters: { binary_data_size: 3 } }]), [Buffer.from([0, 1, 2])], undefined, '/v2/models/flags/infer', /0 or 1/),
  // BYTES length prefixes that lie
  binary('a BYTES length prefix of 2^32 - 1', words(8), [bytesElement(0xffffffff, 'abcd')], undefined, '/v2/models/words/infer', /declares/),
  binary('a truncated BYTES length prefix', words(6), [bytesElement(1, 'a'), Buffer.from([1])], undefined, '/v2/models/words/infer', /truncated/),
  binary('fewer BYTES elements than the shape needs', words(10), [bytesElement(1, 'a'), bytesElement(1, 'b')], undefined, '/v2/models/words/infer', /needs 3/),
  binary('more BYTES elements than the shape needs', words(20), [bytesElement(1, 'a'), bytesElement(1, 'b'), bytesElement(1, 'c'), bytesElement(1, 'd')], undefined, '/v2/models/words/infer', /needs 3/),
  binary('a BYTES length prefix past the end', words(15), [bytesElement(1, 'a'), bytesElement(1, 'b'), bytesElement(9, 'c')], undefined, '/v2/models/words/infer', /declares/),
  // Each type's byte count checked against the shape.
  ...(
    [
      ['INT64', 'ints', 3 * 8 - 1],
      ['UINT8', 'u8', 4],
      ['FP32', 'vec', 13],
    ] as const
  ).map(([datatype, model, size]) =>
    binary(`${size} bytes of ${datatype} for 3 elements`, header([{ name: 'x', shape: [1, 3], datatype, parameters: { binary_data_size: size } }]), [Buffer.alloc(size)], undefined, `/v2/models/${model}/infer`, /bytes/),
  ),
];

describe(`V2 binary extension rejects lying headers and sizes (${cases.length} cases)`, () => {
  runCases(svc, cases);
});
