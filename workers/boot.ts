/**
 * What the master told this worker at spawn (src/ipc.ts, WorkerBoot), read once from the
 * environment and removed from it, so the app never sees it. Null when the process was not
 * started by a unicorn-ts master.
 */

import { WORKER_BOOT_ENV, type WorkerBoot } from '../src/ipc.js';

const raw = process.env[WORKER_BOOT_ENV];
delete process.env[WORKER_BOOT_ENV];

export const boot: WorkerBoot | null = raw === undefined ? null : (JSON.parse(raw) as WorkerBoot);
