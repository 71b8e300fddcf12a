/**
 * What workers/entry.ts does, for a worker that is the calling program of run() run again: the
 * lifecycle starts without being awaited, because the program runs next and its run() call hands
 * the app to the lifecycle waiting for it (src/run-handoff.ts).
 */

// First, before the worker code loads: the master may be waiting for its sockets to listen.
import './prime-listen.js';
import { openRunHandoff } from '../src/run-handoff.js';
import { boot } from './boot.js';
import { startWorker } from './start.js';

if (boot === null) {
  console.error('unicorn-ts: this file is imported by workers of a master started by run(), not by hand');
  process.exit(1);
}
// Open before the program runs, so that its run() call finds it.
void openRunHandoff();
// Awaiting here would hold the program back until the app it is about to provide arrived.
void startWorker(boot);
