// INFERENCE_WORKERS' default: the CPUs the process may use, the cgroup's CPU quota included, at least 1.
import assert from 'node:assert/strict';
import { cgroupCpuLimit, usableCpus } from '../src/cpus.ts';
import { test } from './helpers/node-test.ts';

const files = (contents: Record<string, string>) => (file: string) => {
  if (!(file in contents)) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
  return contents[file]!;
};

test('the cgroup v2 quota (cpu.max) in CPUs; "max" is no quota', () => {
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '100000 100000\n' })), 1);
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '150000 100000\n' })), 1.5);
  assert.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), undefined);
});

test('the cgroup v1 quota (cfs quota / period); -1 is no quota; no cgroup files, no quota', () => {
  const v1 = (quota: string) => files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': quota, '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' });
  assert.equal(cgroupCpuLimit(v1('200000')), 2);
  assert.equal(cgroupCpuLimit(v1('-1')), undefined);
  assert.equal(cgroupCpuLimit(files({})), undefined);
});

test('usable CPUs: the fewer of the machine (affinity) and the quota rounded up, at least 1', () => {
  assert.equal(usableCpus(8, 1), 1);
  assert.equal(usableCpus(8, 1.5), 2);
  assert.equal(usableCpus(2, 4), 2);
  assert.equal(usableCpus(4, undefined), 4);
  assert.equal(usableCpus(1, 0.25), 1);
});
