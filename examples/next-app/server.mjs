/**
 * Next.js in production, served by unicorn-ts: export the Next.js server that a custom server
 * would create. unicorn-ts recognises it, awaits `prepare()` in each worker, hands every request to
 * `getRequestHandler()` and calls `close()` when the worker stops. Build first (`next build`), and
 * run with NODE_ENV=production.
 *
 *   (cd examples/next-app && npx next build --webpack)
 *   NODE_ENV=production npx unicorn-ts examples/next-app/server.mjs -w 2
 *   curl localhost:8000/hello/Ada
 */
import next from 'next';

export default next({ dev: false, dir: import.meta.dirname });

// Runs once the worker has drained and Next.js is closed: close pools here.
export async function shutdown() {
  console.log(`next-app: shutdown in worker ${process.pid}`);
}
