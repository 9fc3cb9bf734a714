import type { NumericArray, TensorData, Tensors } from './types.ts';

/** The buffers behind tensors, once each, to transfer (not copy) them to another thread. */
export function transferList(tensors: Tensors): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of Object.values(tensors)) if (!Array.isArray(t.data)) buffers.add((t.data as NumericArray).buffer as ArrayBuffer);
  return [...buffers];
}

/** A copy with buffers of its own, for tensors sent more than once (sending transfers their buffers). */
export function cloneTensors(tensors: Tensors): Tensors {
  const copy: Tensors = {};
  for (const [name, t] of Object.entries(tensors)) copy[name] = { type: t.type, dims: [...t.dims], data: t.data.slice() as TensorData['data'] };
  return copy;
}
