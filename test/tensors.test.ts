import assert from 'node:assert/strict';
import { test } from './helpers/node-test.ts';
import { AppError } from '../src/errors.ts';
import { fromBinary, toBinary } from '../src/tensors/binary.ts';
import { fromHalf, toHalf } from '../src/tensors/fp16.ts';
import { flatten, fromJsonValues, nest, nestedShape, toJsonValues } from '../src/tensors/json.ts';
import { concat, sliceRows } from '../src/tensors/rows.ts';
import { ELEMENT_BY_V2, elementCount, V2_BY_ELEMENT, type ElementType } from '../src/tensors/types.ts';

/** Sample values per element type, including the extremes each type holds. */
const SAMPLES: Record<ElementType, unknown[]> = {
  bool: [true, false, true],
  uint8: [0, 1, 255],
  uint16: [0, 1, 65535],
  uint32: [0, 1, 4294967295],
  uint64: [0, 1, Number.MAX_SAFE_INTEGER],
  int8: [-128, 0, 127],
  int16: [-32768, 0, 32767],
  int32: [-2147483648, 0, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER, 0, Number.MAX_SAFE_INTEGER],
  float16: [-2, 0.5, 65504],
  float32: [-1.5, 0, 3.25],
  float64: [-1e300, 0, Math.PI],
  string: ['', 'iris', 'ünïcödé ✓'],
};

const BYTES: Partial<Record<ElementType, number>> = { bool: 1, uint8: 1, int8: 1, uint16: 2, int16: 2, float16: 2, uint32: 4, int32: 4, float32: 4, uint64: 8, int64: 8, float64: 8 };

for (const [type, values] of Object.entries(SAMPLES) as [ElementType, unknown[]][]) {
  test(`${V2_BY_ELEMENT[type]} values survive JSON -> tensor -> JSON unchanged`, () => {
    const data = fromJsonValues(type, values, 'data');
    assert.deepEqual(toJsonValues({ type, dims: [3], data }), values);
  });

  test(`${V2_BY_ELEMENT[type]} tensors survive the binary encoding unchanged`, () => {
    const tensor = { type, dims: [3], data: fromJsonValues(type, values, 'data') };
    const bytes = toBinary(tensor);
    if (type !== 'string') assert.equal(bytes.length, 3 * BYTES[type]!);
    const back = fromBinary(type, 3, new Uint8Array(bytes), 'x');
    assert.deepEqual(toJsonValues({ type, dims: [3], data: back }), values);
  });
}

test('V2 datatype names map both ways for every served type', () => {
  for (const [element, v2] of Object.entries(V2_BY_ELEMENT)) assert.equal(ELEMENT_BY_V2[v2], element);
  assert.equal(Object.keys(V2_BY_ELEMENT).length, 13);
});

const wrong: [ElementType, unknown, RegExp][] = [
  ['bool', 1, /must be true or false \(BOOL\), got number 1/],
  ['uint8', 256, /must be an integer from 0 to 255 \(UINT8\), got number 256/],
  ['uint8', -1, /from 0 to 255/],
  ['int8', 1.5, /integer from -128 to 127/],
  ['int32', '7', /got the string "7"/],
  ['int64', 2 ** 60, /integer/],
  ['float32', null, /must be a number \(FP32\), got null/],
  ['string', 5, /must be a string \(BYTES\)/],
];
for (const [type, value, message] of wrong) {
  test(`a ${V2_BY_ELEMENT[type]} element of ${JSON.stringify(value)} is refused with the position and the expected type`, () => {
    assert.throws(
      () => fromJsonValues(type, [0, value].slice(type === 'bool' || type === 'string' ? 1 : 0), 'inputs[0].data'),
      (e: AppError) => e.status === 400 && /inputs\[0\]\.data\[\d\]/.test(e.message) && message.test(e.message),
    );
  });
}

test('binary data whose size disagrees with the shape is refused with both sizes', () => {
  assert.throws(() => fromBinary('float32', 4, new Uint8Array(12), 'inputs[0]'), /needs 16 bytes of FP32 \(4 elements\), binary_data_size is 12/);
});

test('BYTES binary data with a length prefix running past the end is refused', () => {
  const bytes = Buffer.alloc(6);
  bytes.writeUInt32LE(100, 0);
  assert.throws(() => fromBinary('string', 1, bytes, 'inputs[0]'), /declares 100 bytes but only 2 remain/);
  assert.throws(() => fromBinary('string', 1, Buffer.from([1, 0]), 'inputs[0]'), /truncated 4-byte length prefix/);
});

// Fixed cases that once took a random round trip to find: a decoder that stops when only a 4-byte length prefix
// is left (`offset + 4 < length`) refuses a trailing empty string. The bytes are written out by hand.
const bytesElements = (...parts: string[]) =>
  Buffer.concat(parts.flatMap((p) => {
    const data = Buffer.from(p, 'utf8');
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(data.length, 0);
    return [prefix, data];
  }));
const BYTES_EDGES: string[][] = [[''], ['a', ''], ['', ''], ['', '', ''], ['abc', '', 'd', ''], ['', 'ünï', '']];
for (const values of BYTES_EDGES) {
  test(`BYTES binary data ${JSON.stringify(values)} decodes to exactly those strings and encodes back to the same bytes`, () => {
    const bytes = bytesElements(...values);
    assert.deepEqual(fromBinary('string', values.length, bytes, 'x'), values);
    assert.deepEqual(Buffer.from(toBinary({ type: 'string', dims: [values.length], data: values })), bytes);
  });
}

test('BYTES binary data with more or fewer elements than the shape is refused, trailing empty strings counted', () => {
  assert.throws(() => fromBinary('string', 1, bytesElements('a', ''), 'x'), /shape needs 1 BYTES elements/);
  assert.throws(() => fromBinary('string', 3, bytesElements('a', ''), 'x'), /shape needs 3 BYTES elements, binary data holds 2/);
});

test('BOOL binary bytes other than 0 and 1 are refused', () => {
  assert.throws(() => fromBinary('bool', 2, new Uint8Array([1, 7]), 'inputs[0]'), /must be 0 or 1, got 7/);
});

test('binary input is copied, so the tensor owns a buffer it can transfer', () => {
  const body = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
  const data = fromBinary('float32', 2, body.subarray(4, 12), 'x') as Float32Array;
  assert.deepEqual(Array.from(data), [2, 3]);
  assert.equal(data.buffer.byteLength, 8);
});

test('FP16 conversion rounds to the nearest half and keeps specials', () => {
  assert.equal(fromHalf(toHalf(1)), 1);
  assert.equal(fromHalf(toHalf(0.1)), 0.0999755859375);
  assert.equal(fromHalf(toHalf(65504)), 65504);
  assert.equal(fromHalf(toHalf(1e6)), Infinity);
  assert.ok(Number.isNaN(fromHalf(toHalf(NaN))));
  assert.equal(fromHalf(toHalf(2 ** -24)), 2 ** -24);
  assert.equal(toHalf(-0), 0x8000);
});

// Rounding float64 -> float32 -> half rounds twice and lands on the wrong side of a tie: 1 + 2^-11 + 2^-40
// is just above the midpoint between 0x3c00 and 0x3c01, but its float32 is exactly the midpoint (ties to even: 0x3c00).
test('FP16 rounds once, straight from the float64 value, at the rounding edges', () => {
  assert.equal(toHalf(1 + 2 ** -11 + 2 ** -40), 0x3c01, 'just above a tie rounds up');
  assert.equal(toHalf(1 + 2 ** -11), 0x3c00, 'a tie rounds to even (down)');
  assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02, 'a tie rounds to even (up)');
  assert.equal(toHalf(1 + 3 * 2 ** -11 - 2 ** -40), 0x3c01, 'just below a tie rounds down');
  assert.equal(toHalf(65520 - 2 ** -30), 0x7bff, 'just below the overflow threshold stays finite');
  assert.equal(toHalf(65520), 0x7c00, 'the overflow threshold rounds to infinity');
  assert.equal(toHalf(2 ** -25 + 2 ** -60), 0x0001, 'just above half the smallest subnormal rounds up');
  assert.equal(toHalf(2 ** -25), 0x0000, 'half the smallest subnormal is a tie: rounds to even zero');
});

test('BYTES binary data that is not UTF-8 is refused with a 400 naming the element, not silently replaced', () => {
  const element = (bytes: number[]) => Buffer.concat([Buffer.from(Uint32Array.of(bytes.length).buffer), Buffer.from(bytes)]);
  const data = Buffer.concat([element([0x69, 0x72, 0x69, 0x73]), element([0xff, 0xfe])]);
  assert.throws(() => fromBinary('string', 2, data, 'inputs[0]'), /inputs\[0\]: BYTES element 1 is not valid UTF-8/);
  assert.deepEqual(fromBinary('string', 1, element([0xc3, 0xbc]), 'inputs[0]'), ['ü']);
});
