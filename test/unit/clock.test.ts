import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { monotonicNow } from '../../src/clock.js';

test('monotonicNow() is one clock across processes: a child reads what the parent reads', () => {
  const before = monotonicNow();
  const child = Number(
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "import('./src/clock.ts').then((c) => process.stdout.write(String(c.monotonicNow())))",
      ],
      { encoding: 'utf8' },
    ),
  );
  const after = monotonicNow();
  // performance.now() alone would read a few hundred ms here (the child's own age), not the parent's.
  assert.ok(child >= before - 1 && child <= after + 1, `child ${child}, parent ${before}..${after}`);
});

test('monotonicNow() is whole milliseconds, like Date.now()', () => {
  assert.ok(Number.isInteger(monotonicNow()));
});

test('monotonicNow() reads the system monotonic clock (libuv hrtime), not the process age', () => {
  const uptimeMs = Number(process.hrtime.bigint()) / 1e6;
  assert.ok(Math.abs(monotonicNow() - uptimeMs) < 50);
  assert.ok(monotonicNow() > performance.now());
});
