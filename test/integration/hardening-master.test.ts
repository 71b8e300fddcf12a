import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from '../helpers/http.js';
import { fixture, runCli, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-hardening-'));
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('the pidfile', () => {
  test('a pidfile planted as a symbolic link to a file is refused: exit 1 naming the path, the file untouched', async () => {
    const victim = join(dir, 'victim.conf');
    writeFileSync(victim, 'precious\n');
    const pidfile = join(dir, 'planted.pid');
    symlinkSync(victim, pidfile);
    const result = await runCli([
      fixture('pid.mjs'),
      '-p',
      pidfile,
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 1);
    const halt = result.logs.find((l) => l.event === 'master.halt');
    assert.ok(halt, result.stderr);
    assert.match(String(halt.msg), new RegExp(`refusing pidfile ${pidfile}: .* is a symbolic link`));
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.equal(result.logs.filter((l) => l.event === 'worker.booting').length, 0, 'no worker was started');
  });

  test('a lock left by a master killed with -9 does not block the next start on the same --pid', async () => {
    const pidfile = join(dir, 'killed.pid');
    const first = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    const [worker] = first.liveWorkerPids();
    process.kill(first.pid, 'SIGKILL');
    await first.waitForExit();
    // Its worker notices the master is gone and leaves on its own.
    await waitFor('orphaned worker exit', () => !isAlive(worker!));
    assert.equal(
      readFileSync(pidfile, 'utf8').trim(),
      String(first.pid),
      'the killed master left its pidfile',
    );
    assert.ok(existsSync(`${pidfile}.lock`), 'and its lock');

    const second = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(second.pid));
    assert.equal((await request(`${second.url}/`)).status, 200);
    second.signal('SIGTERM');
    assert.equal((await second.waitForExit()).code, 0);
    assert.equal(existsSync(pidfile), false);
    assert.equal(existsSync(`${pidfile}.lock`), false);
  });
});
