/**
 * The worker.exited line for a worker killed with kill -9, as the real master writes it: the signal
 * named once, and where to look.
 */

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fixture, startServer, stopAll } from '../helpers/server.js';

after(stopAll);

describe('worker.exited after kill -9', () => {
  test('names SIGKILL once and says it came from outside: kill -9 or the OOM killer', async () => {
    const server = await startServer([fixture('pid.mjs'), '-w', '1']);
    const [victim] = server.liveWorkerPids();
    process.kill(victim!, 'SIGKILL');
    const exited = await server.waitForEvent('worker.exited', (l) => l.workerPid === victim);
    const msg = String(exited.msg);
    assert.equal(msg.split('SIGKILL').length - 1, 1, msg);
    assert.match(
      msg,
      new RegExp(`^Worker \\(pid: ${victim}\\) exited with signal SIGKILL: not sent by unicorn-ts \\(`),
    );
    assert.match(String(exited.hint), /kill -9.*out of memory.*dmesg/);
    assert.equal(exited.signal, 'SIGKILL');
  });
});
