/**
 * `cluster.fork()` with a fork the system refused reported as an error, never as a worker without a
 * process. node:child_process reports a failed spawn two ways: most errors (EMFILE, ENFILE, EAGAIN,
 * EACCES, ENOENT) come as an 'error' event a tick later, on a worker whose `process.pid` is
 * undefined and whose stdio was never made; any other (ENOMEM) is thrown at once. Either way no
 * 'exit' ever comes, so the master must not keep a record of that worker.
 */

import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';

export async function forkWorker(env: NodeJS.ProcessEnv): Promise<Worker | Error> {
  let worker: Worker;
  try {
    worker = cluster.fork(env);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  // cluster's Worker re-emits its process's 'error': without a listener that would throw.
  worker.on('error', () => {});
  if (worker.process.pid !== undefined) return worker;
  const [err] = (await once(worker.process, 'error')) as [Error];
  // cluster forgets a worker when its process exits or disconnects; this one will do neither.
  if (cluster.workers !== undefined) delete cluster.workers[worker.id];
  return err;
}
