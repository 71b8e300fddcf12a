/**
 * `-w auto` under a real CPU limit: the test creates a cgroup with a quota of one CPU, starts the CLI
 * inside it, and reads the worker count the master resolved. The cgroup is a child of the top of the
 * hierarchy that holds the `cpu` controller (v1 or v2, whichever this machine has), so the limit sits
 * below the mount point, where systemd's CPUQuota= and a v1 Kubernetes pod put theirs.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { after, describe, test } from 'node:test';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** Where the `cpu` controller of this process's cgroups is mounted, and which version it is. */
function cpuHierarchy(): { version: 1 | 2; mountPoint: string } {
  const membership = readFileSync('/proc/self/cgroup', 'utf8');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const v1 = membership.split('\n').some((l) => l.split(':')[1]?.split(',').includes('cpu'));
  for (const line of mounts) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 0) continue;
    const [fsType, , options] = fields.slice(dash + 1);
    if (v1 && fsType === 'cgroup' && options?.split(',').includes('cpu'))
      return { version: 1, mountPoint: fields[4]! };
    if (!v1 && fsType === 'cgroup2') return { version: 2, mountPoint: fields[4]! };
  }
  throw new Error('no cgroup hierarchy with the cpu controller is mounted here');
}

/** A new cgroup allowed `cpus` CPUs; throws, saying why, where cgroups cannot be created. */
function makeCgroup(cpus: number): string {
  const { version, mountPoint } = cpuHierarchy();
  const dir = `${mountPoint}/unicorn-ts-test-${process.pid}`;
  try {
    mkdirSync(dir);
    if (version === 1) {
      writeFileSync(`${dir}/cpu.cfs_period_us`, '100000');
      writeFileSync(`${dir}/cpu.cfs_quota_us`, String(cpus * 100000));
    } else {
      writeFileSync(`${mountPoint}/cgroup.subtree_control`, '+cpu');
      writeFileSync(`${dir}/cpu.max`, `${cpus * 100000} 100000`);
    }
  } catch (err) {
    throw new Error(
      `cannot create a cgroup v${version} with a CPU quota at ${dir} (needs root and a writable ${mountPoint}): ${err}`,
    );
  }
  return dir;
}

const cgroups: string[] = [];
after(async () => {
  await stopAll();
  for (const dir of cgroups) {
    if (!existsSync(dir)) continue;
    // A cgroup can be removed once its last process has gone, which a killed group takes a moment to.
    await waitFor(`${dir} to empty`, () => readFileSync(`${dir}/cgroup.procs`, 'utf8').trim() === '', {
      timeoutMs: 15_000,
    });
    rmdirSync(dir);
  }
});

describe('-w auto under a CPU limit', () => {
  test('a cgroup quota of one CPU below the top of the hierarchy gives one worker', async () => {
    assert.ok(availableParallelism() >= 2, 'this machine has one CPU: a one-CPU quota would change nothing');
    const cgroup = makeCgroup(1);
    cgroups.push(cgroup);
    // The shell moves itself into the cgroup, then becomes the CLI: the master starts inside it.
    const server = await startServer([fixture('pid.mjs'), '-w', 'auto'], {
      command: ['sh', '-c', `echo $$ > ${cgroup}/cgroup.procs && exec "$0" "$@"`, process.execPath],
    });
    assert.equal(
      readFileSync(`/proc/${server.pid}/cgroup`, 'utf8').includes(cgroup.split('/').at(-1)!),
      true,
    );
    assert.equal(server.events('master.starting')[0]?.workers, 1);
    assert.equal(server.liveWorkerPids().length, 1);
  });
});
