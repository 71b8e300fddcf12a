import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * The CPUs this process may use: the affinity mask (os.availableParallelism) capped by a cgroup CPU
 * quota, so `-w auto` in a container limited to 2 CPUs on a 64-core host starts 2 workers, not 64.
 *
 * `fsRoot` prefixes every path read (/proc/self/..., the cgroup mounts): tests point it at a
 * directory holding copies of those files.
 */
export function availableWorkerCount(fsRoot = ''): number {
  const quota = cgroupCpuQuota(fsRoot);
  const cpus = availableParallelism();
  return Math.max(1, quota === null ? cpus : Math.min(cpus, Math.ceil(quota)));
}

/**
 * CPUs allowed by this process's cgroups, or null when unlimited: the smallest quota on the way from
 * the process's own cgroup up to the top of each hierarchy it can see, in cgroup v2 (`cpu.max`) and in
 * a v1 `cpu` hierarchy (`cpu.cfs_quota_us` / `cpu.cfs_period_us`).
 *
 * The cgroup is the one /proc/self/cgroup names, found under the mount /proc/self/mountinfo gives: in
 * a container with its own cgroup namespace it is the mount's top, but under systemd (`CPUQuota=`),
 * in a Kubernetes pod on cgroup v1, or a container sharing the host's namespace, it is a directory
 * further down, and a limit on a parent (a slice, the pod) applies as well.
 */
export function cgroupCpuQuota(fsRoot = ''): number | null {
  const membership = readText(`${fsRoot}/proc/self/cgroup`);
  const mountinfo = readText(`${fsRoot}/proc/self/mountinfo`);
  if (membership === null || mountinfo === null) return null;
  const mounts = parseMountinfo(mountinfo);
  let limit: number | null = null;
  for (const line of membership.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, controllers, path] = match as unknown as [string, string, string, string];
    const v2 = id === '0' && controllers === '';
    if (!v2 && !controllers.split(',').includes('cpu')) continue;
    const mount = mounts.find((m) =>
      v2 ? m.fsType === 'cgroup2' : m.fsType === 'cgroup' && m.superOptions.split(',').includes('cpu'),
    );
    if (mount === undefined) continue;
    for (const dir of cgroupDirs(fsRoot + mount.mountPoint, mount.root, path)) {
      const quota = v2 ? readCpuMax(dir) : readCfsQuota(dir);
      if (quota !== null && (limit === null || quota < limit)) limit = quota;
    }
  }
  return limit;
}

interface Mount {
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: string;
}

/** mountinfo(5): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`. */
function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 4) continue;
    mounts.push({
      root: unescapeMountField(fields[3]!),
      mountPoint: unescapeMountField(fields[4]!),
      fsType: fields[dash + 1]!,
      superOptions: fields[dash + 3]!,
    });
  }
  return mounts;
}

/** Spaces, tabs, newlines and backslashes in mountinfo paths are written as octal escapes (\040). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * The directories of the process's cgroup and its parents, up to the mount point. A path outside
 * the mount's root (another cgroup namespace) leaves only the mount point itself.
 */
function cgroupDirs(mountPoint: string, mountRoot: string, path: string): string[] {
  const root = mountRoot === '/' ? '' : mountRoot;
  const inside = path === root || path.startsWith(`${root}/`) ? path.slice(root.length) : '';
  const parts = inside.split('/').filter((part) => part !== '' && part !== '..');
  const dirs: string[] = [];
  for (let n = parts.length; n >= 0; n--) dirs.push([mountPoint, ...parts.slice(0, n)].join('/'));
  return dirs;
}

/** cgroup v2: `QUOTA PERIOD`, or `max PERIOD` for none. */
function readCpuMax(dir: string): number | null {
  const text = readText(`${dir}/cpu.max`);
  if (text === null) return null;
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max' || period === undefined) return null;
  return positiveRatio(Number(quota), Number(period));
}

/** cgroup v1: a quota of -1 is none. */
function readCfsQuota(dir: string): number | null {
  const quota = readText(`${dir}/cpu.cfs_quota_us`);
  const period = readText(`${dir}/cpu.cfs_period_us`);
  if (quota === null || period === null) return null;
  return positiveRatio(Number(quota), Number(period));
}

function positiveRatio(quota: number, period: number): number | null {
  const ratio = quota / period;
  return quota > 0 && period > 0 && Number.isFinite(ratio) ? ratio : null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
