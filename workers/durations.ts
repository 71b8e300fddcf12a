/**
 * Every duration a worker uses, in milliseconds. The settings give seconds (as Gunicorn's do); they
 * are converted here, once, so that no other worker module multiplies by 1000.
 */

import type { WorkerSettings } from '../src/settings.js';

export interface WorkerDurations {
  /** --timeout: the heartbeat interval derives from it. 0: no timeout. */
  readonly timeoutMs: number;
  /** --graceful-timeout: how long a stop may take before the worker exits anyway. */
  readonly gracefulTimeoutMs: number;
  /** --keep-alive: how long an idle kept-alive connection stays open. 0: no keep-alive. */
  readonly keepAliveMs: number;
  /** --header-timeout. 0: off. */
  readonly headerTimeoutMs: number;
  /** --request-timeout. 0: off. */
  readonly requestTimeoutMs: number;
  /** --body-timeout. 0: off. */
  readonly bodyTimeoutMs: number;
  /** --ws-ping-interval. 0: off. */
  readonly wsPingIntervalMs: number;
  /** --ws-drain-grace, capped at half of --graceful-timeout. */
  readonly wsDrainGraceMs: number;
}

export function durationsOf(s: WorkerSettings): WorkerDurations {
  return {
    timeoutMs: s.timeout * 1000,
    gracefulTimeoutMs: s.gracefulTimeout * 1000,
    keepAliveMs: s.keepAlive * 1000,
    headerTimeoutMs: s.headerTimeout * 1000,
    requestTimeoutMs: s.requestTimeout * 1000,
    bodyTimeoutMs: s.bodyTimeout * 1000,
    wsPingIntervalMs: s.wsPingInterval * 1000,
    wsDrainGraceMs: Math.min(s.wsDrainGrace, s.gracefulTimeout / 2) * 1000,
  };
}
