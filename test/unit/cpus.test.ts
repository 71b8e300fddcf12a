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

describe('cgroup CPU quotas (containers)', () => {
  const fake = (files: Record<string, string>) => {
    const root = mkdtempSync(`${tmpdir()}/unicorn-cgroup-`);
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(`${root}/${name}`), { recursive: true });
      writeFileSync(`${root}/${name}`, text);
    }
    return root;
  };

  test('cgroup v2: a quota of 1.5 CPUs gives 2 workers (rounded up, capped by the CPUs available)', () => {
    const root = fake({ 'cpu.max': '150000 100000\n' });
    assert.equal(cgroupCpuQuota(root), 1.5);
    assert.equal(availableWorkerCount(root), Math.min(2, availableParallelism()));
  });

  test('cgroup v2: "max" means no quota', () => {
    assert.equal(cgroupCpuQuota(fake({ 'cpu.max': 'max 100000\n' })), null);
  });

  test('cgroup v1: cfs quota and period', () => {
    const root = fake({ 'cpu/cpu.cfs_quota_us': '50000\n', 'cpu/cpu.cfs_period_us': '100000\n' });
    assert.equal(cgroupCpuQuota(root), 0.5);
    assert.equal(availableWorkerCount(root), 1);
  });

  test('no cgroup files: no quota, all available CPUs', () => {
    const root = fake({});
    assert.equal(cgroupCpuQuota(root), null);
    assert.equal(availableWorkerCount(root), availableParallelism());
  });
});
