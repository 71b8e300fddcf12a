/** Picks the worker class the settings name and runs its lifecycle (workers/entry.ts, workers/run-entry.ts). */

import type { WorkerBoot } from '../src/ipc.js';
import { AsyncWorker } from './async-worker.js';
import { SyncWorker } from './sync-worker.js';
import type { Worker } from './worker.js';

const WORKER_CLASSES: Record<string, new (boot: WorkerBoot) => Worker> = {
  async: AsyncWorker,
  sync: SyncWorker,
};

export function startWorker(boot: WorkerBoot): Promise<void> {
  const WorkerClass = WORKER_CLASSES[boot.settings.workerClass] ?? AsyncWorker;
  return new WorkerClass(boot).main();
}
