/**
 * A real Koa app, served as it is: export the Koa application. unicorn-ts recognises it and serves
 * `app.callback()`, the handler Koa gives its own server. There is no `app.listen()`: the master
 * owns the listening socket. Koa has no close(); the module's `shutdown()` runs when the worker
 * stops, after its last request.
 *
 *   npx unicorn-ts examples/koa-app.mjs -w 2
 *   curl localhost:8000/hello/Ada
 *   curl -X POST localhost:8000/notes -H 'content-type: application/json' -d '{"text":"hi"}'
 *   curl -N 'localhost:8000/stream?n=5'
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';

const app = new Koa();
// Behind a proxy, ctx.ip and ctx.protocol read X-Forwarded-* only with app.proxy on (docs/frameworks.md).
app.proxy = process.env.BEHIND_PROXY === '1';

// Errors: a JSON body for the client, the stack for the error log (Koa's own 'error' event).
app.use(async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    ctx.status = err.status ?? 500;
    ctx.body = { error: ctx.status === 500 ? 'internal error' : err.message };
    ctx.app.emit('error', err, ctx);
  }
});
app.on('error', (err) => {
  if ((err.status ?? 500) >= 500) console.error(`koa-app: ${err.stack}`);
});

async function readJson(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return JSON.parse(text);
}

const notes = [];

// A small router: method and path to a handler.
const routes = {
  'GET /hello/:name': (ctx, name) => {
    ctx.body = { greeting: `Hello, ${name}!`, worker: process.pid, ip: ctx.ip };
  },
  // POST /notes {"text":"..."} -> 201, or 400 when the body is not that.
  'POST /notes': async (ctx) => {
    const body = await readJson(ctx.req).catch(() => null);
    if (typeof body?.text !== 'string' || body.text === '')
      ctx.throw(400, 'expected a JSON body like {"text": "..."}');
    const note = { id: notes.length + 1, text: body.text };
    notes.push(note);
    ctx.status = 201;
    ctx.body = note;
  },
  // GET /stream?n=3 -> "line 1 of 3\n" ... sent as they are produced.
  'GET /stream': (ctx) => {
    const n = Number(ctx.query.n ?? 3);
    async function* lines() {
      for (let i = 1; i <= n; i++) {
        yield `line ${i} of ${n}\n`;
        await sleep(20);
      }
    }
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = Readable.from(lines());
  },
  'GET /boom': () => {
    throw new Error('boom');
  },
};

app.use(async (ctx) => {
  for (const [key, handler] of Object.entries(routes)) {
    const [method, pattern] = key.split(' ');
    const match = new RegExp(`^${pattern.replace(/:\w+/g, '([^/]+)')}$`).exec(ctx.path);
    if (method === ctx.method && match) return handler(ctx, ...match.slice(1).map(decodeURIComponent));
  }
  ctx.status = 404;
  ctx.body = { error: `no route for ${ctx.method} ${ctx.path}` };
});

export default app;

// Runs once the worker has finished its last request: close pools here.
export async function shutdown() {
  console.log(`koa-app: shutdown in worker ${process.pid}`);
}
