// The process's memory limit: MEMORY_LIMIT, or the cgroup's limit, and Kubernetes quantities.
import { readFileSync } from 'node:fs';

const SUFFIX: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** "1Gi", "512Mi", "1G", "1073741824" (a Kubernetes quantity) into bytes; undefined when it is not one. */
export function parseQuantity(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(text.trim());
  if (!match) return undefined;
  const bytes = Math.floor(Number(match[1]) * SUFFIX[match[2] ?? '']!);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

// A cgroup without a limit reports "max" (v2) or a number near 2^63 (v1).
const UNLIMITED = 2 ** 60;

/** The cgroup's memory limit in bytes (v2 memory.max, then v1 memory.limit_in_bytes), or undefined when none is set. */
export function cgroupMemoryLimit(read: (file: string) => string = (file) => readFileSync(file, 'utf8')): number | undefined {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    let text: string;
    try {
      text = read(file).trim();
    } catch {
      continue;
    }
    if (text === 'max') return undefined;
    const bytes = Number(text);
    if (Number.isSafeInteger(bytes) && bytes > 0 && bytes < UNLIMITED) return bytes;
    return undefined;
  }
  return undefined;
}
