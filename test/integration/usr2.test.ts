import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request, unixGet } from '../helpers/http.js';
import { fixture, type LogLine, runCli, type Server, startServer, stopAll } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-usr2-'));
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const pidIn = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').trim() : null);

/** Waits for the old master's line saying the upgrade failed, logged after index `after`. */
function upgradeFailed(server: Server, after: number) {
  return server.waitForEvent(
    'master.reexec',
    (l) => l.pid === server.pid && l.level === 'error' && /carries on/.test(String(l.msg)),
    { after },
  );
}

/** The old master serves on as before: same pid, the pidfile holds it, no .oldbin, HTTP answers. */
async function assertServesOn(server: Server, pidfile: string): Promise<void> {
  assert.ok(isAlive(server.pid), 'the old master is alive');
  assert.equal(server.exited, false);
  assert.equal(pidIn(pidfile), String(server.pid), 'the pidfile holds the old master again');
  assert.equal(existsSync(`${pidfile}.oldbin`), false, 'no .oldbin is left');
  assert.equal((await request(`${server.url}/`)).status, 200);
}

describe('USR2 when the new master cannot be started', () => {
  test('the Node binary is gone or not executable (Node upgraded in place): the old master serves on and says why', async () => {
    // The master runs from a copy of node, as it would from /usr/bin/node before a package upgrade.
    const nodeDir = join(dir, 'node-bin');
    mkdirSync(nodeDir);
    const node = join(nodeDir, 'node');
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
    const pidfile = join(dir, 'gone.pid');
    const old = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile], { command: [node] });
    const workers = old.liveWorkerPids();

    chmodSync(node, 0o644);
    let mark = old.logs.length;
    old.signal('SIGUSR2');
    const denied = await upgradeFailed(old, mark);
    assert.equal(denied.errorCode, 'EACCES');
    assert.equal(denied.execPath, node);
    assert.equal(denied.pidfile, pidfile);
    await assertServesOn(old, pidfile);

    unlinkSync(node);
    mark = old.logs.length;
    old.signal('SIGUSR2');
    const gone = await upgradeFailed(old, mark);
    assert.equal(gone.errorCode, 'ENOENT');
    assert.match(String(gone.msg), /no longer exists/);
    assert.equal(gone.pidfile, pidfile);
    await assertServesOn(old, pidfile);
    assert.deepEqual(old.liveWorkerPids(), workers, 'the workers were never touched');
    assert.equal(old.events('worker.exited').length, 0);

    old.signal('SIGTERM');
    assert.equal((await old.waitForExit()).code, 0);
    assert.equal(existsSync(pidfile), false, 'the pidfile is removed at exit, not left as .oldbin');
  });

  test('the master is out of file descriptors (EMFILE): the spawn fails, the old master serves on', async () => {
    const pidfile = join(dir, 'emfile.pid');
    const old = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    // Lower the running master's own limit to what it has open: the next descriptor fails.
    const open = readdirSync(`/proc/${old.pid}/fd`).length;
    const limit = (soft: number | string) =>
      execFileSync('prlimit', ['--pid', String(old.pid), `--nofile=${soft}:`]);
    limit(open);
    let failed: LogLine;
    try {
      const mark = old.logs.length;
      old.signal('SIGUSR2');
      failed = await upgradeFailed(old, mark);
    } finally {
      if (isAlive(old.pid)) limit(4096);
    }
    assert.equal(failed.errorCode, 'EMFILE');
    assert.match(String(failed.msg), /out of processes or file descriptors/);
    await assertServesOn(old, pidfile);
  });

  test('the new master takes the pidfile and its lock, then dies: the old master takes both back and serves on', async () => {
    const pidfile = join(dir, 'taken.pid');
    const config = join(dir, 'taken.config.mjs');
    writeFileSync(config, 'export default { workers: 1 };\n');
    const old = await startServer(['-c', config, fixture('pid.mjs'), '-p', pidfile]);
    // A deploy changes the config between the start and the upgrade; the new master loads it, has
    // the pidfile and its lock by then, and is killed (as the OOM killer would) with both held.
    writeFileSync(
      config,
      "export default { workers: 1, onStarting() { process.kill(process.pid, 'SIGKILL'); } };\n",
    );
    const mark = old.logs.length;
    old.signal('SIGUSR2');
    const failed = await upgradeFailed(old, mark);
    assert.equal(failed.signal, 'SIGKILL');
    assert.ok(
      statSync(`${pidfile}.lock`).isDirectory(),
      'the lock the new master left was taken over, not dropped',
    );
    assert.equal(
      old.logs.slice(mark).filter((l) => /Cannot move the pidfile back/.test(String(l.msg))).length,
      0,
      'the pidfile moved back without an error',
    );
    assert.equal(failed.pidfile, pidfile);
    await assertServesOn(old, pidfile);

    // The old master holds the lock again: a second master on the same pidfile is refused.
    const second = await runCli([
      fixture('pid.mjs'),
      '-p',
      pidfile,
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /UNICORN_PIDFILE_LOCKED|held by a running master/);
    assert.ok(isAlive(old.pid));
    assert.equal(pidIn(pidfile), String(old.pid));
  });

  test('a second USR2 while an upgrade is under way is refused with a log line; none is started twice', async () => {
    const pidfile = join(dir, 'twice.pid');
    const old = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile]);
    old.signal('SIGUSR2');
    const started = await old.waitForEvent('master.reexec', (l) => l.pid === old.pid);
    const newPid = started.newMasterPid as number;
    assert.ok(newPid > 0);
    const mark = old.logs.length;
    old.signal('SIGUSR2');
    const ignored = await old.waitForEvent(
      'signal.ignored',
      (l) => l.pid === old.pid && l.signal === 'usr2',
      { after: mark },
    );
    assert.equal(ignored.newMasterPid, newPid);
    assert.equal(
      old.events('master.reexec').filter((l) => l.pid === old.pid).length,
      1,
      'one new master only',
    );
    await old.waitForEvent('master.ready', (l) => l.pid === newPid);
    assert.equal(pidIn(pidfile), String(newPid));

    // The new master goes away: the upgrade is over, the old master takes the pidfile back, and a
    // later USR2 is accepted again.
    const back = old.logs.length;
    process.kill(newPid, 'SIGTERM');
    await upgradeFailed(old, back);
    await assertServesOn(old, pidfile);
    const again = old.logs.length;
    old.signal('SIGUSR2');
    const next = await old.waitForEvent('master.reexec', (l) => l.pid === old.pid, { after: again });
    assert.notEqual(next.newMasterPid, newPid);
    await old.waitForEvent('master.ready', (l) => l.pid === next.newMasterPid);
    process.kill(next.newMasterPid as number, 'SIGTERM');
    await waitFor('second new master exit', () => !isAlive(next.newMasterPid as number));
  });
});

describe('USR2 with relative paths', () => {
  test('a master started with a relative --chdir and -c upgrades, and the new master serves', async () => {
    const base = join(dir, 'relative');
    const sub = join(base, 'app');
    mkdirSync(sub, { recursive: true });
    copyFileSync(fixture('pid.mjs'), join(sub, 'pid.mjs'));
    writeFileSync(join(sub, 'unicorn.conf.mjs'), 'export default { workers: 1 };\n');
    const old = await startServer(
      ['--chdir', 'app', '-c', 'app/unicorn.conf.mjs', 'pid.mjs', '-p', 'master.pid'],
      {
        cwd: base,
      },
    );
    const pidfile = join(sub, 'master.pid');
    assert.equal(pidIn(pidfile), String(old.pid));
    const mark = old.logs.length;
    old.signal('SIGUSR2');
    const started = await old.waitForEvent('master.reexec', (l) => l.pid === old.pid, { after: mark });
    const newPid = started.newMasterPid as number;
    assert.ok(newPid > 0, String(started.msg));
    await old.waitForEvent('master.ready', (l) => l.pid === newPid);
    assert.equal(pidIn(pidfile), String(newPid));

    old.signal('SIGTERM');
    assert.equal((await old.waitForExit()).code, 0);
    const reply = await request(`${old.url}/`);
    assert.equal(reply.status, 200);
    assert.ok(isAlive(newPid));
    process.kill(newPid, 'SIGTERM');
    await waitFor('new master exit', () => !isAlive(newPid));
    assert.equal(existsSync(pidfile), false);
  });
});

describe('USR2 and a unix socket', () => {
  test('the old master leaves the socket file to the new one; the new master, last to go, removes it', async () => {
    const sock = join(dir, 'handover.sock');
    const pidfile = join(dir, 'handover.pid');
    const old = await startServer([fixture('pid.mjs'), '-w', '1', '-p', pidfile, '-b', `unix:${sock}`], {
      bind: false,
    });
    old.signal('SIGUSR2');
    const started = await old.waitForEvent('master.reexec', (l) => l.pid === old.pid);
    const newPid = started.newMasterPid as number;
    await old.waitForEvent('master.ready', (l) => l.pid === newPid);
    old.signal('SIGTERM');
    assert.equal((await old.waitForExit()).code, 0);
    assert.ok(existsSync(sock), 'the old master did not remove the file the new one serves on');
    const served = await unixGet(sock);
    assert.match(served, /^\d+$/);

    process.kill(newPid, 'SIGTERM');
    await waitFor('new master exit', () => !isAlive(newPid));
    assert.equal(existsSync(sock), false, 'the last master removed the socket file');
    assert.equal(existsSync(pidfile), false);

    // And the next start on the same path just works.
    const next = await startServer([fixture('pid.mjs'), '-w', '1', '-b', `unix:${sock}`], { bind: false });
    assert.match(await unixGet(sock), /^\d+$/);
    next.signal('SIGTERM');
    assert.equal((await next.waitForExit()).code, 0);
    assert.equal(existsSync(sock), false);
  });

  test('a new master stopped while the old one lives leaves the socket file to the old one, which serves on', async () => {
    const sock = join(dir, 'outlived.sock');
    const old = await startServer([fixture('pid.mjs'), '-w', '1', '-b', `unix:${sock}`], { bind: false });
    old.signal('SIGUSR2');
    const started = await old.waitForEvent('master.reexec', (l) => l.pid === old.pid);
    const newPid = started.newMasterPid as number;
    await old.waitForEvent('master.ready', (l) => l.pid === newPid);
    const mark = old.logs.length;
    process.kill(newPid, 'SIGTERM');
    await upgradeFailed(old, mark);
    assert.ok(existsSync(sock), 'the new master left the file the old one serves on');
    assert.equal(await unixGet(sock), String(old.liveWorkerPids()[0]));
    old.signal('SIGTERM');
    assert.equal((await old.waitForExit()).code, 0);
    assert.equal(existsSync(sock), false, 'the old master, last to go, removed it');
  });
});
