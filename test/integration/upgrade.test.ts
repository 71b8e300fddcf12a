import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request, unixGet } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { fixture, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

after(stopAll);
const dir = mkdtempSync(join(tmpdir(), 'unicorn-upgrade-'));

describe('USR2: upgrading the master without closing a port', () => {
  test('a new master inherits the sockets, takes the pidfile, and serves once the old one is stopped; no request fails', async () => {
    const pidfile = join(dir, 'master.pid');
    const sock = join(dir, 'upgrade.sock');
    const old = await startServer([
      fixture('pid.mjs'),
      '-w',
      '1',
      '-p',
      pidfile,
      '-b',
      '127.0.0.1:0',
      '-b',
      `unix:${sock}`,
    ]);
    const url = old.url;
    const load = startLoad(url, { keepAlive: 2, fresh: 2 });
    await waitFor('some load', () => load.result.ok >= 100);

    old.signal('SIGUSR2');
    const started = await old.waitForEvent('master.reexec');
    const newPid = started.newMasterPid as number;
    // The new master's lines share the old one's standard error.
    await old.waitForEvent('master.ready', (l) => l.pid === newPid);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(newPid));
    assert.equal(readFileSync(`${pidfile}.oldbin`, 'utf8').trim(), String(old.pid));
    const listening = old
      .events('master.listening')
      .filter((l) => l.pid === newPid)
      .map((l) => l.url);
    assert.ok(listening.includes(url), `the new master serves the same address: ${listening.join(', ')}`);

    old.signal('SIGWINCH');
    old.signal('SIGTERM');
    const { code } = await old.waitForExit();
    assert.equal(code, 0);
    const before = load.result.ok;
    await waitFor('load served by the new master alone', () => load.result.ok >= before + 100);
    const result = await load.stop();
    assert.equal(result.failed, 0, result.errors.slice(0, 5).join('; '));

    assert.ok(isAlive(newPid));
    assert.equal((await request(`${url}/`)).status, 200);
    assert.match(await unixGet(sock), /^\d+$/, 'the old master left the unix socket in place');
    assert.equal(existsSync(`${pidfile}.oldbin`), false, 'the old master removed its .oldbin at exit');
    process.kill(newPid, 'SIGTERM');
    await waitFor('new master exit', () => !isAlive(newPid));
    assert.equal(existsSync(pidfile), false);
  });

  test('if the new master cannot start, the pidfile moves back and the old master serves on', async () => {
    const pidfile = join(dir, 'failed.pid');
    const old = await startServer([fixture('pid.mjs'), '-p', pidfile]);
    old.signal('SIGUSR2');
    await old.waitForEvent('master.reexec');
    // A new master that dies (a broken upgrade) before the old one is stopped.
    const child = old.events('master.reexec')[0]!.newMasterPid as number;
    process.kill(child, 'SIGKILL');
    await old.waitForEvent('master.reexec', (l) => /exited with/.test(String(l.msg)));
    await waitFor(
      'pidfile back',
      () => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim() === String(old.pid),
    );
    assert.equal(existsSync(`${pidfile}.oldbin`), false);
    assert.equal((await request(`${old.url}/`)).status, 200);
  });
});
