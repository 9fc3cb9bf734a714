// A real garbage collection for memory assertions. `global.gc` exists only under --expose-gc, and
// `global.gc?.()` silently does nothing without it; this turns the flag on for this process and takes the
// function from a fresh context, so a baseline is always measured after a collection.
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as unknown;
if (typeof gc !== 'function') throw new Error('cannot expose the garbage collector (v8.setFlagsFromString(--expose-gc) had no effect)');

/** Runs a full garbage collection now. */
export function collectGarbage(): void {
  (gc as () => void)();
}
