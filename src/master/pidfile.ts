/**
 * The pidfile. proper-lockfile holds a lock beside it for the master's life, so a second master on
 * the same path refuses to start. A lock left by a master killed with -9 is recognised by the pid in
 * the file no longer running, and taken over. The file is written atomically (temp file + rename) and
 * removed at exit only if it still holds our pid (a new master may have taken the path over).
 */

import { readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
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
    try {
      writeFileSync(this.path, '', { flag: 'a' });
    } catch (err) {
      throw new UnicornError('UNICORN_PIDFILE', `cannot create pidfile ${this.path}: ${describeError(err)}`);
    }
    this.lock();
    const tmp = `${this.path}.${pid}.tmp`;
    writeFileSync(tmp, `${pid}\n`);
    renameSync(tmp, this.path);
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
