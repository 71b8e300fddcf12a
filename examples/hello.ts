/**
 * The smallest fetch app: a function that takes a Web `Request` and returns a `Response`.
 *
 *   npx unicorn-ts examples/hello.ts -w 4
 *
 * unicorn-ts sees a function of one parameter and serves it with the fetch interface (the
 * `worker.app_loaded` log line says which interface it chose and why). Each of the 4 workers is a
 * separate process, so the pid in the reply changes from one connection to the next.
 */
export default function hello(request: Request): Response {
  const { pathname } = new URL(request.url);
  return new Response(`Hello, World! (${pathname}, worker ${process.pid})\n`, {
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}
