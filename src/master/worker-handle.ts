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
 *
 * The handle owns these transitions and the escalation of a stop: each method below is one
 * transition, refuses (returns false) from a state it does not apply to, and takes the time as an
 * argument, so that the rules are tested without processes or clocks (test/unit/worker-handle.test.ts).
 * The arbiter decides when; the handle decides whether, and what changes.
 *
 *   stop(): SIGTERM, then SIGKILL once `killAt` is due (killDue(), kill())
 *   quickStop(): SIGQUIT, then SIGKILL
 *   abort() (after --timeout): SIGABRT, then SIGKILL
 */

import type { Worker as ClusterWorker } from 'node:cluster';
import type { Holding, MasterMessage, StackProbeReply } from '../ipc.js';
import type { StackProbe } from './stack-probe.js';

export type WorkerState = 'booting' | 'standby' | 'ready' | 'retiring' | 'stopping' | 'exited';

/** How the handle signals its process: process.kill, or a recorder in tests. */
export type KillFn = (pid: number, signal: NodeJS.Signals) => void;

/** What `exited()` tells the arbiter about how the worker left. */
export interface ExitedFrom {
  /** It had not reported ready yet. */
  readonly wasBooting: boolean;
  /** The master had asked it to go (stopping or retiring). */
  readonly expected: boolean;
}

function defaultKill(pid: number, signal: NodeJS.Signals): void {
  process.kill(pid, signal);
}

export class WorkerHandle {
  readonly cluster: ClusterWorker;
  readonly pid: number;
  /** 1, 2, 3... in spawn order over the master's life. */
  readonly age: number;
  readonly bornAt: number;
  /** When it was forked, by the wall clock: shown by `unicorn-ts status`, never used to measure. */
  readonly bornAtWall = Date.now();
  #state: WorkerState = 'booting';
  /** Booted as a spare (--standby): not counted toward --workers until promoted. */
  #spare: boolean;
  /** When --boot-timeout started counting: at the fork, and again at a standby's promotion. */
  #bootingSince: number;
  #readyAt: number | null = null;
  /** Why it is retiring or stopping, for the logs. */
  #reason: string | null = null;
  /** The reason it was stopping for when its grace ran out (kill() then names the kill instead). */
  #killedWhile: string | null = null;
  /** A stop signal sent to it by someone other than the master (stoppingOnSignal), or null. */
  #signaledFromOutside: string | null = null;
  /** When a stopping worker is killed if it has not exited. */
  #killAt: number | null = null;
  /** It said hello: its signal listeners are installed. */
  #listening = false;
  /** A USR1 came before it said hello, and is still to be sent. */
  #reopenOwed = false;
  readonly #kill: KillFn;
  lastHeartbeat: number;
  requests = 0;
  inflight = 0;
  /** Resident memory in bytes, from the last heartbeat. */
  rss = 0;
  /** The request in flight the longest at the last heartbeat. */
  oldest: { request: string; startedAt: number } | null = null;
  /** What it still held at the last heartbeat of its drain; null before it drains. */
  holding: Holding | null = null;
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
  /** Why the master started it (`unicorn-ts status`): boot, scale, reload, standby, or why its predecessor left. */
  startReason = 'boot';
  /** The message a worker sent just before failing to boot. */
  bootError: { code: number; message: string } | null = null;

  constructor(worker: ClusterWorker, age: number, now: number, spare = false, kill: KillFn = defaultKill) {
    this.cluster = worker;
    this.pid = worker.process.pid ?? 0;
    this.age = age;
    this.bornAt = now;
    this.#bootingSince = now;
    this.lastHeartbeat = now;
    this.#spare = spare;
    this.#kill = kill;
  }

  get state(): WorkerState {
    return this.#state;
  }

  get spare(): boolean {
    return this.#spare;
  }

  get bootingSince(): number {
    return this.#bootingSince;
  }

  get readyAt(): number | null {
    return this.#readyAt;
  }

  get reason(): string | null {
    return this.#reason;
  }

  /** Why it was asked to go, even when it then had to be killed (`reason` names the kill). */
  get stopReason(): string | null {
    return this.#killedWhile ?? this.#reason;
  }

  get killAt(): number | null {
    return this.#killAt;
  }

  get counted(): boolean {
    return (this.#state === 'booting' && !this.#spare) || this.#state === 'ready';
  }

  /** A spare, booting or waiting in standby. */
  get isSpare(): boolean {
    return this.#spare && (this.#state === 'booting' || this.#state === 'standby');
  }

  /** A spare has loaded the app: it waits, without sockets, to be promoted. */
  markStandby(): boolean {
    if (!(this.#spare && this.#state === 'booting')) return false;
    this.#state = 'standby';
    return true;
  }

  /**
   * It listens and serves. A worker that is retiring or stopping by then stays so (only its ready
   * time is recorded): its replacement may already be on its way.
   */
  markReady(now: number): boolean {
    if (this.#state === 'exited') return false;
    if (this.#state === 'booting') this.#state = 'ready';
    this.#readyAt = now;
    return true;
  }

  /** A standby takes the place of a worker that left: it counts, and boots (gets its sockets) again. */
  promote(now: number): boolean {
    if (this.#state !== 'standby') return false;
    this.#spare = false;
    this.#state = 'booting';
    this.#bootingSince = now;
    return true;
  }

  /**
   * To be replaced: it keeps serving until its replacement is ready (the arbiter then stops it).
   * A worker already retiring takes the newer reason (a reload replaces it too).
   */
  retire(reason: string): boolean {
    if (!this.counted && this.#state !== 'retiring') return false;
    this.#state = 'retiring';
    this.#reason = reason;
    return true;
  }

  /** A rolled-back reload: the old worker serves on, as if it had never been asked to go. */
  unretire(): boolean {
    if (this.#state !== 'retiring') return false;
    this.#state = 'ready';
    this.#reason = null;
    return true;
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

  /**
   * Graceful stop: SIGTERM now, SIGKILL at `now + graceMs` if still alive. The first reason given
   * (retiring, or an earlier stop) is kept: it is the one the logs explain.
   */
  stop(reason: string, now: number, graceMs: number): boolean {
    if (this.#state === 'stopping' || this.#state === 'exited') return false;
    this.#state = 'stopping';
    this.#reason ??= reason;
    this.#killAt = now + graceMs;
    this.signal('SIGTERM');
    return true;
  }

  /**
   * Quick stop (INT, QUIT, a halt): SIGQUIT now, SIGKILL within `graceMs`. It also shortens a
   * graceful stop under way, never lengthens one.
   */
  quickStop(now: number, graceMs: number): boolean {
    if (this.#state === 'exited') return false;
    this.#state = 'stopping';
    this.#killAt = Math.min(this.#killAt ?? Number.POSITIVE_INFINITY, now + graceMs);
    this.signal('SIGQUIT');
    return true;
  }

  /**
   * The worker says it is stopping on a signal the master did not send (an operator's `kill` of the
   * worker, a `pkill` that matched it). Not a crash: its exit is expected, it is replaced, and it is
   * killed if it outlives `graceMs`, as if the master had stopped it. False when the master is
   * stopping it already (the signal was the master's own).
   */
  stoppingOnSignal(signal: string, now: number, graceMs: number): boolean {
    if (this.#state === 'stopping' || this.#state === 'exited') return false;
    this.#state = 'stopping';
    this.#reason = `${signal} sent to the worker`;
    this.#signaledFromOutside = signal;
    this.#killAt = now + graceMs;
    return true;
  }

  /** The stop signal it got from outside the master (stoppingOnSignal), or null. */
  get signaledFromOutside(): string | null {
    return this.#signaledFromOutside;
  }

  /** Silent past --timeout: a serving worker whose last heartbeat is older than `timeoutMs`. */
  timedOut(now: number, timeoutMs: number): boolean {
    return (
      timeoutMs > 0 &&
      (this.#state === 'ready' || this.#state === 'retiring') &&
      now - this.lastHeartbeat > timeoutMs
    );
  }

  /**
   * After a timeout, as Gunicorn: SIGABRT first (a loop that comes back runs workerAbort and
   * exits), then SIGKILL at `now + graceMs`.
   */
  abort(now: number, graceMs: number): boolean {
    if (this.#state !== 'ready' && this.#state !== 'retiring') return false;
    this.#state = 'stopping';
    this.#reason = 'timeout';
    this.#killAt = now + graceMs;
    this.signal('SIGABRT');
    return true;
  }

  /** Not ready within --boot-timeout of its fork (or of its promotion). */
  bootTimedOut(now: number, bootTimeoutMs: number): boolean {
    return this.#state === 'booting' && now - this.#bootingSince > bootTimeoutMs;
  }

  /** SIGKILL a worker that did not boot in time; `message` is what the boot failure reports. */
  killBootTimeout(code: number, message: string): boolean {
    if (this.#state !== 'booting') return false;
    this.#reason = 'boot-timeout';
    this.bootError = { code, message };
    this.signal('SIGKILL');
    return true;
  }

  /** A stop (graceful, quick, or after a timeout) whose grace has run out. */
  killDue(now: number): boolean {
    return this.#killAt !== null && now >= this.#killAt;
  }

  /**
   * The end of the escalation: SIGKILL, once. The reason becomes what the exit hint explains: a
   * timeout stays a timeout, any other stop did not finish within its grace.
   */
  kill(): boolean {
    if (this.#killAt === null) return false;
    this.#killAt = null;
    this.#killedWhile = this.#reason;
    this.#reason = this.#reason === 'timeout' ? 'timeout' : 'graceful-timeout';
    this.signal('SIGKILL');
    return true;
  }

  /** Its process is gone; the answer says whether the master expected it. Once only. */
  exited(): ExitedFrom | null {
    if (this.#state === 'exited') return null;
    const from = {
      wasBooting: this.#state === 'booting',
      expected: this.#state === 'stopping' || this.#state === 'retiring',
    };
    this.#state = 'exited';
    this.#killAt = null;
    return from;
  }

  /** What it held at its last heartbeat: what a kill would cut. */
  held(now: number): Held {
    const oldest = this.oldest;
    return {
      inflight: this.inflight,
      streaming: this.holding?.streaming ?? null,
      websockets: this.holding?.websockets ?? null,
      connections: this.holding?.connections ?? null,
      request: oldest?.request ?? null,
      requestAgeSeconds: oldest === null ? null : Math.round((now - oldest.startedAt) / 1000),
      heartbeatAgeSeconds: Math.round((now - this.lastHeartbeat) / 1000),
    };
  }

  /**
   * USR1 (reopen the log files), passed on now if the worker can take it, or once it can. Until a
   * worker has said hello its own listeners may not be installed yet, and Node's default for USR1
   * is no use: a worker measured on Node 24 died of it, and a plain Node process starts its debugger
   * on 127.0.0.1:9229, open to every local user.
   */
  reopenLogs(): void {
    if (this.#listening) this.signal('SIGUSR1');
    else this.#reopenOwed = true;
  }

  /** The worker said hello: its signal listeners are installed (workers/process.ts runs first). */
  listening(): void {
    this.#listening = true;
    if (!this.#reopenOwed) return;
    this.#reopenOwed = false;
    this.signal('SIGUSR1');
  }

  signal(signal: NodeJS.Signals): void {
    // No pid (the fork failed): kill(0, …) would signal the master's whole process group.
    if (this.pid <= 0) return;
    try {
      this.#kill(this.pid, signal);
    } catch {
      // Already exited; the exit event will tell.
    }
  }
}

/**
 * What a worker held at its last heartbeat; the fields of the `worker.killed` line. The counts other
 * than `inflight` are known only once it drains (null before: a worker killed after --timeout).
 */
export interface Held {
  /** Requests in flight. */
  readonly inflight: number;
  /** Of those, responses whose head was sent and whose body had not finished (SSE, a download). */
  readonly streaming: number | null;
  readonly websockets: number | null;
  /** Client connections open, idle ones included. */
  readonly connections: number | null;
  /** The oldest request in flight, `METHOD target`. */
  readonly request: string | null;
  readonly requestAgeSeconds: number | null;
  /** How old the heartbeat these come from is. */
  readonly heartbeatAgeSeconds: number;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * `2 requests in flight (1 streaming response), 0 WebSockets, 3 connections; the oldest, GET /poll,
 * started 31 s ago`: what a kill cuts, in the words of the `worker.killed` line.
 */
export function describeHeld(held: Held): string {
  const parts = [`${plural(held.inflight, 'request')} in flight`];
  if (held.streaming !== null && held.streaming > 0)
    parts[0] += ` (${plural(held.streaming, 'streaming response')})`;
  if (held.websockets !== null) parts.push(plural(held.websockets, 'WebSocket'));
  if (held.connections !== null) parts.push(plural(held.connections, 'connection'));
  let text = parts.join(', ');
  if (held.request !== null) text += `; the oldest, ${held.request}, started ${held.requestAgeSeconds} s ago`;
  if (held.heartbeatAgeSeconds >= 2) text += ` (as of its last heartbeat, ${held.heartbeatAgeSeconds} s ago)`;
  return text;
}
