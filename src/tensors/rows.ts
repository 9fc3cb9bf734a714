import { allocate, type NumericArray, type TensorBuffer, type TensorData } from './types.ts';

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
