import { invalid } from '../errors.ts';

/** onnxruntime element types meshserve serves, and their V2 (Open Inference Protocol) names. */
export const V2_BY_ELEMENT = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
} as const;

export type ElementType = keyof typeof V2_BY_ELEMENT;
export type V2Datatype = (typeof V2_BY_ELEMENT)[ElementType];

export const ELEMENT_BY_V2 = Object.fromEntries(Object.entries(V2_BY_ELEMENT).map(([k, v]) => [v, k])) as Record<V2Datatype, ElementType>;
export const V2_DATATYPES = Object.keys(ELEMENT_BY_V2) as V2Datatype[];

export type NumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;
export type TensorBuffer = NumericArray | string[];

/** A tensor as it crosses threads and codecs: element type, dims, row-major data. bool is stored as Uint8Array. */
export interface TensorData {
  type: ElementType;
  dims: number[];
  data: TensorBuffer;
}

/** Named tensors: a request's inputs or a model's outputs. */
export type Tensors = Record<string, TensorData>;

/** A model input or output as the model declares it. */
export interface TensorSpec {
  name: string;
  type: ElementType;
  /** -1 marks a dynamic dimension. */
  shape: number[];
}

type ArrayCtor = { new (length: number): NumericArray; new (buffer: ArrayBuffer, offset: number, length: number): NumericArray; BYTES_PER_ELEMENT: number };

export const ARRAY_BY_ELEMENT: Record<Exclude<ElementType, 'string'>, ArrayCtor> = {
  bool: Uint8Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array as unknown as ArrayCtor,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array as unknown as ArrayCtor,
  float16: Uint16Array, // raw IEEE 754 half-precision bits
  float32: Float32Array,
  float64: Float64Array,
};

/** Largest number of elements one tensor may declare; checked before anything is allocated. */
export const MAX_ELEMENTS = 1 << 28;
/** Deepest nesting accepted in JSON tensor data or instances. */
export const MAX_DEPTH = 32;

/** Product of dims, after checking each is a non-negative integer and the total stays bounded. */
export function elementCount(dims: readonly number[], field: string): number {
  let count = 1;
  for (const [i, d] of dims.entries()) {
    if (!Number.isSafeInteger(d) || d < 0) throw invalid(`${field}[${i}] must be a non-negative integer, got ${JSON.stringify(d)}`);
    count *= d;
    if (count > MAX_ELEMENTS) throw invalid(`${field} ${JSON.stringify(dims)} has more than ${MAX_ELEMENTS} elements`);
  }
  return count;
}

export function allocate(type: ElementType, length: number): TensorBuffer {
  return type === 'string' ? new Array<string>(length).fill('') : new ARRAY_BY_ELEMENT[type](length);
}
