/** The smallest fetch app: `npx unicorn-ts examples/hello.ts -w 4`. */
export default function hello(request: Request): Response {
  const { pathname } = new URL(request.url);
  return new Response(`Hello, World! (${pathname}, worker ${process.pid})\n`, {
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}
