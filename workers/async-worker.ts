import type { Admissible } from './pipeline.js';
import { Worker } from './worker.js';

/**
 * The default worker: many requests in flight at once, up to --worker-connections. Beyond that a
 * request is answered 503 at once: shedding load keeps latency bounded for the requests admitted.
 */
export class AsyncWorker extends Worker {
  protected override admit(request: Admissible): void {
    if (this.inflight >= this.settings.workerConnections) {
      this.shed(request.res);
      return;
    }
    request.run();
  }
}
