/**
 * The worker's half of src/master/early-listen.ts: the first module a worker evaluates. When the
 * master passed it copies of freshly bound sockets (`listenFds` in the boot payload), it switches
 * each to listening and closes its copy straight away, in one synchronous step, so this process
 * never accepts on them; then it tells the master. Everything else about the worker comes later.
 */

import { closeSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { IPC_NS, type WorkerMessage } from '../src/ipc.js';
import { createServerHandle } from '../src/node-internals.js';
import { boot } from './boot.js';

function prime(fds: readonly number[], backlog: number): string | null {
  const failures: string[] = [];
  for (const fd of fds) {
    try {
      const handle = createServerHandle(null, 0, 0, fd);
      if (typeof handle === 'number') {
        closeSync(fd);
        failures.push(`fd ${fd}: ${getSystemErrorName(handle)}`);
        continue;
      }
      const err = handle.listen?.(backlog) ?? -1;
      handle.close();
      if (err !== 0) failures.push(`fd ${fd}: ${getSystemErrorName(err)}`);
    } catch (err) {
      failures.push(`fd ${fd}: ${(err as Error).message}`);
    }
  }
  return failures.length === 0 ? null : failures.join('; ');
}

if (boot !== null && boot.listenFds.length > 0) {
  const message: WorkerMessage = {
    ns: IPC_NS,
    act: 'queueing',
    failure: prime(boot.listenFds, boot.settings.backlog),
  };
  process.send?.(message);
}
