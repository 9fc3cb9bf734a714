// Property-based tests of the tensor codecs: random shapes and element types round-trip through JSON values
// and the binary extension; random bytes and values only ever raise a 400 AppError.
import assert from 'node:assert/strict';
import { describe, test as nodeTest } from './helpers/node-test.ts';
import fc from 'fast-check';
import { parseJsonBody } from '../src/codecs/json-body.ts';
import { decodeNumericRows, decodeRowBody, decodeRowRequest, encodeRowResponse } from '../src/codecs/rows.ts';
import type { Signature } from '../src/codecs/signature.ts';
import { AppError } from '../src/errors.ts';
import { fromBinary, toBinary } from '../src/tensors/binary.ts';
import { fromHalf, toHalf } from '../src/tensors/fp16.ts';
import { flatten, fromJsonValues, nest, nestedShape, parseNumberArray, rowJsonTexts, toJsonArrayText, toJsonValues } from '../src/tensors/json.ts';
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

// The row format's numeric fast path (decodeNumericRows, parseNumberArray) against the generic path
// (JSON.parse, the request schema and the nested-array walk): the same tensors for every body it takes,
// and every other body, valid or not, left to the generic path and its errors.
const generic = (model: Signature, body: Uint8Array) => decodeRowRequest(model, parseJsonBody(body));

/** The result or the error (code, status, message) of a decode, to compare two paths. */
function outcome(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (err) {
    assert.ok(err instanceof AppError, `threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    return { error: { code: err.code, status: err.status, message: err.message } };
  }
}

function sameAsGeneric(model: Signature, text: string | Uint8Array): void {
  const body = typeof text === 'string' ? Buffer.from(text) : text;
  assert.deepStrictEqual(outcome(() => decodeRowBody(model, body)), outcome(() => generic(model, body)));
}

/** JSON number texts as clients print them: integers, decimals, float32 and float64 printed by JavaScript, exponents, leading and trailing zeros. */
const digitsText = (min: number, max: number) => fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((d) => d.join(''));
const numberText = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.float({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }).chain((v) => fc.integer({ min: 0, max: 20 }).map((d) => v.toFixed(d))),
  fc.integer({ min: -1e9, max: 1e9 }).map(String),
  fc
    .record({
      sign: fc.constantFrom('', '-'),
      int: fc.oneof(fc.constant('0'), fc.tuple(fc.constantFrom(...'123456789'), digitsText(0, 22)).map(([a, b]) => a + b)),
      frac: fc.option(digitsText(1, 30), { nil: undefined }),
      exp: fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digitsText(1, 3)).map((p) => p.join('')), { nil: undefined }),
    })
    .map(({ sign, int, frac, exp }) => `${sign}${int}${frac === undefined ? '' : `.${frac}`}${exp ?? ''}`),
);
const space = fc.array(fc.constantFrom(' ', '\n', '\t', '\r'), { maxLength: 2 }).map((s) => s.join(''));

/** A rectangular nested array of number texts with its dims, printed with random whitespace between tokens. */
const numericRows = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((dims) => {
  const count = dims.reduce((a, b) => a * b, 1);
  return fc.record({ dims: fc.constant(dims), numbers: fc.array(numberText, { minLength: count, maxLength: count }), spaces: fc.array(space, { minLength: 4 * count + 8, maxLength: 4 * count + 8 }) });
});

function printRows(dims: number[], numbers: string[], spaces: string[]): string {
  let s = 0;
  let n = 0;
  const sp = () => spaces[s++ % spaces.length]!;
  const print = (level: number): string => {
    if (level === dims.length) return numbers[n++]!;
    const items = Array.from({ length: dims[level]! }, () => `${sp()}${print(level + 1)}${sp()}`);
    return `[${items.join(',')}]`;
  };
  return print(0);
}

const rowModel = (type: ElementType, shape: number[]): Signature => ({ name: 'm', version: 1, inputs: [{ name: 'x', type, shape }], outputs: [], batchable: shape[0] === -1 });
/** A model for these dims: the matching shape (batch dimension dynamic), or another one. */
const modelFor = (dims: number[]) =>
  fc.record({
    type: fc.constantFrom<ElementType>('float32', 'float64', 'float32', 'float64', 'int32', 'float16'),
    shape: fc.oneof(
      fc.constant<number[]>([-1, ...dims.slice(1)]),
      fc.constant<number[]>(dims),
      fc.array(fc.integer({ min: -1, max: 4 }), { minLength: 1, maxLength: 4 }),
    ),
  }).map(({ type, shape }) => rowModel(type, shape));

describe('row format: numeric fast path against the generic path', () => {
  test('random numeric arrays of any nesting, in any whitespace: the same tensors as the generic path, and the fast path takes every one that fits an FP32/FP64 model', () => {
    check(
      fc.property(numericRows.chain((r) => fc.record({ r: fc.constant(r), model: modelFor(r.dims), pre: space, post: space })), ({ r, model, pre, post }) => {
        const body = `${pre}{${pre}"instances"${post}:${pre}${printRows(r.dims, r.numbers, r.spaces)}${post}}${post}`;
        sameAsGeneric(model, body);
        const spec = model.inputs[0]!;
        const fits = (spec.type === 'float32' || spec.type === 'float64') && spec.shape.length === r.dims.length && spec.shape.every((d, i) => d < 0 || d === r.dims[i]);
        assert.equal(decodeNumericRows(model, Buffer.from(body)) !== undefined, fits);
      }),
      RUNS,
    );
  });

  test('each number gets the value JSON.parse gives it (float64), and the same float32', () => {
    check(
      fc.property(fc.array(numberText, { minLength: 1, maxLength: 8 }), (numbers) => {
        const text = `[${numbers.join(',')}]`;
        const expected = JSON.parse(text) as number[];
        for (const float32 of [false, true]) {
          const parsed = parseNumberArray(Buffer.from(text), 0, float32)!;
          assert.ok(parsed, text);
          assert.deepStrictEqual(parsed.dims, [numbers.length]);
          const got = Array.from(parsed.values.subarray(0, parsed.count));
          if (float32) assert.deepStrictEqual(got.map(Math.fround), expected.map(Math.fround), text);
          else assert.deepStrictEqual(got, expected, text);
        }
      }),
      RUNS * 3,
    );
  });

  test('float32 values printed by JavaScript (as clients send them) parse to the same float32, at any magnitude', () => {
    check(
      fc.property(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 64 }), (values) => {
        const body = JSON.stringify({ instances: [values] });
        const model = rowModel('float32', [-1, values.length]);
        const fast = decodeNumericRows(model, Buffer.from(body));
        assert.ok(fast);
        assert.deepStrictEqual(fast, generic(model, Buffer.from(body)));
        // JSON.stringify prints -0 as 0: that is what the service receives.
        assert.deepStrictEqual(Array.from(fast.inputs.x!.data as Float32Array), JSON.parse(JSON.stringify(values)));
      }),
      RUNS,
    );
  });

  test('ragged, empty, mixed and deeply nested instances: the same result or the same error', () => {
    const leaf = fc.oneof(numberText.map(Number), fc.constant(null), fc.constant('1'), fc.constant(true), fc.constant({}));
    const nested = fc.letrec<{ node: unknown }>((tie) => ({
      node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, numberText.map(Number), fc.array(tie('node'), { maxLength: 4 }), leaf),
    })).node;
    check(
      fc.property(fc.array(nested, { maxLength: 4 }), fc.constantFrom<ElementType>('float32', 'float64'), fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 1, maxLength: 4 }), (instances, type, shape) => {
        sameAsGeneric(rowModel(type, shape), JSON.stringify({ instances }));
        sameAsGeneric(rowModel(type, [-1, ...shape.slice(1)]), JSON.stringify({ instances }));
      }),
      RUNS,
    );
    const deep = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;
    for (const n of [31, 32, 33, 34]) {
      for (const shape of [[-1], Array.from({ length: n }, () => 1), Array.from({ length: n }, () => -1)]) sameAsGeneric(rowModel('float32', shape), `{"instances":${deep(n)}}`);
    }
  });

  test('bad input: any byte changed, added or removed in a valid body gives the same result or the same error', () => {
    check(
      fc.property(
        numericRows,
        fc.nat(),
        fc.constantFrom('insert', 'delete', 'replace'),
        fc.oneof(fc.constantFrom(...'[]{},:."-+eE0123456789 \n\tx'), fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b))),
        (r, at, edit, ch) => {
          const body = Buffer.from(`{"instances":${printRows(r.dims, r.numbers, r.spaces)}}`);
          const i = at % (body.length + 1);
          const byte = Buffer.from([ch.charCodeAt(0)]);
          const changed =
            edit === 'insert'
              ? Buffer.concat([body.subarray(0, i), byte, body.subarray(i)])
              : edit === 'delete'
                ? Buffer.concat([body.subarray(0, i), body.subarray(i + 1)])
                : Buffer.concat([body.subarray(0, i), byte, body.subarray(i + 1)]);
          sameAsGeneric(rowModel('float32', [-1, ...r.dims.slice(1)]), changed);
          sameAsGeneric(rowModel('float64', r.dims), changed);
        },
      ),
      RUNS * 2,
    );
  });

  test('bodies the fast path leaves to the generic path decode as before', () => {
    const iris = rowModel('float32', [-1, 4]);
    for (const body of [
      '{"instances":[[5.1,3.5,1.4,0.2]],"parameters":{"timeout_ms":50}}',
      '{"parameters":{"timeout_ms":50},"instances":[[5.1,3.5,1.4,0.2]]}',
      '{"instances":[[5.1,3.5,1.4,0.2]],"instances":[[1,2,3,4]]}',
      '{"\\u0069nstances":[[5.1,3.5,1.4,0.2]]}',
      '\ufeff{"instances":[[5.1,3.5,1.4,0.2]]}',
      '{"instances":[]}',
      '{"instances":[[]]}',
      '{"instances":[[5.1,3.5,1.4,0.2],]}',
      '{"instances":[[5.1,3.5,1.4,NaN]]}',
      '{"instances":[[5.1,3.5,1.4,1e999]]}',
      '{"instances":[[05.1,3.5,1.4,0.2]]}',
      '{"instances":[[5.,3.5,1.4,0.2]]}',
      '{"instances":[[+5.1,3.5,1.4,0.2]]}',
      '{"instances":[[5.1,3.5,1.4,0.2]]} x',
      '{"instances":[[5.1,3.5,1.4,0.2]]',
      '{"instances":[[5.1,3.5,1.4,0.2]',
      '{"instances":[[-0,0.0,-0.0,0e0]]}',
      '',
      '   ',
      '[]',
    ]) {
      sameAsGeneric(iris, body);
    }
  });
});

describe('row format: label scores', () => {
  test('{label, scores} printed from the typed array are JSON.stringify of the same values, for float and integer outputs (NaN and infinities as null)', () => {
    const special = fc.constantFrom(NaN, Infinity, -Infinity, -0, 0);
    check(
      fc.property(
        fc.constantFrom<ElementType>('float32', 'float64', 'int32', 'uint8', 'int64', 'bool', 'float16'),
        // Labels an object literal keeps in order (integer-like keys would be moved first by the reference below).
        fc.uniqueArray(fc.string({ maxLength: 6 }).filter((l) => l !== '__proto__' && !/^(0|[1-9]\d*)$/.test(l)), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.oneof(fc.double(), special), { minLength: 20, maxLength: 20 }),
        (type, labels, rows, pool) => {
          const size = labels.length;
          const values = Array.from({ length: rows * size }, (_, i) => pool[i % pool.length]!);
          const data =
            type === 'int64'
              ? BigInt64Array.from(values, (v) => BigInt(Number.isFinite(v) ? Math.trunc(v % 1e15) : 0))
              : type === 'bool'
                ? Uint8Array.from(values, (v) => (v > 0 ? 1 : 0))
                : type === 'float16'
                  ? Uint16Array.from(values, (v) => toHalf(v))
                  : fromJsonValues(type, values.map((v) => (type === 'float32' || type === 'float64' ? v : Number.isFinite(v) ? Math.abs(Math.trunc(v)) % 100 : 0)), 'v');
          const tensor = { type, dims: [rows, size], data };
          const model: Signature = { name: 'm', version: 3, inputs: [], outputs: [{ name: 'p', type, shape: [-1, size] }], batchable: true, labels };
          const flat = toJsonValues(tensor) as number[];
          const predictions = Array.from({ length: rows }, (_, r) => {
            const row = flat.slice(r * size, (r + 1) * size);
            let best = 0;
            for (let i = 1; i < size; i++) if (row[i]! > row[best]!) best = i;
            return { label: labels[best], scores: Object.fromEntries(labels.map((l, i) => [l, row[i]])) };
          });
          assert.equal(encodeRowResponse(model, { p: tensor }, rows), JSON.stringify({ model: 'm', version: '3', predictions }));
        },
      ),
      RUNS,
    );
  });
});
