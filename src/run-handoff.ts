/**
 * run() with a handler: how a worker gets the handler. The worker is the calling program run again
 * (node:cluster's own pattern), with workers/run-entry.js imported first; that opens the handoff,
 * the program runs, and its run() call hands the handler (and its worker-side hooks) over instead
 * of starting a master. The slot lives on globalThis under a registered symbol, so the handoff holds
 * even when the program's `unicorn-ts` resolves to another copy of this module than the worker's.
 */

import type { HookFn, HookName } from './settings.js';

/** What the program's run() call gives the worker. */
export interface RunHandoff {
  /** The handler, or an APP_MODULE string. */
  readonly app: unknown;
  /** Hooks given to run() as functions (the worker runs those that are worker-side). */
  readonly hooks: Partial<Record<HookName, HookFn>>;
}

interface Slot {
  readonly received: Promise<RunHandoff>;
  deliver(handoff: RunHandoff): void;
}

const SLOT = Symbol.for('unicorn-ts.run-handoff');
const holder = globalThis as { [SLOT]?: Slot };

/** In a worker, before the program runs: from now on run() hands over instead of starting a master. */
export function openRunHandoff(): Promise<RunHandoff> {
  const existing = holder[SLOT];
  if (existing !== undefined) return existing.received;
  let deliver!: (handoff: RunHandoff) => void;
  const received = new Promise<RunHandoff>((resolve) => {
    deliver = resolve;
  });
  holder[SLOT] = { received, deliver };
  return received;
}

/** run(): hands the app over when this process is a worker waiting for it; false when it is not. */
export function handOffToWorker(handoff: RunHandoff): boolean {
  const slot = holder[SLOT];
  if (slot === undefined) return false;
  // A second call (a program that calls run() twice) changes nothing: the first one was taken.
  slot.deliver(handoff);
  return true;
}
