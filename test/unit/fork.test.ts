/**
 * forkWorker (src/master/fork.ts) on the real node:cluster of this process: a fork the system
 * refuses comes back as an error, in both of the ways node:child_process reports one, and leaves
 * no worker behind in cluster.workers. (The master's handling of it, on the real CLI, is in
 * test/integration/hardening-master.test.ts.)
 */
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { after, test } from 'node:test';
import { forkWorker } from '../../src/master/fork.js';

const settings = { ...cluster.settings };
after(() => cluster.setupPrimary(settings));

test('a spawn that fails later (a start directory that does not exist): an error, no worker kept', async () => {
  cluster.setupPrimary({ exec: '/nonexistent-unicorn/app.js', cwd: '/nonexistent-unicorn' });
  const before = Object.keys(cluster.workers ?? {}).length;
  const result = await forkWorker({});
  assert.ok(result instanceof Error, 'an error, not a worker');
  assert.equal((result as NodeJS.ErrnoException).code, 'ENOENT');
  assert.equal(Object.keys(cluster.workers ?? {}).length, before);
});

test('a spawn that throws at once (an argument it cannot pass): an error, no worker kept', async () => {
  cluster.setupPrimary({ exec: 'app\0.js', cwd: process.cwd() });
  const before = Object.keys(cluster.workers ?? {}).length;
  const result = await forkWorker({});
  assert.ok(result instanceof Error, 'an error, not a worker');
  assert.equal((result as NodeJS.ErrnoException).code, 'ERR_INVALID_ARG_VALUE');
  assert.equal(Object.keys(cluster.workers ?? {}).length, before);
});
