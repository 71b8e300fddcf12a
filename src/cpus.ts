import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * The CPUs this process may use: the affinity mask (os.availableParallelism) capped by a cgroup CPU
 * quota, so `-w auto` in a container limited to 2 CPUs on a 64-core host starts 2 workers, not 64.
 */
export function availableWorkerCount(cgroupRoot = '/sys/fs/cgroup'): number {
  const quota = cgroupCpuQuota(cgroupRoot);
  const cpus = availableParallelism();
  return Math.max(1, quota === null ? cpus : Math.min(cpus, Math.ceil(quota)));
}

/** CPUs allowed by the cgroup (v2 `cpu.max`, else v1 `cpu.cfs_quota_us`), or null when unlimited. */
export function cgroupCpuQuota(root = '/sys/fs/cgroup'): number | null {
  const v2 = readText(`${root}/cpu.max`);
  if (v2 !== null) {
    const [quota, period] = v2.trim().split(/\s+/);
    if (quota === undefined || quota === 'max' || period === undefined) return null;
    const ratio = Number(quota) / Number(period);
    return Number.isFinite(ratio) && ratio > 0 ? ratio : null;
  }
  const quota = Number(readText(`${root}/cpu/cpu.cfs_quota_us`));
  const period = Number(readText(`${root}/cpu/cpu.cfs_period_us`));
  if (!(quota > 0) || !(period > 0)) return null;
  return quota / period;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
