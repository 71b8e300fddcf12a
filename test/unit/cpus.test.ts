import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { describe, test } from 'node:test';
import { availableWorkerCount, cgroupCpuQuota } from '../../src/cpus.js';

describe('availableWorkerCount', () => {
  test('is a whole number of at least one', () => {
    const n = availableWorkerCount();
    assert.ok(Number.isInteger(n), `${n} is an integer`);
    assert.ok(n >= 1);
  });

  test('is never more than the CPUs this process may run on', () => {
    assert.ok(availableWorkerCount() <= availableParallelism());
  });

  test('follows the cgroup quota when there is one, rounded up', () => {
    const quota = cgroupCpuQuota();
    const expected =
      quota === null ? availableParallelism() : Math.min(availableParallelism(), Math.ceil(quota));
    assert.equal(availableWorkerCount(), Math.max(1, expected));
  });
});

describe('cgroupCpuQuota', () => {
  test('is null (no limit) or a positive, finite number of CPUs', () => {
    const quota = cgroupCpuQuota();
    if (quota !== null) {
      assert.equal(typeof quota, 'number');
      assert.ok(Number.isFinite(quota) && quota > 0, `${quota} is a positive number`);
    }
  });

  test('gives the same answer when asked twice', () => {
    assert.equal(cgroupCpuQuota(), cgroupCpuQuota());
  });
});

/**
 * The files as the kernel writes them, copied into a directory that stands for `/`: /proc/self/cgroup,
 * /proc/self/mountinfo and the cgroup files under the mount points mountinfo names.
 */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(`${tmpdir()}/unicorn-cgroup-`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(`${root}/${name}`), { recursive: true });
    writeFileSync(`${root}/${name}`, text);
  }
  return root;
}

/** cgroup v2 alone (Debian 12, Ubuntu 22.04 and later, most Kubernetes nodes), from a real host. */
const V2_MOUNTINFO =
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n' +
  '30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';

/** A hybrid host (cgroup v1 controllers, an empty v2 tree), as on the machine these tests were written on. */
const HYBRID_CGROUP =
  '9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/ci/job-7\n0::/\n';
const HYBRID_MOUNTINFO =
  '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n' +
  '31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n' +
  '32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n' +
  '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n' +
  '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n';

describe('cgroup CPU quotas', () => {
  test('v2 in a container with its own cgroup namespace: cpu.max at the top of the mount', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '0::/\n',
      'proc/self/mountinfo': V2_MOUNTINFO,
      'sys/fs/cgroup/cpu.max': '150000 100000\n',
    });
    assert.equal(cgroupCpuQuota(root), 1.5);
    assert.equal(availableWorkerCount(root), Math.min(2, availableParallelism()));
  });

  test('v2 under systemd: the service’s own cgroup (CPUQuota=50%), not the top of the mount', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '0::/system.slice/myapp.service\n',
      'proc/self/mountinfo': V2_MOUNTINFO,
      'sys/fs/cgroup/system.slice/myapp.service/cpu.max': '50000 100000\n',
      'sys/fs/cgroup/system.slice/cpu.max': 'max 100000\n',
    });
    assert.equal(cgroupCpuQuota(root), 0.5);
    assert.equal(availableWorkerCount(root), 1);
  });

  test('v2: a limit on a parent (a slice, a pod) applies to the cgroups below it; the smallest wins', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '0::/kubepods.slice/pod1.slice/cri-abc.scope\n',
      'proc/self/mountinfo': V2_MOUNTINFO,
      'sys/fs/cgroup/kubepods.slice/pod1.slice/cri-abc.scope/cpu.max': 'max 100000\n',
      'sys/fs/cgroup/kubepods.slice/pod1.slice/cpu.max': '300000 100000\n',
      'sys/fs/cgroup/kubepods.slice/cpu.max': '800000 100000\n',
    });
    assert.equal(cgroupCpuQuota(root), 3);
  });

  test('v2: "max" everywhere means no quota', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '0::/user.slice\n',
      'proc/self/mountinfo': V2_MOUNTINFO,
      'sys/fs/cgroup/user.slice/cpu.max': 'max 100000\n',
    });
    assert.equal(cgroupCpuQuota(root), null);
  });

  test('v1 on a hybrid host: the cpu hierarchy’s cfs quota of the process’s cgroup', () => {
    const root = fakeRoot({
      'proc/self/cgroup': HYBRID_CGROUP,
      'proc/self/mountinfo': HYBRID_MOUNTINFO,
      'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
      'sys/fs/cgroup/cpu/ci/job-7/cpu.cfs_quota_us': '50000\n',
      'sys/fs/cgroup/cpu/ci/job-7/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuQuota(root), 0.5);
    assert.equal(availableWorkerCount(root), 1);
  });

  test('v1 in Docker without a cgroup namespace: the container’s cgroup is the mount’s root', () => {
    const root = fakeRoot({
      'proc/self/cgroup':
        '12:cpu,cpuacct:/docker/4f1c\n11:memory:/docker/4f1c\n0::/system.slice/docker-4f1c.scope\n',
      'proc/self/mountinfo':
        '512 511 0:52 /docker/4f1c /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:24 - cgroup cgroup rw,cpu,cpuacct\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '200000\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuQuota(root), 2);
  });

  test('no cgroup files (not Linux): no quota, all available CPUs', () => {
    const root = fakeRoot({});
    assert.equal(cgroupCpuQuota(root), null);
    assert.equal(availableWorkerCount(root), availableParallelism());
  });
});
