/**
 * The master's record of one worker: what the master knows and decides about it, kept apart from the
 * code that runs inside the worker (workers/). States:
 *
 *   booting -> ready -> retiring (a replacement is on its way) -> stopping -> exited
 *
 * Only `booting` and `ready` workers count toward --workers; a retiring worker keeps serving until
 * its replacement is ready, then it is told to stop.
 *
 * A spare (--standby) boots like any worker but is not counted; once it has loaded the app it waits
 * in `standby`, holding no sockets, until the master promotes it to take the place of a worker
 * that left (it is then `booting` again until it reports ready, a matter of milliseconds):
 *
 *   booting (spare) -> standby -> booting -> ready -> ...
 */

import type { Worker as ClusterWorker } from 'node:cluster';
import type { MasterMessage, StackProbeReply } from '../ipc.js';
import type { StackProbe } from './stack-probe.js';

export type WorkerState = 'booting' | 'standby' | 'ready' | 'retiring' | 'stopping' | 'exited';

export class WorkerHandle {
  readonly cluster: ClusterWorker;
  readonly pid: number;
  /** 1, 2, 3... in spawn order over the master's life. */
  readonly age: number;
  readonly bornAt: number;
  state: WorkerState = 'booting';
  /** Booted as a spare (--standby): not counted toward --workers until promoted. */
  spare: boolean;
  /** When --boot-timeout started counting: at the fork, and again at a standby's promotion. */
  bootingSince: number;
  readyAt: number | null = null;
  lastHeartbeat: number;
  requests = 0;
  inflight = 0;
  /** Resident memory in bytes, from the last heartbeat. */
  rss = 0;
  /** The request in flight the longest at the last heartbeat. */
  oldest: { request: string; startedAt: number } | null = null;
  /** Why it is retiring or stopping, for the logs. */
  reason: string | null = null;
  /** When a stopping worker is killed if it has not exited. */
  killAt: number | null = null;
  /** Asks the worker where its event loop is stuck (--timeout-stack); null when off. */
  stackProbe: StackProbe | null = null;
  /** The probe run for the current timeout, keyed by the heartbeat that went stale. */
  timeoutProbe: { forHeartbeat: number; reply: StackProbeReply | null } | null = null;
  /** --dispatch request: connections the master gave it, and how many it had received at its last beat. */
  given = 0;
  givenSeen = 0;
  /**
   * --dispatch request: a heartbeat has come since it last handed a connection back. node's IPC
   * holds every message a worker sends after a handle until the master's acknowledgement is read,
   * so a worker that went busy right after a handback cannot say so yet; until it has spoken
   * again, it is not taken for free.
   */
  heardSinceHandback = true;
  /** The message a worker sent just before failing to boot. */
  bootError: { code: number; message: string } | null = null;

  constructor(worker: ClusterWorker, age: number, now: number, spare = false) {
    this.cluster = worker;
    this.pid = worker.process.pid ?? 0;
    this.age = age;
    this.bornAt = now;
    this.bootingSince = now;
    this.lastHeartbeat = now;
    this.spare = spare;
  }

  get counted(): boolean {
    return (this.state === 'booting' && !this.spare) || this.state === 'ready';
  }

  /** A spare, booting or waiting in standby. */
  get isSpare(): boolean {
    return this.spare && (this.state === 'booting' || this.state === 'standby');
  }

  /** `done` runs once the message is written, or at once when the worker is gone. */
  send(message: MasterMessage, handle?: object, done?: () => void): void {
    if (!this.cluster.isConnected()) {
      done?.();
      return;
    }
    // biome-ignore lint/suspicious/noExplicitAny: node:cluster types sendHandle narrowly; it accepts TCP and Pipe wraps and sockets.
    this.cluster.send(message, handle as any, done === undefined ? undefined : () => done());
  }

  /** Graceful stop: SIGTERM now, SIGKILL at `now + graceMs` if still alive. */
  stop(reason: string, now: number, graceMs: number): void {
    if (this.state === 'stopping' || this.state === 'exited') return;
    this.state = 'stopping';
    this.reason ??= reason;
    this.killAt = now + graceMs;
    this.signal('SIGTERM');
  }

  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already exited; the exit event will tell.
    }
  }
}
