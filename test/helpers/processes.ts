/**
 * Every process a test starts is registered here and killed by process group when the test file
 * ends, whether it passed or not, and again when the test process exits.
 */
import type { ChildProcess } from 'node:child_process';

const groups = new Set<number>();

export function track(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const pid = child.pid;
  groups.add(pid);
  child.once('exit', () => {
    // The leader is gone, but workers in its group may not be: keep the group until cleanup.
  });
}

export function killGroup(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export function killAll(): void {
  for (const pid of groups) killGroup(pid);
  groups.clear();
}

process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(1);
  });
}
