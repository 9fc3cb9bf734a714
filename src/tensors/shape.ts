import { invalid } from '../errors.ts';
import { V2_BY_ELEMENT, type TensorSpec } from './types.ts';

/** "[-1, 4]" with -1 shown as "n" for a person to read. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.map((d) => (d < 0 ? 'n' : String(d))).join(', ')}]`;
}

/** Checks a request's dims against the model's declared shape (-1 matches anything). */
export function checkShape(spec: TensorSpec, dims: readonly number[], field: string): void {
  const ok = dims.length === spec.shape.length && spec.shape.every((d, i) => d < 0 || d === dims[i]);
  if (!ok) throw invalid(`${field}: expected shape ${formatShape(spec.shape)} for input "${spec.name}" (${V2_BY_ELEMENT[spec.type]}), got ${formatShape(dims)}`);
}
