// Writes the tiny committed test models to test/fixtures/models/ (`npm run fixtures`).
// The same function feeds the reproducibility test, so committed files must equal buildFixtures().
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildModel, ELEM_TYPES, identityModel } from './onnx/index.ts';

export const FIXTURES_DIR = fileURLToPath(new URL('../test/fixtures/models/', import.meta.url));

/** x float32 `dims` -> y = x + addend. */
function addConstant(addend: number, dims: readonly (number | undefined)[]): Uint8Array {
  return buildModel({
    graphName: `add_${addend}`,
    inputs: [{ name: 'x', type: 'float32', dims }],
    outputs: [{ name: 'y', type: 'float32', dims }],
    initializers: [{ name: 'addend', type: 'float32', dims: [], data: [addend] }],
    nodes: [{ opType: 'Add', inputs: ['x', 'addend'], outputs: ['y'] }],
  });
}

function addMul(): Uint8Array {
  const dims = [-1, 2];
  return buildModel({
    graphName: 'add_mul',
    inputs: [
      { name: 'a', type: 'float32', dims },
      { name: 'b', type: 'float32', dims },
    ],
    outputs: [
      { name: 'sum', type: 'float32', dims },
      { name: 'product', type: 'float32', dims },
    ],
    nodes: [
      { opType: 'Add', inputs: ['a', 'b'], outputs: ['sum'] },
      { opType: 'Mul', inputs: ['a', 'b'], outputs: ['product'] },
    ],
  });
}

/** The linear map of classifier.onnx: logits = input · CLASSIFIER_WEIGHTS + CLASSIFIER_BIAS. */
export const CLASSIFIER_WEIGHTS = [
  [2, 0, 0],
  [0, 2, 0],
] as const;
export const CLASSIFIER_BIAS = [0, 0, 1] as const;

// Row [1, 0] -> class 0, [0, 1] -> class 1, [0, 0] -> class 2.
function classifier(): Uint8Array {
  return buildModel({
    graphName: 'classifier',
    inputs: [{ name: 'input', type: 'float32', dims: [-1, 2] }],
    outputs: [{ name: 'probabilities', type: 'float32', dims: [-1, 3] }],
    initializers: [
      { name: 'W', type: 'float32', dims: [2, 3], data: CLASSIFIER_WEIGHTS.flat() },
      { name: 'B', type: 'float32', dims: [3], data: [...CLASSIFIER_BIAS] },
    ],
    nodes: [
      { opType: 'Gemm', inputs: ['input', 'W', 'B'], outputs: ['logits'] },
      { opType: 'Softmax', inputs: ['logits'], outputs: ['probabilities'] },
    ],
  });
}

export const GATHER_TABLE = [10, 20, 30, 40] as const;

// value[i] = table[index[i]]; an index outside [-4, 3] makes onnxruntime fail the run.
function gatherFault(): Uint8Array {
  return buildModel({
    graphName: 'gather_fault',
    inputs: [{ name: 'index', type: 'int64', dims: [-1, 1] }],
    outputs: [{ name: 'value', type: 'float32', dims: [-1, 1, 1] }],
    initializers: [{ name: 'table', type: 'float32', dims: [4, 1], data: [...GATHER_TABLE] }],
    nodes: [{ opType: 'Gather', inputs: ['table', 'index'], outputs: ['value'] }],
  });
}

export function buildFixtures(): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const type of ELEM_TYPES) files.set(`identity_${type}.onnx`, identityModel(type, [-1, 3]));
  files.set('fixed_add_one.onnx', addConstant(1, [2, 2]));
  files.set('add_one.onnx', addConstant(1, [-1, 2]));
  files.set('add_two.onnx', addConstant(2, [-1, 2]));
  files.set('add_mul.onnx', addMul());
  files.set('classifier.onnx', classifier());
  files.set('gather_fault.onnx', gatherFault());
  return files;
}

async function main(): Promise<void> {
  await mkdir(FIXTURES_DIR, { recursive: true });
  for (const [name, bytes] of buildFixtures()) {
    await writeFile(new URL(name, pathToFileURL(FIXTURES_DIR)), bytes);
    console.log(`${name} (${bytes.length} bytes)`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
