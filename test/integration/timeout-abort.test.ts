/**
 * What docs/hooks.md, docs/contract.md and docs/design.md say `--timeout` does: the master sends a
 * silent worker SIGABRT, and SIGKILL a second later; a worker whose event loop comes back in between
 * runs the workerAbort hook and exits with code 1.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-abort-'));
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('--timeout', () => {
  test('sends SIGABRT first: a worker whose loop comes back runs workerAbort and exits 1', async () => {
    const config = join(dir, 'abort.config.mjs');
    writeFileSync(
      config,
      "export default { workerAbort: (w) => w.log.info({ hookRan: 'workerAbort' }, 'aborting') };\n",
    );
    const flag = join(dir, 'unblock');
    const server = await startServer([
      fixture('block-until.mjs'),
      '-c',
      config,
      '-w',
      '1',
      '-t',
      '2',
      '--no-timeout-stack',
    ]);
    const [pid] = server.liveWorkerPids();
    const blocked = request(`${server.url}/block?until=${encodeURIComponent(flag)}`).catch(
      (err: Error) => err,
    );
    await server.waitForEvent('worker.timeout', (l) => l.workerPid === pid);
    // The master logs worker.timeout, then signals SIGABRT, and SIGKILL no sooner than a second later.
    writeFileSync(flag, '');
    const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === pid);
    const aborted = server.logs.filter((l) => l.hookRan === 'workerAbort');
    assert.deepEqual(
      aborted.map((l) => l.pid),
      [pid],
      'workerAbort ran in the timed-out worker',
    );
    assert.equal(exited.code, 1);
    assert.equal(exited.signal, null);
    assert.match(String(exited.hint), /--timeout/);
    await blocked;
  });
});
