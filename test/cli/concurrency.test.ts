import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cgroupCpuLimit,
  defaultConcurrency,
  parseConcurrency,
  type CgroupPaths,
} from '../../cli/concurrency.js';

/** cgroup files in a temporary folder; an absent entry is a missing file. */
function cgroup(files: { cpuMax?: string; quota?: string; period?: string }): CgroupPaths {
  const dir = mkdtempSync(join(tmpdir(), 'mg-cgroup-'));
  const paths = {
    v2CpuMax: join(dir, 'cpu.max'),
    v1Quota: join(dir, 'quota'),
    v1Period: join(dir, 'period'),
  };
  if (files.cpuMax !== undefined) writeFileSync(paths.v2CpuMax, files.cpuMax);
  if (files.quota !== undefined) writeFileSync(paths.v1Quota, files.quota);
  if (files.period !== undefined) writeFileSync(paths.v1Period, files.period);
  return paths;
}

describe('--concurrency', () => {
  it('reads the cgroup v2 quota (cpu.max), none for "max"', () => {
    expect(cgroupCpuLimit(cgroup({ cpuMax: '150000 100000\n' }))).toBe(1.5);
    expect(cgroupCpuLimit(cgroup({ cpuMax: 'max 100000\n' }))).toBeUndefined();
  });

  it('reads the cgroup v1 quota, none for -1 or no files', () => {
    expect(cgroupCpuLimit(cgroup({ quota: '50000\n', period: '100000\n' }))).toBe(0.5);
    expect(cgroupCpuLimit(cgroup({ quota: '-1\n', period: '100000\n' }))).toBeUndefined();
    expect(cgroupCpuLimit(cgroup({}))).toBeUndefined();
  });

  it('defaults to the available CPUs, capped by the limit rounded up (at least 1)', () => {
    const cpus = availableParallelism();
    expect(defaultConcurrency(cgroup({}))).toBe(cpus);
    expect(defaultConcurrency(cgroup({ cpuMax: '50000 100000' }))).toBe(1);
    expect(defaultConcurrency(cgroup({ cpuMax: '150000 100000' }))).toBe(Math.min(cpus, 2));
    expect(defaultConcurrency(cgroup({ cpuMax: '6400000 100000' }))).toBe(cpus);
  });

  it('parses N; 0 means the default; rejects the rest', () => {
    const none = cgroup({});
    expect(parseConcurrency('1', none)).toBe(1);
    expect(parseConcurrency('4', none)).toBe(4);
    expect(parseConcurrency('0', none)).toBe(availableParallelism());
    expect(parseConcurrency(undefined, none)).toBe(availableParallelism());
    for (const bad of ['-1', 'two', '1.5', '', '5000'])
      expect(() => parseConcurrency(bad, none)).toThrow(/--concurrency/);
  });
});
