/**
 * The program every worker process runs (node:cluster's `exec`). It reads what the master told it
 * through the environment and hands over to the worker class.
 */

// First, before the worker code loads: the master may be waiting for its sockets to listen.
import './prime-listen.js';
import type { WorkerBoot } from '../src/ipc.js';
import { AsyncWorker } from './async-worker.js';
import { boot } from './boot.js';
import { SyncWorker } from './sync-worker.js';
import type { Worker } from './worker.js';

const WORKER_CLASSES: Record<string, new (boot: WorkerBoot) => Worker> = {
  async: AsyncWorker,
  sync: SyncWorker,
};

if (boot === null) {
  console.error('unicorn-ts: this file is started by the unicorn-ts master, not by hand');
  process.exit(1);
}
const WorkerClass = WORKER_CLASSES[boot.settings.workerClass] ?? AsyncWorker;
await new WorkerClass(boot).main();
