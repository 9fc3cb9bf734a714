import { invalid } from '../errors.ts';
import { fromHalf, toHalf } from './fp16.ts';
import { allocate, MAX_DEPTH, V2_BY_ELEMENT, type ElementType, type TensorBuffer, type TensorData } from './types.ts';

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

/**
 * The JSON text of each row of a tensor (along its first dimension), each row nested like the tensor's
 * other dimensions: the same text JSON.stringify(nest(toJsonValues(t), dims)[i]) gives, printed straight
 * from the typed array without building nested arrays.
 */
export function rowJsonTexts(tensor: TensorData): string[] {
  const inner = tensor.dims.slice(1);
  const rowSize = inner.reduce((a, b) => a * b, 1);
  const rows = tensor.dims[0] ?? 1;
  const joinable = JOINABLE.has(tensor.type);
  const numbers = tensor.data as Float32Array;
  // Types that are not printed by join() (strings, bool, 64-bit integers, FP16) become JSON values once.
  const values = joinable ? undefined : toJsonValues(tensor);
  const flat = (offset: number, n: number): string => {
    if (values) return JSON.stringify(values.slice(offset, offset + n));
    const part = numbers.subarray(offset, offset + n);
    for (let i = 0; i < part.length; i++) if (!Number.isFinite(part[i]!)) return JSON.stringify(Array.from(part));
    return `[${part.join(',')}]`;
  };
  const nested = (offset: number, dims: readonly number[]): string => {
    if (dims.length === 0) return JSON.stringify(values ? values[offset] : numbers[offset]);
    if (dims.length === 1) return flat(offset, dims[0]!);
    const size = dims.slice(1).reduce((a, b) => a * b, 1);
    const parts: string[] = [];
    for (let i = 0; i < dims[0]!; i++) parts.push(nested(offset + i * size, dims.slice(1)));
    return `[${parts.join(',')}]`;
  };
  const out: string[] = [];
  for (let r = 0; r < rows; r++) out.push(nested(r * rowSize, inner));
  return out;
}

/** Exact powers of ten as doubles: 10^0 .. 10^22. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
const MAX_EXACT = 2 ** 53;
/** Numbers parsed so far by parseNumberArray, reused across calls (grown on demand). */
let scratch = new Float64Array(4096);

export interface NumberArray {
  /** The numbers, row-major; valid until the next call. */
  values: Float64Array;
  count: number;
  dims: number[];
  /** Index just past the closing bracket. */
  end: number;
}

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * Parses the JSON text of a rectangular, non-empty nested array of numbers, e.g. `[[5.1,3.5],[1,2e-3]]`,
 * straight from UTF-8 bytes into doubles, with the shape nestedShape() would give. Each number gets the
 * value JSON.parse gives it (the correctly rounded double): digits up to 2^53 over a power of ten up to
 * 10^22 are one correctly rounded division; with `float32` (the values will be stored in a Float32Array)
 * longer digits are accepted when their float32 rounding is certain; anything else goes to Number().
 * Returns undefined for anything else (another value type, a ragged or empty array, bad JSON, nesting
 * deeper than MAX_DEPTH): the caller then takes the generic path, which gives the error.
 */
export function parseNumberArray(bytes: Uint8Array, start: number, float32 = false): NumberArray | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = start;
  const n = bytes.length;
  if (bytes[i] !== 0x5b) return undefined;
  // dims[d]: length of arrays at depth d, fixed by the first one that closes; counts[d]: items so far.
  const dims: number[] = [];
  const counts: number[] = [];
  let leaf = -1; // depth whose items are numbers, fixed by the first number
  let depth = 0;
  let count = 0;
  let values = scratch;
  for (;;) {
    // At the start of an item (or of an array's first item), after '[' or ','.
    while (i < n && isSpace(bytes[i]!)) i++;
    let c = bytes[i];
    if (c === 0x5b) {
      // An array opens at depth + 1 (depth 0 is `instances` itself).
      if (leaf !== -1 && depth >= leaf) return undefined;
      if (depth >= MAX_DEPTH) return undefined;
      if (depth > 0) counts[depth - 1]!++;
      counts[depth] = 0;
      depth++;
      i++;
      continue;
    }
    if (depth === 0) return undefined;
    // A number at depth - 1.
    if (leaf === -1) leaf = depth;
    else if (leaf !== depth) return undefined;
    const tokenStart = i;
    let negative = false;
    if (c === 0x2d) {
      negative = true;
      c = bytes[++i];
    }
    let mantissa = 0;
    let digits = 0;
    let scale = 0;
    let plain = true; // no exponent part
    if (c === 0x30) {
      c = bytes[++i];
    } else if (c !== undefined && c >= 0x31 && c <= 0x39) {
      while (c !== undefined && c >= 0x30 && c <= 0x39) {
        mantissa = mantissa * 10 + (c - 0x30);
        digits++;
        c = bytes[++i];
      }
    } else return undefined;
    if (c === 0x2e) {
      c = bytes[++i];
      if (c === undefined || c < 0x30 || c > 0x39) return undefined;
      while (c !== undefined && c >= 0x30 && c <= 0x39) {
        mantissa = mantissa * 10 + (c - 0x30);
        if (mantissa !== 0) digits++;
        scale--;
        c = bytes[++i];
      }
    }
    if (c === 0x65 || c === 0x45) {
      c = bytes[++i];
      if (c === 0x2b || c === 0x2d) c = bytes[++i];
      if (c === undefined || c < 0x30 || c > 0x39) return undefined;
      while (c !== undefined && c >= 0x30 && c <= 0x39) c = bytes[++i];
      plain = false; // exponents are rare in practice: Number() reads them
    }
    let value = NaN;
    if (plain && scale >= -22) {
      if (mantissa <= MAX_EXACT) {
        // Exact digits over an exact power of ten: one correctly rounded division (Clinger's fast path).
        value = scale === 0 ? mantissa : mantissa / POW10[-scale]!;
      } else if (float32 && digits <= 19) {
        // Longer digits (a float32 printed as a double has up to 17) are accumulated with a relative error
        // far below 2^-48. Stored into a Float32Array, the value rounds to float32; when everything within
        // that error rounds to the same float32, so does the correctly rounded double JSON.parse gives.
        const approx = mantissa / POW10[-scale]!;
        if (Math.fround(approx * (1 - 2 ** -48)) === Math.fround(approx * (1 + 2 ** -48))) value = approx;
      }
      if (negative) value = -value;
    }
    if (Number.isNaN(value)) value = Number(text.toString('latin1', tokenStart, i));
    if (count === values.length) {
      const grown = new Float64Array(values.length * 2);
      grown.set(values);
      values = scratch = grown;
    }
    values[count++] = value;
    counts[depth - 1]!++;
    // After an item: ',' or one or more ']'.
    for (;;) {
      while (i < n && isSpace(bytes[i]!)) i++;
      c = bytes[i++];
      if (c === 0x2c) break;
      if (c !== 0x5d) return undefined;
      depth--;
      const length = counts[depth]!;
      if (length === 0) return undefined; // an item was expected: `[1,]` is not JSON; `[]` is left to the generic path
      if (dims[depth] === undefined) dims[depth] = length;
      else if (dims[depth] !== length) return undefined;
      if (depth === 0) {
        if (dims.length !== leaf) return undefined;
        return { values, count, dims, end: i };
      }
    }
  }
}
