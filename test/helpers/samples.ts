import type { ElementType } from '../../src/tensors/types.ts';

/** Three values of every element type (FP16 aside), edge values included, for round trips through the API. */
export const SAMPLE_VALUES: Record<Exclude<ElementType, 'float16'>, unknown[]> = {
  bool: [true, false, true],
  uint8: [0, 7, 255],
  uint16: [0, 7, 65535],
  uint32: [0, 7, 4294967295],
  uint64: [0, 7, 2 ** 52],
  int8: [-128, 7, 127],
  int16: [-32768, 7, 32767],
  int32: [-2147483648, 7, 2147483647],
  int64: [-(2 ** 52), 7, 2 ** 52],
  float32: [-1.5, 0, 3.25],
  float64: [-1e300, 0, Math.PI],
  string: ['', 'iris', 'ünïcödé ✓'],
};
