import assert from 'node:assert/strict';
import { test } from 'node:test';
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

test('nested data flattens row-major and its shape is read back', () => {
  const nested = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]];
  assert.deepEqual(flatten(nested, 'data'), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(nestedShape(nested, 'data'), [2, 2, 2]);
  assert.deepEqual(nest([1, 2, 3, 4, 5, 6], [2, 3]), [[1, 2, 3], [4, 5, 6]]);
});

test('ragged nested arrays are refused with the path of the odd row', () => {
  assert.throws(() => nestedShape([[1, 2], [3]], 'instances'), /instances\[1\] must be an array of 2 items/);
  assert.throws(() => nestedShape([[1, 2], [3, [4]]], 'instances'), /instances\[1\]\[1\] is nested deeper/);
});

test('nesting deeper than the limit is refused without recursion trouble', () => {
  let deep: unknown = 1;
  for (let i = 0; i < 10_000; i++) deep = [deep];
  assert.throws(() => flatten(deep, 'data'), /nested deeper than 32 levels/);
  assert.throws(() => nestedShape(deep, 'data'), /nested deeper than 32 levels/);
});

test('element counts are bounded before anything is allocated', () => {
  assert.equal(elementCount([2, 3, 4], 'shape'), 24);
  assert.throws(() => elementCount([1e9, 1e9], 'shape'), /more than 268435456 elements/);
  assert.throws(() => elementCount([-1, 3], 'shape'), /shape\[0\] must be a non-negative integer/);
});

test('concatenating and slicing along the batch dimension gives each request its rows', () => {
  const a = { type: 'int32' as const, dims: [1, 2], data: Int32Array.from([1, 2]) };
  const b = { type: 'int32' as const, dims: [2, 2], data: Int32Array.from([3, 4, 5, 6]) };
  const joined = concat([a, b]);
  assert.deepEqual(joined.dims, [3, 2]);
  assert.deepEqual(Array.from(joined.data as Int32Array), [1, 2, 3, 4, 5, 6]);
  const second = sliceRows(joined, 1, 2);
  assert.deepEqual(second.dims, [2, 2]);
  assert.deepEqual(Array.from(second.data as Int32Array), [3, 4, 5, 6]);
  const strings = concat([
    { type: 'string', dims: [1], data: ['a'] },
    { type: 'string', dims: [1], data: ['b'] },
  ]);
  assert.deepEqual(strings.data, ['a', 'b']);
});
