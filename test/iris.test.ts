import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from './helpers/node-test.ts';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { IRIS_LABELS, loadIris, splitIris, trainIris } from '../scripts/train-iris.ts';

const MODEL = fileURLToPath(new URL('../models/iris/1/model.onnx', import.meta.url));
const CONFIG = fileURLToPath(new URL('../models/iris/config.json', import.meta.url));

async function probabilities(rows: number[][]): Promise<number[][]> {
  const session = await ort.InferenceSession.create(MODEL);
  try {
    const input = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]);
    const out = await session.run({ input });
    assert.deepEqual(out.probabilities?.dims, [rows.length, 3]);
    const data = Array.from(out.probabilities?.data as Float32Array);
    return rows.map((_, i) => data.slice(i * 3, i * 3 + 3));
  } finally {
    await session.release();
  }
}

const argmax = (p: number[]) => p.indexOf(Math.max(...p));

describe('models/iris', () => {
  it('declares input "input" float32 [-1, 4] and output "probabilities" float32 [-1, 3]', async () => {
    const session = await ort.InferenceSession.create(MODEL);
    assert.deepEqual(session.inputMetadata, [{ name: 'input', isTensor: true, type: 'float32', shape: ['', 4] }]);
    assert.deepEqual(session.outputMetadata, [
      { name: 'probabilities', isTensor: true, type: 'float32', shape: ['', 3] },
    ]);
    await session.release();
  });

  it('is the default model and lists labels in output order', async () => {
    const config = JSON.parse(await readFile(CONFIG, 'utf8'));
    assert.equal(config.default, true);
    assert.deepEqual(config.labels, ['setosa', 'versicolor', 'virginica']);
    assert.equal(typeof config.description, 'string');
  });

  it('classifies at least 90% of the 30 held-out rows correctly', async () => {
    const { features, labels } = loadIris();
    const { train, heldOut } = splitIris(labels);
    assert.equal(heldOut.length, 30);
    assert.equal(train.length, 120);
    assert.equal(new Set([...train, ...heldOut]).size, 150, 'split is a partition of all rows');
    for (let c = 0; c < 3; c++) assert.equal(heldOut.filter((i) => labels[i] === c).length, 10, `class ${c}`);
    const predicted = (await probabilities(heldOut.map((i) => features[i] as number[]))).map(argmax);
    const correct = heldOut.filter((row, k) => labels[row] === predicted[k]).length;
    assert.ok(correct / heldOut.length >= 0.9, `held-out accuracy ${correct}/${heldOut.length}`);
  });

  it('names the right species for typical raw measurements in cm, with probabilities summing to 1', async () => {
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.0, 2.9, 4.5, 1.5],
      [6.9, 3.1, 5.4, 2.1],
    ];
    const probs = await probabilities(rows);
    assert.deepEqual(probs.map((p) => IRIS_LABELS[argmax(p)]), ['setosa', 'versicolor', 'virginica']);
    for (const p of probs) assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  });

  it('is exactly what npm run train produces (training is deterministic)', async () => {
    const committed = new Uint8Array(await readFile(MODEL));
    const first = await trainIris();
    const second = await trainIris();
    assert.deepEqual(second.model, first.model);
    assert.deepEqual(first.model, committed, 'models/iris/1/model.onnx is stale: run npm run train');
    assert.equal(await readFile(CONFIG, 'utf8'), `${JSON.stringify(first.config, null, 2)}\n`);
  });

  it('uses a different held-out set for a different seed (the split really is seeded)', () => {
    const { labels } = loadIris();
    assert.deepEqual(splitIris(labels, 1), splitIris(labels, 1));
    assert.notDeepEqual(splitIris(labels, 1).heldOut, splitIris(labels, 2).heldOut);
  });
});
