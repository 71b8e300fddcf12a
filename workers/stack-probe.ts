/**
 * Starts the stack probe's thread (workers/stack-probe-thread.ts) when the master opened the probe
 * pipe for this worker (--timeout-stack). The thread costs a few MiB of memory and nothing per
 * request (the request board is plain shared memory); it does not keep the worker alive.
 */

import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';

/**
 * `fd` is the probe pipe the master opened for this worker, null with --timeout-stack off; `board`
 * is where the main thread posts the request it is busy with (workers/request-board.ts).
 */
export function startStackProbe(
  fd: number | null,
  board: SharedArrayBuffer,
  onError: (err: unknown) => void,
): void {
  if (fd === null) return;
  // Built (.js) or run from source (.ts), the thread's file sits next to this one.
  const here = fileURLToPath(import.meta.url);
  const file =
    here.slice(0, -extname(here).length).replace(/stack-probe$/, 'stack-probe-thread') + extname(here);
  if (!existsSync(file)) {
    onError(new Error(`missing ${file}`));
    return;
  }
  const thread = new Thread(file, {
    workerData: { fd, cwd: process.cwd(), board },
    // The thread holds a session and a few small maps; a small heap keeps its footprint small.
    resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    stdout: false,
    stderr: false,
  });
  thread.unref();
  thread.on('error', onError);
}
