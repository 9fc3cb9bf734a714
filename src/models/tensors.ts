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

type ArrayCtor = { new (length: number): NumericArray; new (buffer: ArrayBuffer, offset: number, length: number): NumericArray; BYTES_PER_ELEMENT: number };

const ARRAY_BY_ELEMENT: Record<Exclude<ElementType, 'string'>, ArrayCtor> = {
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

const INTEGER_RANGE: Partial<Record<ElementType, [number, number]>> = {
  uint8: [0, 0xff],
  uint16: [0, 0xffff],
  uint32: [0, 0xffffffff],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  int8: [-0x80, 0x7f],
  int16: [-0x8000, 0x7fff],
  int32: [-0x80000000, 0x7fffffff],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
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

/** Flattens nested JSON arrays row-major; depth is bounded so hostile nesting is rejected. */
export function flatten(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) return [value];
  // Already flat (the usual V2 "data"): no copy.
  let nested = false;
  for (let i = 0; i < value.length && !nested; i++) nested = Array.isArray(value[i]);
  if (!nested) return value;
  const out: unknown[] = [];
  const walk = (v: unknown[], depth: number) => {
    if (depth > MAX_DEPTH) throw invalid(`${field} is nested deeper than ${MAX_DEPTH} levels`);
    for (const item of v) {
      if (Array.isArray(item)) walk(item, depth + 1);
      else out.push(item);
    }
  };
  walk(value, 1);
  return out;
}

/** Shape of a nested JSON array, checking it is rectangular. */
export function nestedShape(value: unknown, field: string): number[] {
  const dims: number[] = [];
  let probe = value;
  while (Array.isArray(probe)) {
    dims.push(probe.length);
    if (dims.length > MAX_DEPTH) throw invalid(`${field} is nested deeper than ${MAX_DEPTH} levels`);
    probe = probe[0];
  }
  const check = (v: unknown, depth: number, path: string) => {
    if (depth === dims.length) {
      if (Array.isArray(v)) throw invalid(`${field}${path} is nested deeper than its siblings (ragged array)`);
      return;
    }
    if (!Array.isArray(v) || v.length !== dims[depth]) {
      throw invalid(`${field}${path} must be an array of ${dims[depth]} items like its siblings (ragged array), got ${describe(v)}`);
    }
    v.forEach((item, i) => check(item, depth + 1, `${path}[${i}]`));
  };
  check(value, 0, '');
  return dims;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  // Never serialise client objects here: a deeply nested one would overflow the stack.
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/** Fills a buffer of the element type from JSON values, naming the first value that does not fit. */
export function fromJsonValues(type: ElementType, values: readonly unknown[], field: string): TensorBuffer {
  const out = allocate(type, values.length);
  const bad = (i: number, expected: string) => invalid(`${field}[${i}] must be ${expected}, got ${describe(values[i])}`);
  if (type === 'string') {
    values.forEach((v, i) => {
      if (typeof v !== 'string') throw bad(i, 'a string (BYTES)');
      (out as string[])[i] = v;
    });
    return out;
  }
  if (type === 'bool') {
    values.forEach((v, i) => {
      if (typeof v !== 'boolean') throw bad(i, 'true or false (BOOL)');
      (out as Uint8Array)[i] = v ? 1 : 0;
    });
    return out;
  }
  const range = INTEGER_RANGE[type];
  if (range) {
    const [lo, hi] = range;
    const big = type === 'int64' || type === 'uint64';
    values.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw bad(i, `an integer from ${lo} to ${hi} (${V2_BY_ELEMENT[type]})`);
      if (big) (out as BigInt64Array)[i] = BigInt(v);
      else (out as Int32Array)[i] = v;
    });
    return out;
  }
  const half = type === 'float16';
  values.forEach((v, i) => {
    if (typeof v !== 'number') throw bad(i, `a number (${V2_BY_ELEMENT[type]})`);
    if (half) (out as Uint16Array)[i] = toHalf(v);
    else (out as Float32Array)[i] = v;
  });
  return out;
}

/** JSON values of a buffer: 64-bit integers become numbers, FP16 bits become numbers, bool becomes booleans. */
export function toJsonValues(tensor: TensorData): (number | string | boolean)[] {
  const { type, data } = tensor;
  if (type === 'string') return data as string[];
  if (type === 'bool') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (type === 'int64' || type === 'uint64') return Array.from(data as BigInt64Array, (v) => Number(v));
  if (type === 'float16') return Array.from(data as Uint16Array, fromHalf);
  return Array.from(data as Float32Array);
}

const JOINABLE = new Set<ElementType>(['uint8', 'uint16', 'uint32', 'int8', 'int16', 'int32', 'float32', 'float64']);

/**
 * The JSON array text of a tensor's flat data, the same text JSON.stringify(toJsonValues(t)) gives.
 * Typed-array join() prints numbers with the same shortest round-trip digits about 4x faster, which
 * matters for large float outputs; it is used unless a NaN or infinity needs JSON's null.
 */
export function toJsonArrayText(tensor: TensorData): string {
  if (JOINABLE.has(tensor.type)) {
    const data = tensor.data as Float32Array;
    let finite = true;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) {
        finite = false;
        break;
      }
    }
    if (finite) return `[${data.join(',')}]`;
  }
  return JSON.stringify(toJsonValues(tensor));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float -> IEEE 754 half bits, round to nearest even. */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ---- Triton binary tensor data extension ----

/** Raw little-endian bytes of a tensor; BYTES elements are each a 4-byte little-endian length then the UTF-8 bytes. */
export function toBinary(tensor: TensorData): Buffer {
  if (tensor.type === 'string') {
    const parts = (tensor.data as string[]).map((s) => Buffer.from(s, 'utf8'));
    const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.writeUInt32LE(p.length, offset);
      p.copy(out, offset + 4);
      offset += 4 + p.length;
    }
    return out;
  }
  const data = tensor.data as NumericArray;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Decodes raw bytes into a tensor buffer, checking the size against the shape. Copies, so the result owns its memory. */
export function fromBinary(type: ElementType, count: number, bytes: Uint8Array, field: string): TensorBuffer {
  if (type === 'string') {
    const out: string[] = [];
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    while (offset < view.length) {
      if (offset + 4 > view.length) throw invalid(`${field}: BYTES element ${out.length} has a truncated 4-byte length prefix`);
      const length = view.readUInt32LE(offset);
      if (offset + 4 + length > view.length) throw invalid(`${field}: BYTES element ${out.length} declares ${length} bytes but only ${view.length - offset - 4} remain`);
      out.push(view.toString('utf8', offset + 4, offset + 4 + length));
      offset += 4 + length;
      if (out.length > count) break;
    }
    if (out.length !== count) throw invalid(`${field}: shape needs ${count} BYTES elements, binary data holds ${out.length}`);
    return out;
  }
  const ctor = ARRAY_BY_ELEMENT[type];
  const expected = count * ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength !== expected) {
    throw invalid(`${field}: shape needs ${expected} bytes of ${V2_BY_ELEMENT[type]} (${count} elements), binary_data_size is ${bytes.byteLength}`);
  }
  const copy = new ArrayBuffer(expected);
  new Uint8Array(copy).set(bytes);
  const out = new ctor(copy, 0, count);
  if (type === 'bool') {
    for (let i = 0; i < count; i++) if (out[i]! > 1) throw invalid(`${field}[${i}]: BOOL bytes must be 0 or 1, got ${out[i]}`);
  }
  return out;
}

/** The buffers behind tensors, once each, to transfer (not copy) them to another thread. */
export function transferList(tensors: Record<string, TensorData>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of Object.values(tensors)) if (!Array.isArray(t.data)) buffers.add((t.data as NumericArray).buffer as ArrayBuffer);
  return [...buffers];
}

// ---- batching helpers ----

/** Concatenates same-typed tensors along the first dimension. */
export function concat(parts: readonly TensorData[]): TensorData {
  const first = parts[0]!;
  if (parts.length === 1) return first;
  const rows = parts.reduce((n, p) => n + p.dims[0]!, 0);
  const dims = [rows, ...first.dims.slice(1)];
  if (first.type === 'string') return { type: 'string', dims, data: parts.flatMap((p) => p.data as string[]) };
  const total = parts.reduce((n, p) => n + p.data.length, 0);
  const out = allocate(first.type, total) as NumericArray;
  let offset = 0;
  for (const p of parts) {
    (out as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return { type: first.type, dims, data: out };
}

/** Rows [start, start + count) of a tensor, as a copy. */
export function sliceRows(tensor: TensorData, start: number, count: number): TensorData {
  if (start === 0 && count === tensor.dims[0]) return tensor;
  const rowSize = tensor.dims.slice(1).reduce((a, b) => a * b, 1);
  const dims = [count, ...tensor.dims.slice(1)];
  const data = tensor.data.slice(start * rowSize, (start + count) * rowSize) as TensorBuffer;
  return { type: tensor.type, dims, data };
}

/** Splits flat values into nested arrays following dims (row-major). */
export function nest<T>(values: readonly T[], dims: readonly number[]): unknown {
  if (dims.length === 0) return values[0];
  if (dims.length === 1) return values.slice(0, dims[0]);
  const [head, ...rest] = dims;
  const size = rest.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  for (let i = 0; i < head!; i++) out.push(nest(values.slice(i * size, (i + 1) * size), rest));
  return out;
}
