import type { NumericArray, Tensors } from './types.ts';

/** The buffers behind tensors, once each, to transfer (not copy) them to another thread. */
export function transferList(tensors: Tensors): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of Object.values(tensors)) if (!Array.isArray(t.data)) buffers.add((t.data as NumericArray).buffer as ArrayBuffer);
  return [...buffers];
}
