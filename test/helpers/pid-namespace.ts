/**
 * A command run as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`), which is where a
 * container runtime puts its entrypoint: there is no container runtime on the machines the tests run
 * on. The namespace has its own /proc, so `ps` inside it sees only its processes. The JSON lines the
 * command writes to stderr are collected; it runs in its own process group, killed at cleanup.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { killGroup, track } from './processes.js';
import type { LogLine } from './server.js';
import { waitFor } from './wait.js';

export class PidNamespace {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(command: string[], opts: { cwd: string; env?: Record<string, string> }) {
    this.child = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', ...command], {
      cwd: opts.cwd,
      env: { ...process.env, FORCE_COLOR: '0', ...opts.env },
      // stdin is not a terminal, as in a container or a service.
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    track(this.child);
    let pending = '';
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // Not a log line: kept in stderr only.
        }
      }
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    this.exit = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  async event(
    name: string,
    predicate: (l: LogLine) => boolean = () => true,
    timeoutMs = 60_000,
  ): Promise<LogLine> {
    try {
      return await waitFor(
        name,
        () => {
          const found = this.logs.find((l) => l.event === name && predicate(l));
          if (found === undefined && this.child.exitCode !== null)
            assert.fail(`unshare exited (${this.child.exitCode}) first`);
          return found;
        },
        { timeoutMs },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nstderr: ${this.stderr.slice(-3000)}`);
    }
  }

  /** The namespace's PID 1 as seen from outside: unshare's only child. */
  init(): number {
    const pid = this.child.pid!;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
    const init = Number(children[0]);
    if (!(init > 1)) throw new Error(`unshare (pid ${pid}) has no child yet`);
    return init;
  }

  kill(): void {
    killGroup(this.child.pid!);
  }
}
