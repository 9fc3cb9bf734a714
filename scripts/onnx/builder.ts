// A small typed builder for ONNX models on top of the protobuf classes in `onnx-proto`.
// Element type names follow onnxruntime-node's Tensor types, so what a test builds is what it feeds.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const IR_VERSION = 8;
export const OPSET_VERSION = 17;

export type ElemType =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string';

export const ELEM_TYPES: readonly ElemType[] = [
  'float32',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'string',
];

const DATA_TYPE: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int8: onnx.TensorProto.DataType.INT8,
  int16: onnx.TensorProto.DataType.INT16,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  uint8: onnx.TensorProto.DataType.UINT8,
  uint16: onnx.TensorProto.DataType.UINT16,
  uint32: onnx.TensorProto.DataType.UINT32,
  uint64: onnx.TensorProto.DataType.UINT64,
  bool: onnx.TensorProto.DataType.BOOL,
  string: onnx.TensorProto.DataType.STRING,
};

/** The ONNX TensorProto.DataType number of an element type. */
export function onnxDataType(type: ElemType): number {
  return DATA_TYPE[type];
}

/** A dimension: a fixed size, or dynamic (-1, undefined, or a symbolic name such as "batch"). */
export type Dim = number | string | undefined;

export interface ValueSpec {
  name: string;
  type: ElemType;
  dims: readonly Dim[];
}

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | readonly number[]
  | readonly bigint[]
  | readonly boolean[]
  | readonly string[];

/** A constant tensor: an initializer, or the value of a tensor attribute (e.g. Constant's `value`). */
export interface TensorSpec {
  name?: string;
  type: ElemType;
  dims: readonly number[];
  data: TensorData;
}

export type Attribute =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'strings'; value: readonly string[] }
  | { kind: 'tensor'; value: TensorSpec };

/** Attribute constructors; ONNX tells ints from floats, so JavaScript numbers must say which they are. */
export const attr = {
  int: (value: number): Attribute => ({ kind: 'int', value }),
  float: (value: number): Attribute => ({ kind: 'float', value }),
  string: (value: string): Attribute => ({ kind: 'string', value }),
  ints: (value: readonly number[]): Attribute => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): Attribute => ({ kind: 'floats', value }),
  strings: (value: readonly string[]): Attribute => ({ kind: 'strings', value }),
  tensor: (value: TensorSpec): Attribute => ({ kind: 'tensor', value }),
};

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Record<string, Attribute>;
  name?: string;
}

export interface ModelSpec {
  graphName?: string;
  docString?: string;
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  nodes: readonly NodeSpec[];
  initializers?: readonly (TensorSpec & { name: string })[];
  /** ai.onnx opset; defaults to OPSET_VERSION. */
  opset?: number;
  /** Extra metadata_props (key/value strings) stored in the model. */
  metadata?: Record<string, string>;
}

const utf8 = new TextEncoder();

function shapeProto(dims: readonly Dim[]) {
  return {
    dim: dims.map((d) => {
      if (typeof d === 'string') return { dimParam: d };
      if (d === undefined || d < 0) return {};
      if (!Number.isInteger(d)) throw new Error(`dimension ${d} is not an integer`);
      return { dimValue: d };
    }),
  };
}

function valueInfoProto(v: ValueSpec) {
  return { name: v.name, type: { tensorType: { elemType: DATA_TYPE[v.type], shape: shapeProto(v.dims) } } };
}

type TypedArrayClass = { new (length: number): ArrayBufferView & ArrayLike<unknown> };

const STORAGE: Record<Exclude<ElemType, 'string'>, TypedArrayClass> = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

function littleEndianBytes(type: ElemType, data: TensorData): Uint8Array {
  if (type === 'string') throw new Error('string tensors have no raw byte form');
  // TensorProto.raw_data is little-endian, as is every host Node runs on here; refuse anything else.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('big-endian hosts are not supported');
  const Storage = STORAGE[type];
  // Fast path: large weight tensors usually arrive already in their storage type.
  let typed: ArrayBufferView;
  if (data instanceof Storage && type !== 'bool') {
    typed = data;
  } else {
    const convert =
      type === 'bool'
        ? (v: unknown) => (v ? 1 : 0)
        : type === 'int64' || type === 'uint64'
          ? (v: unknown) => BigInt(v as number | bigint)
          : (v: unknown) => Number(v);
    const out = new Storage(data.length) as unknown as { [i: number]: unknown } & ArrayBufferView;
    for (let i = 0; i < data.length; i++) out[i] = convert(data[i]);
    typed = out;
  }
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

function tensorProto(t: TensorSpec) {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) {
    throw new Error(`tensor ${t.name ?? ''} has ${t.data.length} values for dims [${t.dims.join(', ')}]`);
  }
  const base = { name: t.name ?? '', dims: [...t.dims], dataType: DATA_TYPE[t.type] };
  if (t.type === 'string') {
    return { ...base, stringData: Array.from(t.data as readonly string[], (s) => utf8.encode(String(s))) };
  }
  return { ...base, rawData: littleEndianBytes(t.type, t.data) };
}

function attributeProto(name: string, a: Attribute) {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'string':
      return { name, type: T.STRING, s: utf8.encode(a.value) };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'strings':
      return { name, type: T.STRINGS, strings: a.value.map((s) => utf8.encode(s)) };
    case 'tensor':
      return { name, type: T.TENSOR, t: tensorProto(a.value) };
  }
}

/** Serializes a model described by `spec` (ai.onnx opset 17, IR version 8 unless told otherwise). */
export function buildModel(spec: ModelSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'meshserve-scripts',
    opsetImport: [{ domain: '', version: spec.opset ?? OPSET_VERSION }],
    ...(spec.docString ? { docString: spec.docString } : {}),
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: spec.graphName ?? 'graph',
      input: spec.inputs.map(valueInfoProto),
      output: spec.outputs.map(valueInfoProto),
      initializer: (spec.initializers ?? []).map(tensorProto),
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `${n.opType.toLowerCase()}_${i}`,
        opType: n.opType,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attributes ?? {}).map(([k, a]) => attributeProto(k, a)),
      })),
    },
  });
  // protobufjs hands back a Node Buffer, possibly a view of a shared pool: return an owned Uint8Array.
  return new Uint8Array(onnx.ModelProto.encode(model).finish());
}

/** Incremental form of buildModel, for graphs assembled step by step. */
export class ModelBuilder {
  readonly #inputs: ValueSpec[] = [];
  readonly #outputs: ValueSpec[] = [];
  readonly #nodes: NodeSpec[] = [];
  readonly #initializers: (TensorSpec & { name: string })[] = [];

  constructor(private readonly options: Pick<ModelSpec, 'graphName' | 'docString' | 'opset' | 'metadata'> = {}) {}

  input(name: string, type: ElemType, dims: readonly Dim[]): this {
    this.#inputs.push({ name, type, dims });
    return this;
  }

  output(name: string, type: ElemType, dims: readonly Dim[]): this {
    this.#outputs.push({ name, type, dims });
    return this;
  }

  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attributes?: Record<string, Attribute>,
  ): this {
    this.#nodes.push({ opType, inputs, outputs, ...(attributes ? { attributes } : {}) });
    return this;
  }

  initializer(name: string, type: ElemType, dims: readonly number[], data: TensorData): this {
    this.#initializers.push({ name, type, dims, data });
    return this;
  }

  build(): Uint8Array {
    return buildModel({
      ...this.options,
      inputs: this.#inputs,
      outputs: this.#outputs,
      nodes: this.#nodes,
      initializers: this.#initializers,
    });
  }
}

/** Parses serialized bytes back into a plain object (handy in tests and for inspecting files). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  return onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { longs: Number, bytes: Array, defaults: false });
}
