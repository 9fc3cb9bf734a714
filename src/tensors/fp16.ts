import { getFloat16, setFloat16 } from '@petamoriken/float16';

const view = new DataView(new ArrayBuffer(2));

/** A number -> IEEE 754 half-precision bits, rounded to nearest even straight from the float64 value. */
export function toHalf(value: number): number {
  setFloat16(view, 0, value);
  return view.getUint16(0);
}

/** IEEE 754 half-precision bits -> the number they hold. */
export function fromHalf(bits: number): number {
  view.setUint16(0, bits);
  return getFloat16(view, 0);
}
