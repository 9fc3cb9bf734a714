// Ready-made models built with the builder: used by fixtures, tests and benchmarks.
import { buildModel, type Dim, type ElemType } from './builder.ts';
import { mulberry32 } from './random.ts';

/** y = Identity(x), both of `elemType` and shape `dims` (default [-1, 3]: a batch of rows of 3). */
export function identityModel(elemType: ElemType, dims: readonly Dim[] = [-1, 3]): Uint8Array {
  return buildModel({
    graphName: `identity_${elemType}`,
    inputs: [{ name: 'x', type: elemType, dims }],
    outputs: [{ name: 'y', type: elemType, dims }],
    nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
  });
}

export interface MlpOptions {
  /** Layer widths, input first: [1024, 2048, 2048, 1000] has three Gemm layers. */
  sizes: readonly number[];
  seed: number;
}

export interface MlpLayer {
  inSize: number;
  outSize: number;
  /** Row-major [inSize, outSize]. */
  weight: Float32Array;
  bias: Float32Array;
}

/** The deterministic weights mlpModel uses; exposed so tests can compute the expected output. */
export function mlpWeights({ sizes, seed }: MlpOptions): MlpLayer[] {
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(`mlp sizes must be at least two positive integers, got [${sizes.join(', ')}]`);
  }
  const random = mulberry32(seed);
  const layers: MlpLayer[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inSize = sizes[l] as number;
    const outSize = sizes[l + 1] as number;
    // He-uniform keeps activations roughly the same size through Relu layers.
    const limit = Math.sqrt(6 / inSize);
    const weight = new Float32Array(inSize * outSize);
    for (let i = 0; i < weight.length; i++) weight[i] = (2 * random() - 1) * limit;
    const bias = new Float32Array(outSize);
    for (let i = 0; i < bias.length; i++) bias[i] = (2 * random() - 1) * 0.1;
    layers.push({ inSize, outSize, weight, bias });
  }
  return layers;
}

/**
 * A multilayer perceptron: input "input" float32 [-1, sizes[0]], Gemm + Relu per hidden layer,
 * a final Gemm without activation, output "output" float32 [-1, sizes[last]].
 */
export function mlpModel(options: MlpOptions): Uint8Array {
  const layers = mlpWeights(options);
  const nodes = [];
  const initializers = [];
  let current = 'input';
  for (const [l, layer] of layers.entries()) {
    const last = l === layers.length - 1;
    const W = `W${l}`;
    const B = `B${l}`;
    initializers.push({ name: W, type: 'float32' as const, dims: [layer.inSize, layer.outSize], data: layer.weight });
    initializers.push({ name: B, type: 'float32' as const, dims: [layer.outSize], data: layer.bias });
    const gemmOut = last ? 'output' : `gemm${l}`;
    nodes.push({ opType: 'Gemm', inputs: [current, W, B], outputs: [gemmOut] });
    if (!last) {
      nodes.push({ opType: 'Relu', inputs: [gemmOut], outputs: [`relu${l}`] });
      current = `relu${l}`;
    }
  }
  return buildModel({
    graphName: `mlp_${options.sizes.join('x')}`,
    docString: `MLP ${options.sizes.join('-')} with seeded weights (seed ${options.seed})`,
    inputs: [{ name: 'input', type: 'float32', dims: ['batch', options.sizes[0]] }],
    outputs: [{ name: 'output', type: 'float32', dims: ['batch', options.sizes.at(-1)] }],
    nodes,
    initializers,
  });
}

/** Reference forward pass of the same MLP in JavaScript (float64 math on the float32 weights). */
export function mlpForward(layers: readonly MlpLayer[], row: readonly number[]): number[] {
  let x = [...row];
  for (const [l, { inSize, outSize, weight, bias }] of layers.entries()) {
    const y = Array.from(bias, Number);
    for (let i = 0; i < inSize; i++) {
      const xi = x[i] as number;
      for (let j = 0; j < outSize; j++) y[j] = (y[j] as number) + xi * (weight[i * outSize + j] as number);
    }
    x = l === layers.length - 1 ? y : y.map((v) => Math.max(0, v));
  }
  return x;
}
