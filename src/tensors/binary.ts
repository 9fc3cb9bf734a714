// Triton's binary tensor data extension: raw little-endian element bytes.
import { invalid } from '../errors.ts';
import { ARRAY_BY_ELEMENT, V2_BY_ELEMENT, type ElementType, type NumericArray, type TensorBuffer, type TensorData } from './types.ts';

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

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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
      try {
        out.push(UTF8.decode(view.subarray(offset + 4, offset + 4 + length)));
      } catch {
        // onnxruntime-node's string tensors are JavaScript strings: bytes that are not UTF-8 would be replaced, not kept.
        throw invalid(`${field}: BYTES element ${out.length} is not valid UTF-8; meshserve passes BYTES to the model as text`);
      }
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
