// The ONNX project's backend test models (Debian's libonnx-testdata) as a meshserve model repository: a
// realistic many-model repository of every element type, with each model's own test inputs, to check that
// meshserve serves them all and answers exactly what onnxruntime computes in-process.
//
//   node --import tsx scripts/backend-models.ts <dir> [count]    writes <dir>/<name>/1/model.onnx
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { V2_BY_ELEMENT } from '../src/tensors/types.ts';

const { onnx } = onnxProto;

export const TESTDATA = '/usr/share/libonnx-testdata/data';
/** The count the many-models bench and test use. */
export const BACKEND_MODEL_COUNT = 173;

export const testdataPresent = existsSync(TESTDATA);

/** onnxruntime-node's tensor type for each ONNX TensorProto data type meshserve serves. */
const ORT_TYPE: Record<number, ort.Tensor.Type> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
};
const SERVED = new Set(Object.values(ORT_TYPE));

export interface TestTensor {
  name: string;
  type: ort.Tensor.Type;
  dims: number[];
  data: ort.Tensor['data'];
}

const ARRAYS: Partial<Record<ort.Tensor.Type, { new (buffer: ArrayBuffer): ort.Tensor['data'] & ArrayLike<unknown> }>> = {
  float32: Float32Array as never,
  float64: Float64Array as never,
  int8: Int8Array as never,
  uint8: Uint8Array as never,
  int16: Int16Array as never,
  uint16: Uint16Array as never,
  float16: Uint16Array as never,
  int32: Int32Array as never,
  uint32: Uint32Array as never,
  int64: BigInt64Array as never,
  uint64: BigUint64Array as never,
  bool: Uint8Array as never,
};

/** Reads one TensorProto file of a test data set (input_0.pb ...). */
export function readTensorProto(file: string): TestTensor {
  const t = onnx.TensorProto.decode(readFileSync(file));
  const type = ORT_TYPE[t.dataType];
  if (!type) throw new Error(`${file}: ONNX data type ${t.dataType} is not served`);
  const dims = t.dims.map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  let data: ort.Tensor['data'];
  if (type === 'string') {
    data = t.stringData.map((b) => Buffer.from(b).toString('utf8'));
  } else if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData).slice().buffer;
    data = new ARRAYS[type]!(copy);
  } else {
    const Ctor = ARRAYS[type]!;
    const out = new Ctor(new ArrayBuffer(count * (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT)) as unknown as Record<number, unknown>;
    const source: unknown[] =
      type === 'float32' ? t.floatData : type === 'float64' ? t.doubleData : type === 'int64' ? t.int64Data : type === 'uint32' || type === 'uint64' ? t.uint64Data : t.int32Data;
    source.forEach((v, i) => (out[i] = type === 'int64' || type === 'uint64' ? BigInt(String(v)) : type === 'bool' ? (v ? 1 : 0) : Number(v)));
    data = out as unknown as ort.Tensor['data'];
  }
  return { name: t.name, type, dims, data };
}

export interface BackendModel {
  /** The meshserve model name: <category>_<test name>. */
  name: string;
  file: string;
  inputs: TestTensor[];
}

function candidates(): { category: string; test: string; file: string; dataDir: string }[] {
  const found = [];
  for (const category of readdirSync(TESTDATA).sort()) {
    for (const test of readdirSync(path.join(TESTDATA, category)).sort()) {
      const file = path.join(TESTDATA, category, test, 'model.onnx');
      const dataDir = path.join(TESTDATA, category, test, 'test_data_set_0');
      if (existsSync(file) && existsSync(dataDir)) found.push({ category, test, file, dataDir });
    }
  }
  return found;
}

/**
 * The first `count` models, in a fixed order, that onnxruntime loads and runs on their own test inputs and
 * whose inputs and outputs are all tensors of served types: every model of the "simple" and "pytorch-*"
 * sets first, then the operator ("node") tests taken in turn from each combination of element types, so
 * that every type is in.
 */
export async function selectBackendModels(count: number): Promise<BackendModel[]> {
  ort.env.logLevel = 'fatal';
  const chosen: BackendModel[] = [];
  const groups = new Map<string, BackendModel[]>();
  for (const c of candidates()) {
    let session: ort.InferenceSession | undefined;
    try {
      session = await ort.InferenceSession.create(c.file, { logSeverityLevel: 4 });
      const meta = [...session.inputMetadata, ...session.outputMetadata];
      if (meta.some((m) => !m.isTensor || !SERVED.has((m as { type: ort.Tensor.Type }).type))) continue;
      const files = readdirSync(c.dataDir).filter((f) => /^input_\d+\.pb$/.test(f)).sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
      if (files.length !== session.inputNames.length) continue;
      const inputs = files.map((f, i) => ({ ...readTensorProto(path.join(c.dataDir, f)), name: session!.inputNames[i]! }));
      // Twice, and the same both times: random operators (Bernoulli, RandomNormal) cannot be compared.
      const feeds = () => Object.fromEntries(inputs.map((t) => [t.name, new ort.Tensor(t.type, t.data, t.dims)]));
      const [first, second] = [await session.run(feeds()), await session.run(feeds())];
      const same = Object.keys(first).every((k) => tensorBytes(asTest(k, first[k]!)).equals(tensorBytes(asTest(k, second[k]!))));
      if (!same) continue;
      const model = { name: `${c.category.replace(/[^A-Za-z0-9]/g, '_')}_${c.test}`, file: c.file, inputs };
      if (c.category === 'node') {
        const key = [...new Set(meta.map((m) => (m as { type: string }).type))].sort().join('+');
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key)!.push(model);
      } else chosen.push(model);
    } catch {
      continue;
    } finally {
      await session?.release();
    }
  }
  const keys = [...groups.keys()].sort();
  for (let round = 0; chosen.length < count; round++) {
    let took = false;
    for (const key of keys) {
      const model = groups.get(key)![round];
      if (model && chosen.length < count) {
        chosen.push(model);
        took = true;
      }
    }
    if (!took) break;
  }
  return chosen.slice(0, count);
}

/** Writes the models as a repository: <dir>/<name>/1/model.onnx, warm-up off (their own inputs are the test). */
export async function writeRepository(dir: string, models: BackendModel[]): Promise<void> {
  for (const m of models) {
    await mkdir(path.join(dir, m.name, '1'), { recursive: true });
    await writeFile(path.join(dir, m.name, '1', 'model.onnx'), readFileSync(m.file));
  }
}

function asTest(name: string, t: ort.Tensor): TestTensor {
  return { name, type: t.type as ort.Tensor.Type, dims: [...t.dims], data: t.data };
}

/** What onnxruntime computes in this process for a model's test inputs. */
export async function expectedOutputs(model: BackendModel): Promise<Record<string, TestTensor>> {
  const session = await ort.InferenceSession.create(model.file, { logSeverityLevel: 4 });
  try {
    const results = await session.run(Object.fromEntries(model.inputs.map((t) => [t.name, new ort.Tensor(t.type, t.data, t.dims)])));
    return Object.fromEntries(Object.entries(results).map(([name, t]) => [name, asTest(name, t)]));
  } finally {
    await session.release();
  }
}

const V2: Record<string, string> = V2_BY_ELEMENT;

function tensorBytes(t: TestTensor): Buffer {
  if (t.type === 'string') {
    return Buffer.concat((t.data as string[]).flatMap((s) => {
      const bytes = Buffer.from(s, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return [length, bytes];
    }));
  }
  const view = t.data as unknown as ArrayBufferView;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** A V2 binary request (Triton's binary tensor data extension) for the test inputs, asking every output back raw. */
export function binaryRequest(model: BackendModel, outputs: string[]): { body: Buffer; headerLength: number } {
  const parts = model.inputs.map(tensorBytes);
  const header = Buffer.from(JSON.stringify({
    inputs: model.inputs.map((t, i) => ({ name: t.name, datatype: V2[t.type], shape: t.dims, parameters: { binary_data_size: parts[i]!.length } })),
    outputs: outputs.map((name) => ({ name, parameters: { binary_data: true } })),
  }));
  return { body: Buffer.concat([header, ...parts]), headerLength: header.length };
}

/** Compares a V2 binary response with the expected tensors, byte for byte; returns the differences. */
export function compareBinaryResponse(body: Buffer, headerLength: number, expected: Record<string, TestTensor>): string[] {
  const header = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as { outputs: { name: string; datatype: string; shape: number[]; parameters?: { binary_data_size?: number } }[] };
  const problems: string[] = [];
  let offset = headerLength;
  const seen = new Set<string>();
  for (const out of header.outputs) {
    const size = out.parameters?.binary_data_size ?? 0;
    const bytes = body.subarray(offset, offset + size);
    offset += size;
    seen.add(out.name);
    const want = expected[out.name];
    if (!want) {
      problems.push(`unexpected output ${out.name}`);
      continue;
    }
    if (JSON.stringify(out.shape) !== JSON.stringify(want.dims)) problems.push(`${out.name}: shape ${JSON.stringify(out.shape)}, expected ${JSON.stringify(want.dims)}`);
    if (out.datatype !== V2[want.type]) problems.push(`${out.name}: datatype ${out.datatype}, expected ${V2[want.type]}`);
    if (!bytes.equals(tensorBytes(want))) problems.push(`${out.name}: ${bytes.length} bytes differ from onnxruntime's ${tensorBytes(want).length}`);
  }
  for (const name of Object.keys(expected)) if (!seen.has(name)) problems.push(`output ${name} missing`);
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, count] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: scripts/backend-models.ts <dir> [count]');
    process.exit(2);
  }
  if (!testdataPresent) {
    console.error(`${TESTDATA} is missing: install Debian's libonnx-testdata (apt-get install libonnx-testdata)`);
    process.exit(1);
  }
  const models = await selectBackendModels(Number(count ?? BACKEND_MODEL_COUNT));
  await writeRepository(dir, models);
  console.log(`${models.length} models written to ${dir}`);
}
