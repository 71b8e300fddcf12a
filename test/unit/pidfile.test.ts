import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { stat as statAsync } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Pidfile, readPid } from '../../src/master/pidfile.js';
import { observeFor } from '../helpers/wait.js';

const root = mkdtempSync(join(tmpdir(), 'unicorn-pidfile-'));

/** Live stand-ins for "another master": processes that only wait, killed at the end. */
const children: ChildProcess[] = [];
function liveProcess(): ChildProcess & { pid: number } {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  children.push(child);
  assert.ok(child.pid, 'the child started');
  return child as ChildProcess & { pid: number };
}
async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
}
/** The pid of a process that has exited, so no process has it (for a while). */
async function deadPid(): Promise<number> {
  const child = liveProcess();
  await kill(child);
  return child.pid;
}

/** Pidfiles a test created; released at the end even when the test fails. */
const held: Array<{ file: Pidfile; pid: number }> = [];
function create(path: string, pid: number): Pidfile {
  const file = new Pidfile(path);
  file.create(pid);
  held.push({ file, pid });
  return file;
}

after(async () => {
  for (const { file, pid } of held.splice(0).reverse()) file.remove(pid);
  await Promise.all(children.map(kill));
  rmSync(root, { recursive: true, force: true });
});

let files = 0;
const freshPath = () => join(root, `master-${++files}.pid`);

describe('Pidfile.create', () => {
  test('writes the pid and a newline', () => {
    const path = freshPath();
    create(path, process.pid);
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
  });

  test('holds a lock beside the file while the master runs', () => {
    const path = freshPath();
    create(path, process.pid);
    assert.ok(statSync(`${path}.lock`).isDirectory());
  });

  test('replaces whatever an earlier file held, leaving no temp file behind', () => {
    const path = freshPath();
    writeFileSync(path, 'garbage from before\n');
    create(path, process.pid);
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
    assert.deepEqual(
      readdirSync(root).filter((name) => name.endsWith('.tmp')),
      [],
    );
  });

  test('in a directory that does not exist is UNICORN_PIDFILE, naming the path', () => {
    const path = join(root, 'missing-dir', 'master.pid');
    assert.throws(() => new Pidfile(path).create(process.pid), {
      code: 'UNICORN_PIDFILE',
      message: new RegExp(`^cannot create pidfile ${path}: `),
    });
  });
});

describe('a pidfile in a directory other users can write', () => {
  test('a planted symbolic link to a file is refused with UNICORN_PIDFILE_UNSAFE; the file it points to is not written', () => {
    const victim = join(root, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    const path = freshPath();
    symlinkSync(victim, path);
    assert.throws(() => new Pidfile(path).create(process.pid), {
      code: 'UNICORN_PIDFILE_UNSAFE',
      message: `refusing pidfile ${path}: ${path} is a symbolic link (to ${victim})`,
    });
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.equal(existsSync(`${path}.lock`), false, 'no lock was taken');
  });

  test('a dangling symbolic link is refused, and nothing is created where it points', () => {
    const target = join(root, 'would-be-created');
    const path = freshPath();
    symlinkSync(target, path);
    assert.throws(() => new Pidfile(path).create(process.pid), { code: 'UNICORN_PIDFILE_UNSAFE' });
    assert.equal(existsSync(target), false);
  });

  test('a symbolic link planted as the lock is refused', () => {
    const path = freshPath();
    symlinkSync(root, `${path}.lock`);
    assert.throws(() => new Pidfile(path).create(process.pid), {
      code: 'UNICORN_PIDFILE_UNSAFE',
      message: new RegExp(`${path}\\.lock is a symbolic link`),
    });
  });

  test('a file that belongs to another user is refused and left as it was', () => {
    let path: string;
    if (process.getuid?.() === 0) {
      path = freshPath();
      writeFileSync(path, '1\n');
      chownSync(path, 65534, 65534);
    } else {
      // Not root: a file root owns stands in for another user's (it is only opened read-only).
      path = '/etc/passwd';
    }
    const before = readFileSync(path, 'utf8');
    assert.throws(() => new Pidfile(path).create(process.pid), {
      code: 'UNICORN_PIDFILE_UNSAFE',
      message: /belongs to uid \d+, not to this user/,
    });
    assert.equal(readFileSync(path, 'utf8'), before);
  });

  test('links planted at the temp names an attacker could predict are never written through', () => {
    const victim = join(root, 'victim-tmp.txt');
    writeFileSync(victim, 'precious\n');
    const path = freshPath();
    for (const pid of [process.pid, process.pid + 1]) symlinkSync(victim, `${path}.${pid}.tmp`);
    create(path, process.pid);
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  });
});

describe('a second master on the same pidfile', () => {
  test('is refused with UNICORN_PIDFILE_LOCKED while the first master is alive', () => {
    const path = freshPath();
    const other = liveProcess();
    create(path, other.pid);
    assert.throws(() => new Pidfile(path).create(process.pid), {
      code: 'UNICORN_PIDFILE_LOCKED',
      message: `pidfile ${path} is held by a running master (pid ${other.pid}); not starting a second one`,
    });
    assert.equal(readPid(path), other.pid, 'the first master keeps its file');
  });

  test('takes over a stale lock whose master is dead (killed with -9, lock never released)', async () => {
    const path = freshPath();
    const gone = await deadPid();
    create(path, gone);
    create(path, process.pid);
    assert.equal(readPid(path), process.pid);
    assert.ok(existsSync(`${path}.lock`));
  });

  test('is refused while the lock is fresh even if the pid cannot be read yet', {}, () => {
    const path = freshPath();
    const other = liveProcess();
    create(path, other.pid);
    writeFileSync(path, ''); // the window between the first master locking and writing its pid
    assert.throws(() => new Pidfile(path).create(process.pid), {
      code: 'UNICORN_PIDFILE_LOCKED',
      message: `pidfile ${path} is held by a running master (pid not yet written); not starting a second one`,
    });
  });
});

describe('a second master, when the holder belongs to another user', () => {
  test('a lock held for a pid this user may not signal (pid 1 unless root) is refused as running', () => {
    const path = freshPath();
    create(path, process.pid);
    // kill(1, 0) fails with EPERM for any user but root: the process exists all the same.
    writeFileSync(path, '1\n');
    assert.throws(() => new Pidfile(path).create(process.pid), {
      code: 'UNICORN_PIDFILE_LOCKED',
      message: `pidfile ${path} is held by a running master (pid 1); not starting a second one`,
    });
  });

  test('the same, checked by a user who may not signal pid 1 (as root: a child running as nobody)', () => {
    // Root may signal every process, so kill(1, 0) succeeds and the EPERM answer other users get is
    // never seen in-process; a child dropped to uid 65534 sees it as any unprivileged master does.
    const asRoot = process.getuid?.() === 0;
    // Its own directory: the shared one is private to the test's user.
    const dir = mkdtempSync(join(tmpdir(), 'unicorn-pidfile-user-'));
    try {
      if (asRoot) chownSync(dir, 65534, 65534);
      const script = new URL('./support/pidfile-second-master.ts', import.meta.url).pathname;
      const args = ['--import', 'tsx', script, join(dir, 'master.pid'), '1', ...(asRoot ? ['65534'] : [])];
      const out = execFileSync(process.execPath, args, { encoding: 'utf8', timeout: 30_000 });
      assert.equal(out, 'refused UNICORN_PIDFILE_LOCKED\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a lock removed under a running master', () => {
  test('is given up quietly when its refresh finds it gone: the master does not crash', async (t) => {
    const path = freshPath();
    // proper-lockfile refreshes the lock every stale/2 = 5 s, on a timer; mocked, so the test need
    // not wait the 5 s. Its default when the refresh finds the lock gone is to throw from that timer.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    create(path, process.pid);
    rmSync(`${path}.lock`, { recursive: true });
    t.mock.timers.tick(5_000);
    t.mock.timers.reset();
    // The refresh stats the lock directory (a thread-pool call): an exception from its callback
    // would fail this test while it waits.
    await statAsync(root);
    await observeFor(300);
    assert.equal(readPid(path), process.pid, 'the pidfile is untouched');
  });
});

describe('Pidfile.remove', () => {
  test('deletes the file and releases the lock when the file holds our pid', () => {
    const path = freshPath();
    const file = new Pidfile(path);
    file.create(process.pid);
    file.remove(process.pid);
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(`${path}.lock`), false);
  });

  test('leaves the file alone when it holds another pid (a new master took the path over)', () => {
    const path = freshPath();
    const file = new Pidfile(path);
    file.create(process.pid);
    writeFileSync(path, '4242\n');
    file.remove(process.pid);
    assert.equal(readFileSync(path, 'utf8'), '4242\n');
    assert.equal(existsSync(`${path}.lock`), false, 'the lock is still released');
  });

  test('does nothing when the file is already gone, and may be called twice', () => {
    const path = freshPath();
    const file = new Pidfile(path);
    file.create(process.pid);
    rmSync(path);
    file.remove(process.pid);
    file.remove(process.pid);
    assert.equal(existsSync(path), false);
  });

  test('lets a new master create the same pidfile afterwards', () => {
    const path = freshPath();
    const first = new Pidfile(path);
    first.create(process.pid);
    first.remove(process.pid);
    create(path, process.pid);
    assert.equal(readPid(path), process.pid);
  });
});

describe('readPid', () => {
  const write = (text: string) => {
    const path = freshPath();
    writeFileSync(path, text);
    return path;
  };

  test('reads a pid with or without surrounding whitespace', () => {
    assert.equal(readPid(write('1234\n')), 1234);
    assert.equal(readPid(write('  99 ')), 99);
  });

  test('gives null for a missing file, an empty file, text, zero or a negative number', () => {
    assert.equal(readPid(join(root, 'absent.pid')), null);
    for (const text of ['', 'abc', '0', '-5']) assert.equal(readPid(write(text)), null, JSON.stringify(text));
  });
});

describe('Pidfile.create, more', () => {
  test('a FIFO at the path is refused as not a regular file, without hanging on it', () => {
    const path = freshPath();
    execFileSync('mkfifo', [path]);
    assert.throws(() => new Pidfile(path).create(process.pid), {
      code: 'UNICORN_PIDFILE',
      message: `cannot use pidfile ${path}: it is not a regular file`,
    });
    assert.equal(existsSync(`${path}.lock`), false, 'no lock was taken');
  });

  test('a pidfile holding our own pid under a lock is taken over (the lock is ours)', () => {
    const path = freshPath();
    create(path, process.pid);
    create(path, process.pid);
    assert.equal(readPid(path), process.pid);
  });

  test('a lock that cannot be taken for another reason than a holder is UNICORN_PIDFILE', () => {
    const path = freshPath();
    // A stale "lock" that is a regular file: proper-lockfile's rmdir of it fails with ENOTDIR.
    writeFileSync(`${path}.lock`, '');
    utimesSync(`${path}.lock`, 0, 0);
    assert.throws(() => new Pidfile(path).create(process.pid), {
      code: 'UNICORN_PIDFILE',
      message: new RegExp(`^cannot lock pidfile ${path}: `),
    });
  });

  test('leaves no file descriptor open, whether it succeeds or refuses', () => {
    const openFds = () => readdirSync('/proc/self/fd').length;
    const before = openFds();
    const path = freshPath();
    const file = new Pidfile(path);
    file.create(process.pid);
    file.remove(process.pid);
    const fifo = freshPath();
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => new Pidfile(fifo).create(process.pid), { code: 'UNICORN_PIDFILE' });
    assert.equal(openFds(), before);
  });
});

describe('Pidfile.moveTo (USR2: the old master steps aside)', () => {
  test('moves the file and its lock to the new path; a new master can then take the old path', () => {
    const path = freshPath();
    const old = create(path, process.pid);
    old.moveTo(`${path}.oldbin`);
    assert.equal(old.path, `${path}.oldbin`);
    assert.equal(existsSync(path), false);
    assert.equal(readPid(`${path}.oldbin`), process.pid);
    assert.equal(existsSync(`${path}.lock`), false, 'the lock left the old path');
    assert.ok(statSync(`${path}.oldbin.lock`).isDirectory(), 'and is held at the new one');
    const other = liveProcess();
    create(path, other.pid);
    assert.equal(readPid(path), other.pid);
  });

  test('moving back undoes it: the file and lock return to the original path', () => {
    const path = freshPath();
    const file = create(path, process.pid);
    file.moveTo(`${path}.oldbin`);
    file.moveTo(path);
    assert.equal(file.path, path);
    assert.equal(readPid(path), process.pid);
    assert.equal(existsSync(`${path}.oldbin`), false);
    assert.equal(existsSync(`${path}.oldbin.lock`), false);
    assert.ok(statSync(`${path}.lock`).isDirectory());
    file.remove(process.pid);
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(`${path}.lock`), false);
  });

  test('a moved file is removed from where it now is', () => {
    const path = freshPath();
    const file = new Pidfile(path);
    file.create(process.pid);
    file.moveTo(`${path}.oldbin`);
    file.remove(process.pid);
    assert.equal(existsSync(`${path}.oldbin`), false);
    assert.equal(existsSync(`${path}.oldbin.lock`), false);
  });
});
