import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from './helpers/node-test.ts';
import * as ort from 'onnxruntime-node';
import { buildFixtures, CLASSIFIER_BIAS, CLASSIFIER_WEIGHTS, FIXTURES_DIR, GATHER_TABLE } from '../scripts/make-fixtures.ts';
import {
  attr,
  decodeModel,
  ELEM_TYPES,
  identityModel,
  mlpForward,
  mlpModel,
  mlpWeights,
  ModelBuilder,
  type ElemType,
} from '../scripts/onnx/index.ts';
import { fixturePath, makeRepository } from './helpers/repository.ts';

type Session = ort.InferenceSession;

// Level 4 = fatal only: otherwise the expected Gather fault below prints an onnxruntime error log.
const QUIET = { logSeverityLevel: 4 } as const;

async function load(source: string | Uint8Array): Promise<Session> {
  return typeof source === 'string'
    ? ort.InferenceSession.create(source, QUIET)
    : ort.InferenceSession.create(source, QUIET);
}

function f32(data: number[], dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from(data), dims);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    assert.ok(Math.abs(a - e) <= tolerance * Math.max(1, Math.abs(e)), `index ${i}: got ${a}, expected ${e}`);
  }
}

function shapeOf(session: Session, kind: 'input' | 'output', index = 0): { type: string; shape: unknown[] } {
  const meta = (kind === 'input' ? session.inputMetadata : session.outputMetadata)[index];
  assert.ok(meta && meta.isTensor, `${kind} ${index} is a tensor`);
  return { type: meta.type, shape: [...meta.shape] };
}

// Three rows of each type: what goes in must come out unchanged, including extreme values.
const SAMPLES: Record<ElemType, ort.Tensor['data']> = {
  float32: Float32Array.from([1.5, -2, 3, 0, 3.4e38, -1e-30, 7, 8, 9]),
  float64: Float64Array.from([1.5, -2, 3, 0, 1.7e308, -5e-324, 7, 8, 9]),
  int8: Int8Array.from([-128, 0, 127, 1, 2, 3, 4, 5, 6]),
  int16: Int16Array.from([-32768, 0, 32767, 1, 2, 3, 4, 5, 6]),
  int32: Int32Array.from([-2147483648, 0, 2147483647, 1, 2, 3, 4, 5, 6]),
  int64: BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 63n - 1n, 1n, 2n, 3n, 4n, 5n, 6n]),
  uint8: Uint8Array.from([0, 1, 255, 1, 2, 3, 4, 5, 6]),
  uint16: Uint16Array.from([0, 1, 65535, 1, 2, 3, 4, 5, 6]),
  uint32: Uint32Array.from([0, 1, 4294967295, 1, 2, 3, 4, 5, 6]),
  uint64: BigUint64Array.from([0n, 1n, 2n ** 64n - 1n, 1n, 2n, 3n, 4n, 5n, 6n]),
  bool: Uint8Array.from([1, 0, 1, 0, 0, 0, 1, 1, 1]),
  string: ['a', 'héllo wörld', '', 'x', 'y', 'z', '1', '2', '3'],
};

describe('ModelBuilder', () => {
  it('writes IR version 8 and the ai.onnx opset 17', () => {
    const model = decodeModel(identityModel('float32'));
    assert.equal(model.irVersion, 8);
    assert.deepEqual(model.opsetImport, [{ domain: '', version: 17 }]);
  });

  it('treats -1, undefined and a symbolic name as dynamic dimensions, numbers as fixed', async () => {
    const bytes = new ModelBuilder()
      .input('x', 'float32', [-1, undefined, 'batch', 4])
      .output('y', 'float32', [-1, undefined, 'batch', 4])
      .node('Identity', ['x'], ['y'])
      .build();
    const session = await load(bytes);
    assert.deepEqual(shapeOf(session, 'input').shape, ['', '', 'batch', 4]);
    const out = await session.run({ x: f32(Array(8).fill(1), [1, 2, 1, 4]) });
    assert.deepEqual(out.y?.dims, [1, 2, 1, 4]);
  });

  it('encodes int, float and ints attributes with the types onnxruntime expects', async () => {
    // y = 0.5 * x · Wᵀ, with W given as [out, in] and transB = 1.
    const bytes = new ModelBuilder()
      .input('x', 'float32', [-1, 2])
      .output('y', 'float32', [-1, 3])
      .initializer('W', 'float32', [3, 2], [1, 0, 0, 1, 1, 1])
      .node('Gemm', ['x', 'W'], ['g'], { transB: attr.int(1), alpha: attr.float(0.5) })
      .node('Transpose', ['g'], ['t'], { perm: attr.ints([1, 0]) })
      .node('Transpose', ['t'], ['y'], { perm: attr.ints([1, 0]) })
      .build();
    const out = await (await load(bytes)).run({ x: f32([2, 4], [1, 2]) });
    assertClose(out.y?.data as Float32Array, [1, 2, 3]);
  });

  it('encodes a tensor attribute (Constant) and int64 initializers', async () => {
    const bytes = new ModelBuilder()
      .input('x', 'int64', [-1, 2])
      .output('y', 'int64', [-1, 2])
      .initializer('k', 'int64', [2], [10n, -(2n ** 40n)])
      .node('Constant', [], ['c'], { value: attr.tensor({ type: 'int64', dims: [2], data: [1, 2] }) })
      .node('Add', ['x', 'k'], ['s'])
      .node('Add', ['s', 'c'], ['y'])
      .build();
    const out = await (await load(bytes)).run({ x: new ort.Tensor('int64', BigInt64Array.from([0n, 0n]), [1, 2]) });
    assert.deepEqual([...(out.y?.data as BigInt64Array)], [11n, 2n - 2n ** 40n]);
  });

  it('rejects an initializer whose data does not fill its dims', () => {
    assert.throws(
      () => new ModelBuilder().initializer('w', 'float32', [2, 2], [1, 2, 3]).build(),
      /has 3 values for dims \[2, 2\]/,
    );
  });
});

describe('identityModel', () => {
  for (const type of ELEM_TYPES) {
    it(`loads and returns its ${type} input unchanged`, async () => {
      const session = await load(identityModel(type));
      assert.deepEqual(shapeOf(session, 'input'), { type, shape: ['', 3] });
      assert.deepEqual(shapeOf(session, 'output'), { type, shape: ['', 3] });
      const x = new ort.Tensor(type, SAMPLES[type] as never, [3, 3]);
      const out = await session.run({ x });
      assert.equal(out.y?.type, type);
      assert.deepEqual(out.y?.dims, [3, 3]);
      assert.deepEqual(Array.from(out.y?.data as ArrayLike<unknown>), Array.from(SAMPLES[type] as ArrayLike<unknown>));
    });
  }
});

describe('mlpModel', () => {
  const options = { sizes: [16, 32, 24, 5], seed: 7 };

  it('computes the same output as a JavaScript forward pass over its weights', async () => {
    const session = await load(mlpModel(options));
    assert.deepEqual(shapeOf(session, 'input'), { type: 'float32', shape: ['batch', 16] });
    assert.deepEqual(shapeOf(session, 'output'), { type: 'float32', shape: ['batch', 5] });
    const rows = [0, 1, 2].map((r) => Array.from({ length: 16 }, (_, i) => Math.sin(r * 16 + i)));
    const out = await session.run({ input: f32(rows.flat(), [3, 16]) });
    assert.deepEqual(out.output?.dims, [3, 5]);
    const layers = mlpWeights(options);
    assertClose(out.output?.data as Float32Array, rows.flatMap((row) => mlpForward(layers, row)), 1e-4);
  });

  it('is byte-identical for the same seed and differs for another seed', () => {
    const a = mlpModel(options);
    assert.deepEqual(mlpModel(options), a);
    assert.notDeepEqual(mlpModel({ ...options, seed: 8 }), a);
  });

  it('rejects fewer than two layer sizes', () => {
    assert.throws(() => mlpModel({ sizes: [4], seed: 1 }), /at least two positive integers/);
  });
});

describe('committed fixtures', () => {
  it('equal what make-fixtures generates, byte for byte, and regenerating gives the same bytes', async () => {
    const generated = buildFixtures();
    assert.deepEqual(buildFixtures(), generated);
    const committed = (await readdir(FIXTURES_DIR)).filter((f) => f.endsWith('.onnx')).sort();
    assert.deepEqual(committed, [...generated.keys()].sort());
    for (const [name, bytes] of generated) {
      assert.deepEqual(new Uint8Array(await readFile(join(FIXTURES_DIR, name))), bytes, `${name} is stale: run npm run fixtures`);
      assert.ok(bytes.length < 1024, `${name} stays tiny`);
    }
  });

  it('identity_<type>.onnx exists and runs for every element type', async () => {
    for (const type of ELEM_TYPES) {
      const session = await load(fixturePath(`identity_${type}.onnx`));
      const out = await session.run({ x: new ort.Tensor(type, SAMPLES[type] as never, [3, 3]) });
      assert.deepEqual(Array.from(out.y?.data as ArrayLike<unknown>), Array.from(SAMPLES[type] as ArrayLike<unknown>), type);
    }
  });

  it('fixed_add_one.onnx adds one to a fixed [2, 2] input and refuses other shapes', async () => {
    const session = await load(fixturePath('fixed_add_one.onnx'));
    assert.deepEqual(shapeOf(session, 'input'), { type: 'float32', shape: [2, 2] });
    const out = await session.run({ x: f32([1, 2, 3, 4], [2, 2]) });
    assertClose(out.y?.data as Float32Array, [2, 3, 4, 5]);
    await assert.rejects(session.run({ x: f32([1, 2, 3, 4, 5, 6], [3, 2]) }), Error);
  });

  it('add_one.onnx and add_two.onnx add 1 and 2 to batches of rows of 2', async () => {
    for (const [file, addend] of [['add_one.onnx', 1], ['add_two.onnx', 2]] as const) {
      const session = await load(fixturePath(file));
      assert.deepEqual(shapeOf(session, 'input'), { type: 'float32', shape: ['', 2] });
      const out = await session.run({ x: f32([0, 1, 2, 3, 4, 5], [3, 2]) });
      assert.deepEqual(out.y?.dims, [3, 2]);
      assertClose(out.y?.data as Float32Array, [0, 1, 2, 3, 4, 5].map((v) => v + addend));
    }
  });

  it('add_mul.onnx returns sum and product of its two inputs', async () => {
    const session = await load(fixturePath('add_mul.onnx'));
    assert.deepEqual(session.inputNames, ['a', 'b']);
    assert.deepEqual(session.outputNames, ['sum', 'product']);
    const out = await session.run({ a: f32([1, 2, 3, 4], [2, 2]), b: f32([5, 6, 7, 8], [2, 2]) });
    assertClose(out.sum?.data as Float32Array, [6, 8, 10, 12]);
    assertClose(out.product?.data as Float32Array, [5, 12, 21, 32]);
  });

  it('classifier.onnx gives softmax probabilities whose argmax follows the documented map', async () => {
    const session = await load(fixturePath('classifier.onnx'));
    assert.deepEqual(session.inputNames, ['input']);
    assert.deepEqual(shapeOf(session, 'output'), { type: 'float32', shape: ['', 3] });
    const rows = [[1, 0], [0, 1], [0, 0]];
    const out = await session.run({ input: f32(rows.flat(), [3, 2]) });
    const probs = out.probabilities?.data as Float32Array;
    const expected = rows.flatMap(([x0 = 0, x1 = 0]) => {
      const logits = CLASSIFIER_BIAS.map((b, j) => b + x0 * CLASSIFIER_WEIGHTS[0][j]! + x1 * CLASSIFIER_WEIGHTS[1][j]!);
      const exps = logits.map(Math.exp);
      const total = exps.reduce((a, b) => a + b, 0);
      return exps.map((e) => e / total);
    });
    assertClose(probs, expected);
    for (const [row, expectedClass] of [[0, 0], [1, 1], [2, 2]] as const) {
      const p = [...probs.slice(row * 3, row * 3 + 3)];
      assert.equal(p.indexOf(Math.max(...p)), expectedClass, `row ${row}`);
    }
  });

  it('gather_fault.onnx looks values up, and an out-of-range index rejects that run only', async () => {
    const session = await load(fixturePath('gather_fault.onnx'));
    assert.deepEqual(shapeOf(session, 'input'), { type: 'int64', shape: ['', 1] });
    const index = (values: bigint[]) => new ort.Tensor('int64', BigInt64Array.from(values), [values.length, 1]);
    const ok = await session.run({ index: index([0n, 3n, -1n]) });
    assert.deepEqual(ok.value?.dims, [3, 1, 1]);
    assert.deepEqual([...(ok.value?.data as Float32Array)], [GATHER_TABLE[0], GATHER_TABLE[3], GATHER_TABLE[3]]);
    await assert.rejects(session.run({ index: index([1n, 4n]) }), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /out of|bounds|range/i);
      return true;
    });
    const again = await session.run({ index: index([2n]) });
    assert.deepEqual([...(again.value?.data as Float32Array)], [GATHER_TABLE[2]]);
  });
});

describe('makeRepository', () => {
  it('lays out config.json and versioned model.onnx files, then removes them', async () => {
    const truncated = new Uint8Array(await readFile(fixturePath('add_one.onnx'))).subarray(0, 20);
    const repo = await makeRepository({
      adder: { config: { default: true }, versions: { 1: 'add_one.onnx', 2: 'add_two.onnx' } },
      broken: { versions: { 3: truncated } },
    });
    try {
      assert.deepEqual(JSON.parse(await readFile(join(repo.dir, 'adder', 'config.json'), 'utf8')), { default: true });
      const v2 = await load(join(repo.dir, 'adder', '2', 'model.onnx'));
      assertClose((await v2.run({ x: f32([1, 1], [1, 2]) })).y?.data as Float32Array, [3, 3]);
      assert.deepEqual(new Uint8Array(await readFile(join(repo.dir, 'broken', '3', 'model.onnx'))), truncated);
      await assert.rejects(stat(join(repo.dir, 'broken', 'config.json')), { code: 'ENOENT' });
      await assert.rejects(load(join(repo.dir, 'broken', '3', 'model.onnx')), Error);
    } finally {
      await repo.cleanup();
    }
    await assert.rejects(stat(repo.dir), { code: 'ENOENT' });
  });
});
