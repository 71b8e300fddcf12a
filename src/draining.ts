/**
 * The drain signal: an AbortSignal that aborts when the worker this code runs in begins a graceful
 * stop (a HUP reload, TERM, TTOU, recycling, an uncaught error, the master gone). Apps see it as
 * `info.draining` in a request and as the package's `draining` export outside one
 * (docs/contract.md, "Long-lived responses and draining"). Outside a worker nothing aborts it.
 *
 * One AbortController per process, made the first time anything asks for it: a request that never
 * looks costs nothing, and every request that does shares it.
 *
 * The controller lives on globalThis, not in this module: the worker imports this file from the
 * unicorn-ts that runs it, while the app imports `unicorn-ts` through its own node_modules, which
 * may be another copy (a global install running an app with its own), or the same copy loaded
 * again through another path. Each copy has its own module state; the process has one globalThis.
 * What is stored there is a plain AbortController, so copies of different versions agree on it.
 */

import { setMaxListeners } from 'node:events';

const KEY = Symbol.for('unicorn-ts.draining');

type Holder = { [KEY]?: AbortController };

function controller(): AbortController {
  const holder = globalThis as Holder;
  let c = holder[KEY];
  if (c === undefined) {
    c = new AbortController();
    // Every long-lived response of the worker listens to this one signal: past Node's default of
    // ten listeners it would print a MaxListenersExceededWarning, a false alarm here.
    setMaxListeners(0, c.signal);
    holder[KEY] = c;
  }
  return c;
}

/** The process's drain signal (the same object every time, from every copy of the package). */
export function drainingSignal(): AbortSignal {
  return controller().signal;
}

/**
 * The worker has begun a graceful stop: the drain signal aborts, once. The reason is an
 * `AbortError` DOMException, as for any aborted fetch(), so code that tells an abort from a failure
 * by `err.name === 'AbortError'` keeps working when it combines this signal with others.
 */
export function startDraining(why: string): void {
  const c = controller();
  if (c.signal.aborted) return;
  c.abort(new DOMException(`the worker is draining (${why})`, 'AbortError'));
}

/** Resolves when the drain signal aborts (at once if it has); in a process that never drains, never. */
export function whenDraining(): Promise<void> {
  const signal = drainingSignal();
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
