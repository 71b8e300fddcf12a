import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
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
