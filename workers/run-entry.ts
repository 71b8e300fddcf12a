/**
 * run() with a handler: imported (`--import`) before the calling program in each worker, which is
 * that program run again (workers/run-worker.ts does the rest). Threads inherit the process's
 * --import (the stack probe's, the app's own): in them it does nothing and loads nothing.
 */

import { isMainThread } from 'node:worker_threads';

if (isMainThread) await import('./run-worker.js');
