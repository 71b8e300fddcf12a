/**
 * The pidfile. proper-lockfile holds a lock beside it for the master's life, so a second master on
 * the same path refuses to start. A lock left by a master killed with -9 is recognised by the pid in
 * the file no longer running, and taken over. The file is written atomically (temp file + rename) and
 * removed at exit only if it still holds our pid (a new master may have taken the path over).
 *
 * Pidfiles often live in shared directories (/tmp, /var/run under a careless setup) where another
 * user can plant `app.pid` as a symbolic link to a file root would then overwrite. So, as nginx and
 * Gunicorn do, a pidfile that is a symbolic link or belongs to another user is refused; the file
 * is opened with O_NOFOLLOW, and the pid is written to a temp file with a random name created with
 * O_EXCL (which never follows a link) before it is renamed over the path (rename replaces a link
 * instead of writing through it).
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';

/** proper-lockfile (and the graceful-fs it patches in) is loaded only when a pidfile is used. */
let lockfileModule: typeof import('proper-lockfile') | null = null;
function lockfile(): typeof import('proper-lockfile') {
  lockfileModule ??= createRequire(import.meta.url)('proper-lockfile') as typeof import('proper-lockfile');
  return lockfileModule;
}

import { describeError, UnicornError } from '../errors.js';

export class Pidfile {
  path: string;
  #release: (() => void) | null = null;

  constructor(path: string) {
    this.path = path;
  }

  create(pid: number): void {
    this.refuseLink(this.path);
    this.refuseLink(`${this.path}.lock`);
    let fd: number;
    try {
      // Read-only is enough to create the file and check it; O_NONBLOCK so a FIFO cannot hang us.
      fd = openSync(
        this.path,
        constants.O_RDONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK,
        0o644,
      );
    } catch (err) {
      // A link planted between the check above and the open.
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') this.refuseLink(this.path);
      throw new UnicornError('UNICORN_PIDFILE', `cannot create pidfile ${this.path}: ${describeError(err)}`);
    }
    try {
      this.refuseForeign(fstatSync(fd));
    } finally {
      closeSync(fd);
    }
    this.lock();
    this.write(pid);
  }

  /** Atomically: a reader sees the old content or the whole new pid, never a partial line. */
  private write(pid: number): void {
    const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const fd = openSync(tmp, 'wx', 0o644);
      try {
        writeSync(fd, `${pid}\n`);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new UnicornError('UNICORN_PIDFILE', `cannot write pidfile ${this.path}: ${describeError(err)}`);
    }
  }

  private refuseLink(path: string): void {
    let stat: Stats;
    try {
      stat = lstatSync(path);
    } catch {
      return; // Not there: it is created with O_NOFOLLOW (the file) or mkdir (the lock).
    }
    if (stat.isSymbolicLink()) {
      let target = '?';
      try {
        target = readlinkSync(path);
      } catch {
        // Gone again: the message names the path anyway.
      }
      throw new UnicornError(
        'UNICORN_PIDFILE_UNSAFE',
        `refusing pidfile ${this.path}: ${path} is a symbolic link (to ${target})`,
      );
    }
  }

  private refuseForeign(stat: Stats): void {
    if (!stat.isFile()) {
      throw new UnicornError('UNICORN_PIDFILE', `cannot use pidfile ${this.path}: it is not a regular file`);
    }
    const uid = process.geteuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw new UnicornError(
        'UNICORN_PIDFILE_UNSAFE',
        `refusing pidfile ${this.path}: it belongs to uid ${stat.uid}, not to this user (uid ${uid})`,
      );
    }
  }

  private lock(): void {
    const options = { realpath: false, stale: 10_000, onCompromised: () => {} };
    try {
      this.#release = lockfile().lockSync(this.path, options);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ELOCKED') {
        throw new UnicornError('UNICORN_PIDFILE', `cannot lock pidfile ${this.path}: ${describeError(err)}`);
      }
    }
    const holder = readPid(this.path);
    // An empty file under a fresh lock is a master between locking and writing its pid: not stale.
    if (holder === null || (holder !== process.pid && isRunning(holder))) {
      throw new UnicornError(
        'UNICORN_PIDFILE_LOCKED',
        `pidfile ${this.path} is held by a running master (pid ${holder ?? 'not yet written'}); not starting a second one`,
      );
    }
    // The holder is gone (killed with -9): its lock is stale whatever its age says.
    rmSync(`${this.path}.lock`, { recursive: true, force: true });
    this.#release = lockfile().lockSync(this.path, options);
  }

  /**
   * USR2: the pidfile moves aside (to `PATH.oldbin`) so that the new master can take the path; the
   * lock moves with it. Moving back undoes an upgrade whose new master died.
   */
  moveTo(path: string): void {
    try {
      this.#release?.();
    } catch {
      // Already released.
    }
    this.#release = null;
    renameSync(this.path, path);
    this.path = path;
    this.lock();
  }

  /** Removes the file if it still holds `pid`, and releases the lock. */
  remove(pid: number): void {
    try {
      if (readPid(this.path) === pid) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
    try {
      this.#release?.();
    } catch {
      // The lock was already removed.
    }
    this.#release = null;
  }
}

export function readPid(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}
