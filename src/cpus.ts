// The CPUs the process may use: the machine's (or its affinity mask's), capped by the cgroup's CPU quota.
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';

/** The cgroup's CPU quota in CPUs (v2 cpu.max, then v1 cfs quota/period), or undefined when none is set. */
export function cgroupCpuLimit(read: (file: string) => string = (file) => readFileSync(file, 'utf8')): number | undefined {
  const quota = (text: string, period: string): number | undefined => {
    const q = Number(text);
    const p = Number(period);
    return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : undefined;
  };
  try {
    const [q, p] = read('/sys/fs/cgroup/cpu.max').trim().split(/\s+/);
    return q === 'max' ? undefined : quota(q ?? '', p ?? '100000');
  } catch {
    // not cgroup v2
  }
  try {
    return quota(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').trim(), read('/sys/fs/cgroup/cpu/cpu.cfs_period_us').trim());
  } catch {
    return undefined;
  }
}

/** Whole CPUs the process may use, at least 1: a quota of 1.5 CPUs gives 2 (the half still runs a thread). */
export function usableCpus(cpus = availableParallelism(), quota = cgroupCpuLimit()): number {
  return Math.max(1, Math.min(cpus, quota === undefined ? cpus : Math.ceil(quota)));
}
