/**
 * A real Hono app, served as it is: a Hono app is an object with a fetch() method, so unicorn-ts
 * calls it with the fetch interface. There is no serve() call: the master owns the listening socket
 * and hands it to every worker.
 *
 *   npx unicorn-ts examples/hono-app.ts -w 2
 *   curl localhost:8000/hello/Ada
 *
 * Handlers here use only the request (`c.req`) and Hono's response helpers; nothing in this example
 * depends on `c.env`, which in Hono depends on the server it runs under.
 */
import { Hono } from 'hono';
import { streamText } from 'hono/streaming';

const app = new Hono();

// GET / -> plain text.
app.get('/', (c) => c.text(`Hello from Hono (worker ${process.pid})\n`));

// GET /hello/Ada?lang=fr -> {"greeting":"Bonjour, Ada!"}
app.get('/hello/:name', (c) => {
  const name = c.req.param('name');
  const greeting = c.req.query('lang') === 'fr' ? `Bonjour, ${name}!` : `Hello, ${name}!`;
  return c.json({ greeting });
});

// POST /echo with a JSON body -> the same body back, with 201.
app.post('/echo', async (c) => {
  const body: unknown = await c.req.json();
  return c.json({ received: body }, 201);
});

// GET /stream?n=3 -> "line 1 of 3\n" ... each line sent as it is produced.
app.get('/stream', (c) => {
  const n = Number(c.req.query('n') ?? 3);
  return streamText(c, async (stream) => {
    for (let i = 1; i <= n; i++) {
      await stream.writeln(`line ${i} of ${n}`);
      await stream.sleep(20);
    }
  });
});

// GET /boom -> Hono's default error handler: 500, and the error on standard error.
app.get('/boom', () => {
  throw new Error('boom');
});

// Unknown paths: a JSON 404.
app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

export default app;

// Runs once the worker has finished its last request: close pools here.
export async function shutdown(): Promise<void> {
  console.log(`hono-app: shutdown in worker ${process.pid}`);
}
