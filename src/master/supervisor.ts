/**
 * What the master can tell about the process that supervises it, at start: the two set-ups in which
 * an operator's signals or the kernel's orphans do not reach where they should (docs/deploy.md,
 * "npm scripts" and "Containers").
 */

import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';

/** Shells that run a `-c` script as a child and do not pass TERM or HUP on to it. */
const SHELLS = new Set(['sh', 'dash', 'bash', 'ash', 'zsh', 'ksh', 'mksh', 'busybox']);

export interface ProcessView {
  readonly pid: number;
  readonly ppid: number;
  /** The parent's command name (/proc/PPID/comm), or null where it cannot be read. */
  readonly parentName: string | null;
  readonly stdinIsTTY: boolean;
  /** Set by npm (and yarn, pnpm) for the script it runs. */
  readonly npmLifecycleEvent: string | undefined;
}

export function currentProcessView(): ProcessView {
  return {
    pid: process.pid,
    ppid: process.ppid,
    parentName: commandName(process.ppid),
    stdinIsTTY: isatty(0),
    npmLifecycleEvent: process.env.npm_lifecycle_event,
  };
}

/**
 * The shell an npm script left between npm and the master, or null. `"start": "unicorn-ts ..."` runs
 * as `sh -c 'unicorn-ts ...'`; dash (Debian's sh) keeps itself as the master's parent, and npm
 * passes `docker stop`'s or `kill`'s TERM to the shell, which dies of it: the master is orphaned, or
 * killed with its namespace. `exec` in the script replaces the shell, and npm is then the parent. On a
 * terminal Ctrl-C reaches the whole process group, master included, so only a stdin that is not a
 * terminal (a container, a service) is the case to warn about.
 */
export function npmShellParent(view: ProcessView): string | null {
  if (view.npmLifecycleEvent === undefined || view.stdinIsTTY) return null;
  return view.parentName !== null && SHELLS.has(view.parentName) ? view.parentName : null;
}

function commandName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}
