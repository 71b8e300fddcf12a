/**
 * A config file: settings by their camelCase names (see `npx unicorn-ts --help`, or src/settings.ts),
 * plus server hooks. Use it with -c; a file named unicorn.config.ts in the working directory is
 * picked up without it.
 *
 *   npx unicorn-ts examples/hello.ts -c examples/unicorn.config.ts
 *
 * Flags on the command line win over this file: `-w 4` here still gives 4 workers, and
 * `--print-config` shows every setting with where its value came from.
 *
 * Hooks in the master receive `server` first; hooks in a worker receive `worker` first. Both carry a
 * `log` that writes to unicorn-ts's error log: log.info(event, message, fields). The event names
 * below ("app.hook") are this file's own; unicorn-ts's events are listed in src/log-events.ts.
 */

import type { IncomingMessage } from 'node:http';
import type { UnicornConfig } from 'unicorn-ts';

/** The node:http request, with a start time the preRequest hook adds. */
type TimedRequest = IncomingMessage & { startedAt?: number };

// Requests slower than this many ms are logged by postRequest. From the environment, so you can
// try it with SLOW_REQUEST_MS=0 to see every request.
const slowRequestMs = Number(process.env.SLOW_REQUEST_MS ?? 1000);

export default {
  // -- settings
  workers: 2, // worker processes; 'auto' means one per CPU available
  bind: ['127.0.0.1:8000'], // HOST:PORT or unix:PATH; several are allowed
  timeout: 20, // seconds a worker's event loop may be blocked before the master replaces it
  accessLogfile: '-', // access log to standard output (it is off by default)

  // -- hooks in the master
  onStarting(server) {
    server.log.info({ event: 'app.hook', hook: 'onStarting' }, `Starting with ${server.numWorkers} workers`);
  },
  postFork(server, worker) {
    server.log.info(
      { event: 'app.hook', hook: 'postFork', workerPid: worker.pid },
      `Forked worker ${worker.age} (pid ${worker.pid})`,
    );
  },
  whenReady(server) {
    server.log.info(
      { event: 'app.hook', hook: 'whenReady', workerPids: server.workerPids },
      `All ${server.numWorkers} workers are serving`,
    );
  },
  nworkersChanged(server, now, before) {
    server.log.info(
      { event: 'app.hook', hook: 'nworkersChanged', now, before },
      `Worker count changed from ${before} to ${now}`,
    );
  },
  childExit(server, worker) {
    server.log.info(
      { event: 'app.hook', hook: 'childExit', workerPid: worker.pid },
      `Worker ${worker.age} (pid ${worker.pid}) is gone`,
    );
  },
  onExit(server) {
    server.log.info({ event: 'app.hook', hook: 'onExit' }, 'Goodbye');
  },

  // -- hooks in each worker
  postWorkerInit(worker) {
    // The app is loaded but no request has arrived yet: a place to open connection pools.
    worker.log.info({ event: 'app.hook', hook: 'postWorkerInit' }, `Worker ${worker.age} loaded the app`);
  },
  preRequest(_worker, req: TimedRequest) {
    req.startedAt = performance.now();
  },
  postRequest(worker, req: TimedRequest) {
    const ms = performance.now() - (req.startedAt ?? performance.now());
    if (ms >= slowRequestMs) {
      worker.log.warn(
        { event: 'app.hook', hook: 'postRequest', ms },
        `Slow request: ${req.method} ${req.url} took ${ms.toFixed(1)} ms`,
      );
    }
  },
} satisfies UnicornConfig;
