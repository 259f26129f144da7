/**
 * `--concurrency`: how many worker processes serve traffic. The default follows Istio, which sets a
 * gateway's Envoy `--concurrency` from its CPU limit rounded up: here the CPUs this process may run
 * on (`os.availableParallelism()`, which honours the affinity mask, e.g. `taskset`), capped by the
 * cgroup CPU quota (a Kubernetes CPU limit) when one is set.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Where the cgroup CPU quota is read (tests point these at fixture files). */
export interface CgroupPaths {
  /** cgroup v2: `<quota|max> <period>`, µs. */
  readonly v2CpuMax: string;
  /** cgroup v1: `cpu.cfs_quota_us` (-1 = none). */
  readonly v1Quota: string;
  /** cgroup v1: `cpu.cfs_period_us`. */
  readonly v1Period: string;
}

const CGROUP_PATHS: CgroupPaths = {
  v2CpuMax: '/sys/fs/cgroup/cpu.max',
  v1Quota: '/sys/fs/cgroup/cpu/cpu.cfs_quota_us',
  v1Period: '/sys/fs/cgroup/cpu/cpu.cfs_period_us',
};

/**
 * The cgroup CPU limit in CPUs (quota ÷ period, fractional), or undefined when there is none or it
 * cannot be read. cgroup v2 first, then v1.
 */
export function cgroupCpuLimit(paths: CgroupPaths = CGROUP_PATHS): number | undefined {
  const v2 = readText(paths.v2CpuMax);
  if (v2 !== undefined) {
    const [quota, period] = v2.trim().split(/\s+/);
    return ratio(quota, period);
  }
  return ratio(readText(paths.v1Quota)?.trim(), readText(paths.v1Period)?.trim());
}

/** The default `--concurrency`: available CPUs, capped by the cgroup limit rounded up; at least 1. */
export function defaultConcurrency(paths: CgroupPaths = CGROUP_PATHS): number {
  const cpus = availableParallelism();
  const limit = cgroupCpuLimit(paths);
  return Math.max(1, limit === undefined ? cpus : Math.min(cpus, Math.ceil(limit)));
}

/**
 * Parses `--concurrency N` (1-1024); undefined gives {@link defaultConcurrency}. Envoy treats 0 as
 * "one per CPU"; so does this.
 * @throws Error naming the bad value.
 */
export function parseConcurrency(text: string | undefined, paths: CgroupPaths = CGROUP_PATHS): number {
  if (text === undefined) return defaultConcurrency(paths);
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 1024) throw new Error(`--concurrency: "${text}" must be a number 0-1024`);
  return n === 0 ? defaultConcurrency(paths) : n;
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  if (quota === undefined || period === undefined || quota === 'max' || quota === '-1') return undefined;
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
