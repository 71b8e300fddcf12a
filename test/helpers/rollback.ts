/** What every rolled-back reload must leave behind, checked the same way wherever a test causes one. */
import assert from 'node:assert/strict';
import type { Server } from './server.js';
import { observeFor } from './wait.js';

/** Pids of the workers forked since log line `mark`. */
export function bootedSince(server: Server, mark: number): number[] {
  return server.logs
    .slice(mark)
    .filter((l) => l.event === 'worker.booting')
    .map((l) => l.workerPid as number);
}

/**
 * After a HUP sent at log line `mark` that is rolled back: the reload fails, every worker it forked
 * exits, and for three seconds after that nothing boots and no crash-loop backoff starts.
 */
export async function expectQuietRollback(server: Server, mark: number): Promise<void> {
  await server.waitForEvent('reload.failed', () => true, { after: mark, level: 'error' });
  for (const pid of bootedSince(server, mark)) {
    await server.waitForEvent('worker.exited', (l) => l.workerPid === pid, { level: 'error' });
  }
  const quiet = server.logs.length;
  await observeFor(3000);
  assert.deepEqual(bootedSince(server, quiet), [], 'no worker boots after the rollback');
  assert.equal(server.events('worker.backoff').length, 0, 'no crash loop');
}
