// Worker threads (inference, codecs) run at a lower CPU priority than the main thread. On a pod with one CPU
// every thread of the process shares that core: at equal priority a busy inference or codec thread takes
// half or more of it, and /healthz waits its turn behind them. A thread with work on the main thread (a
// probe, an answer, an admission check) now runs first, and the workers use every cycle it leaves.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** Nice value of worker threads (0 is the main thread's; 19 the lowest priority). */
export const WORKER_NICE = 10;

/**
 * Lowers the calling thread's priority (Linux: setpriority on the thread's own id, which any process may
 * do for itself). Returns false where that is not possible; the thread then runs at normal priority.
 */
export function lowerThreadPriority(nice = WORKER_NICE): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
