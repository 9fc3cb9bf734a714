import { readFileSync } from 'node:fs';
import os from 'node:os';

// This machine is shared: other processes may use CPU while a scenario runs. Each run records how much
// CPU went to processes other than the bench and its children, so a disturbed number can be recognised.

const TICKS_PER_SEC = 100; // USER_HZ on Linux

/** Busy CPU ticks of the whole machine (all cores). */
function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return user! + nice! + system! + irq! + softirq! + steal!;
}

/** User + system ticks of one process (all its threads); 0 once it is gone. */
function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

export interface CpuWindow {
  /** CPU used by the bench and its children, in cores (1.0 = one core busy the whole time). */
  ours: number;
  /** Of `ours`, the CPU used by the service under test (all its threads), in cores. */
  service: number;
  /** CPU used by everything else on the machine, in cores. */
  others: number;
  cores: number;
}

/** Starts measuring; call the returned function at the end of the window. */
export function cpuWindow(pids: () => number[], servicePid?: number): () => CpuWindow {
  const t0 = performance.now();
  const ids = pids();
  const machine0 = machineBusyTicks();
  const ours0 = ids.map(processTicks);
  const service0 = servicePid === undefined ? 0 : processTicks(servicePid);
  return () => {
    const sec = (performance.now() - t0) / 1000;
    const machine = machineBusyTicks() - machine0;
    // A process that exited meanwhile reads 0: count nothing for it rather than a negative amount.
    const ours = ids.reduce((a, pid, i) => a + Math.max(0, processTicks(pid) - ours0[i]!), 0);
    const service = servicePid === undefined ? 0 : Math.max(0, processTicks(servicePid) - service0);
    return {
      ours: ours / TICKS_PER_SEC / sec,
      service: service / TICKS_PER_SEC / sec,
      others: Math.max(0, machine - ours) / TICKS_PER_SEC / sec,
      cores: os.availableParallelism(),
    };
  };
}
