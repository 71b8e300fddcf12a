/**
 * The program every worker process runs (node:cluster's `exec`). It reads what the master told it
 * through the environment and hands over to the worker class.
 */

// First, before the worker code loads: the master may be waiting for its sockets to listen.
import './prime-listen.js';
import { boot } from './boot.js';
import { startWorker } from './start.js';

if (boot === null) {
  console.error('unicorn-ts: this file is started by the unicorn-ts master, not by hand');
  process.exit(1);
}
await startWorker(boot);
