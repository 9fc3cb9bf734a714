// Property-based tests of the tensor codecs: random shapes and element types round-trip through JSON values
// and the binary extension; random bytes and values only ever raise a 400 AppError.
import assert from 'node:assert/strict';
import { describe, test as nodeTest } from './helpers/node-test.ts';
import fc from 'fast-check';
import { AppError } from '../src/errors.ts';
import { fromBinary, toBinary } from '../src/tensors/binary.ts';
import { fromHalf, toHalf } from '../src/tensors/fp16.ts';
import { flatten, fromJsonValues, nest, nestedShape, rowJsonTexts, toJsonArrayText, toJsonValues } from '../src/tensors/json.ts';
import { elementCount, MAX_ELEMENTS, V2_BY_ELEMENT, type ElementType } from '../src/tensors/types.ts';

/**
 * Every property runs a fixed number of times from one seed per file run: random unless FC_SEED is given, and
 * printed with the command that replays a failure (fast-check's own report adds the shrunk counterexample and
 * its path, which FC_PATH takes to replay only that case).
 */
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : (Math.random() * 2 ** 31) | 0;
const PATH = process.env.FC_PATH;
/** The test running now: the replay command names it, so FC_PATH reaches only its property. */
let current = '';
const test = (name: string, fn: () => void) => nodeTest(name, () => {
  current = name;
  fn();
});
function check<Ts extends unknown[]>(property: fc.IProperty<Ts>, numRuns: number): void {
  try {
    fc.assert(property, { numRuns, seed: SEED, ...(PATH ? { path: PATH } : {}) });
  } catch (err) {
    const path = /path: "([^"]*)"/.exec((err as Error).message)?.[1];
    const pattern = `^${current.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
    const replay = `FC_SEED=${SEED}${path ? ` FC_PATH=${path}` : ''} node --import tsx --test --test-name-pattern='${pattern.replace(/'/g, "'\\''")}' test/tensors.property.test.ts`;
    (err as Error).message = `replay with: ${replay}\n${(err as Error).message}`;
    throw err;
  }
}

const RUNS = 300;
const TYPES = Object.keys(V2_BY_ELEMENT) as ElementType[];

/** JSON values a client may legitimately send for each element type. */
const VALUE: Record<ElementType, fc.Arbitrary<number | string | boolean>> = {
  bool: fc.boolean(),
  uint8: fc.integer({ min: 0, max: 0xff }),
  uint16: fc.integer({ min: 0, max: 0xffff }),
  uint32: fc.integer({ min: 0, max: 0xffffffff }),
  uint64: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  int8: fc.integer({ min: -0x80, max: 0x7f }),
  int16: fc.integer({ min: -0x8000, max: 0x7fff }),
  int32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  int64: fc.maxSafeInteger(),
  // Values FP16 holds exactly, so the round trip is exact.
  float16: fc.integer({ min: 0, max: 0xffff }).map(fromHalf).filter((v) => !Number.isNaN(v)),
  float32: fc.float(),
  float64: fc.double(),
  string: fc.string({ unit: 'grapheme', maxLength: 12 }),
};

/** A random element type, a shape of up to 4 dims and matching row-major values. */
const tensor = fc
  .record({ type: fc.constantFrom(...TYPES), dims: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }) })
  .chain(({ type, dims }) => {
    const count = dims.reduce((a, b) => a * b, 1);
    return fc.record({ type: fc.constant(type), dims: fc.constant(dims), values: fc.array(VALUE[type], { minLength: count, maxLength: count }) });
  });

/** Runs fn; if it throws, the error must be a 400 AppError with a message. */
function onlyBadRequest(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, `threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'invalid_request');
    assert.ok(err.message.length > 0 && err.message.length < 2000);
  }
}

describe('row texts', () => {
  test('rowJsonTexts prints each row exactly as JSON.stringify of the nested values does, for every element type and shape', () => {
    check(
      fc.property(tensor, ({ type, dims, values }) => {
        const t = { type, dims, data: fromJsonValues(type, values, 'data') };
        const nested = nest(toJsonValues(t), dims) as unknown[];
        assert.deepStrictEqual(rowJsonTexts(t), nested.map((row) => JSON.stringify(row)));
      }),
      RUNS,
    );
  });

  test('non-finite floats print as null, as JSON.stringify does', () => {
    const t = { type: 'float32' as const, dims: [2, 2], data: Float32Array.from([1.5, NaN, Infinity, -0.25]) };
    assert.deepStrictEqual(rowJsonTexts(t), ['[1.5,null]', '[null,-0.25]']);
  });
});

describe('round trips', () => {
  test('JSON values -> buffer -> JSON values gives the values back, for every element type', () => {
    check(
      fc.property(tensor, ({ type, dims, values }) => {
        const data = fromJsonValues(type, values, 'data');
        assert.equal(data.length, values.length);
        assert.deepStrictEqual(toJsonValues({ type, dims, data }), values);
      }),
      RUNS,
    );
  });

  test('buffer -> binary -> buffer is byte-exact, for every element type', () => {
    check(
      fc.property(tensor, ({ type, dims, values }) => {
        const data = fromJsonValues(type, values, 'data');
        const bytes = toBinary({ type, dims, data });
        const back = fromBinary(type, values.length, new Uint8Array(bytes), 'data');
        assert.deepStrictEqual(toJsonValues({ type, dims, data: back }), values);
        assert.deepStrictEqual(toBinary({ type, dims, data: back }), bytes);
      }),
      RUNS,
    );
  });

  test('binary decoding copies: changing the request bytes afterwards does not change the tensor', () => {
    check(
      fc.property(tensor.filter((t) => t.type !== 'string'), ({ type, dims, values }) => {
        const bytes = new Uint8Array(toBinary({ type, dims, data: fromJsonValues(type, values, 'data') }));
        const decoded = fromBinary(type, values.length, bytes, 'data');
        bytes.fill(0xff);
        assert.deepStrictEqual(toJsonValues({ type, dims, data: decoded }), values);
      }),
      RUNS,
    );
  });

  test('JSON output text equals JSON.stringify of the values for any bytes (NaN, infinities and -0 included)', () => {
    const SIZE: Partial<Record<ElementType, number>> = { bool: 1, uint8: 1, int8: 1, uint16: 2, int16: 2, float16: 2, uint32: 4, int32: 4, float32: 4, uint64: 8, int64: 8, float64: 8 };
    const numeric = TYPES.filter((t) => t !== 'string');
    check(
      fc.property(fc.constantFrom(...numeric), fc.integer({ min: 0, max: 16 }), fc.uint8Array({ minLength: 128, maxLength: 128 }), (type, count, raw) => {
        const bytes = type === 'bool' ? raw.map((b) => b & 1) : raw; // BOOL bytes other than 0 and 1 are refused
        const data = fromBinary(type, count, bytes.subarray(0, count * SIZE[type]!), 'data');
        const t = { type, dims: [count], data };
        assert.equal(toJsonArrayText(t), JSON.stringify(toJsonValues(t)));
      }),
      RUNS,
    );
    for (const type of ['float32', 'float64'] as const) {
      const data = fromJsonValues(type, [0.1, -0, 1e-45, 3.4028234663852886e38, 1 / 3], 'data');
      assert.equal(toJsonArrayText({ type, dims: [5], data }), JSON.stringify(toJsonValues({ type, dims: [5], data })));
    }
  });

  test('nest and flatten are inverse, and nestedShape recovers the dims', () => {
    check(
      fc.property(tensor, ({ dims, values }) => {
        const nested = nest(values, dims);
        assert.deepStrictEqual(flatten(nested, 'data'), values);
        assert.deepStrictEqual(nestedShape(nested, 'data'), dims);
      }),
      RUNS,
    );
  });
});

describe('FP16 conversion', () => {
  test('every non-NaN half bit pattern survives fromHalf -> toHalf', () => {
    for (let bits = 0; bits <= 0xffff; bits++) {
      const value = fromHalf(bits);
      if (Number.isNaN(value)) assert.ok(Number.isNaN(fromHalf(toHalf(value))), `NaN bits ${bits.toString(16)}`);
      else assert.equal(toHalf(value), bits, `bits ${bits.toString(16)} -> ${value}`);
    }
  });

  test('toHalf rounds to the nearest half (relative error at most 2^-11 for normal values)', () => {
    check(
      fc.property(fc.double({ min: -65504, max: 65504, noNaN: true }), (x) => {
        const y = fromHalf(toHalf(x));
        if (Math.abs(x) >= 2 ** -14) assert.ok(Math.abs(y - x) <= Math.abs(x) * 2 ** -11, `${x} -> ${y}`);
        else assert.ok(Math.abs(y - x) <= 2 ** -25, `${x} -> ${y}`);
      }),
      RUNS,
    );
  });

  test('toHalf is monotonic and saturates to infinity past the FP16 range', () => {
    check(
      fc.property(fc.double({ noNaN: true }), fc.double({ noNaN: true }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        assert.ok(fromHalf(toHalf(lo)) <= fromHalf(toHalf(hi)), `${lo} <= ${hi}`);
      }),
      RUNS,
    );
    assert.equal(fromHalf(toHalf(65520)), Infinity);
    assert.equal(fromHalf(toHalf(-1e10)), -Infinity);
  });
});

describe('hostile input raises only 400s', () => {
  test('random bytes into fromBinary, for any type and element count', () => {
    check(
      fc.property(fc.constantFrom(...TYPES), fc.integer({ min: 0, max: 64 }), fc.uint8Array({ maxLength: 600 }), (type, count, bytes) => {
        onlyBadRequest(() => fromBinary(type, count, bytes, 'data'));
      }),
      2_000,
    );
  });

  test('random bytes at an offset of a larger buffer, as the request body slices them', () => {
    check(
      fc.property(fc.constantFrom(...TYPES), fc.integer({ min: 0, max: 16 }), fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), (type, count, bytes, cut) => {
        const start = cut % bytes.length;
        onlyBadRequest(() => fromBinary(type, count, Buffer.from(bytes).subarray(start), 'data'));
      }),
      1_000,
    );
  });

  test('any JSON value as tensor data, for any type', () => {
    check(
      fc.property(fc.constantFrom(...TYPES), fc.array(fc.jsonValue({ maxDepth: 4 }), { maxLength: 8 }), (type, values) => {
        onlyBadRequest(() => fromJsonValues(type, flatten(values, 'data'), 'data'));
      }),
      1_000,
    );
  });

  test('any JSON value as nested instances', () => {
    check(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        onlyBadRequest(() => nestedShape(value, 'instances'));
        onlyBadRequest(() => flatten(value, 'instances'));
      }),
      1_000,
    );
  });

  test('any dims: elementCount returns the product within the cap or raises a 400', () => {
    const dim = fc.oneof(fc.integer({ min: -5, max: 1e6 }), fc.double(), fc.constantFrom(2 ** 53, 1e308, -0, NaN, Infinity));
    check(
      fc.property(fc.array(dim, { maxLength: 8 }), (dims) => {
        onlyBadRequest(() => {
          const count = elementCount(dims, 'shape');
          assert.equal(count, dims.reduce((a, b) => a * b, 1));
          assert.ok(count <= MAX_ELEMENTS);
        });
      }),
      2_000,
    );
  });

  test('values deeply nested as objects are described without overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = { a: deep };
    for (const type of TYPES) onlyBadRequest(() => fromJsonValues(type, [deep], 'data'));
    onlyBadRequest(() => nestedShape([[1], deep], 'instances'));
  });
});
