/**
 * A real Fastify app, served as it is: export the Fastify instance. unicorn-ts recognises it, awaits
 * `ready()` in each worker, hands every request to `fastify.routing` (the handler Fastify gives its
 * own server) and calls `close()` when the worker stops, so `onClose` hooks run. There is no
 * `listen()`: the master owns the listening socket.
 *
 *   npx unicorn-ts examples/fastify-app.mjs -w 2
 *   curl localhost:8000/hello/Ada
 *   curl -X POST localhost:8000/notes -H 'content-type: application/json' -d '{"text":"hi"}'
 *   curl -N 'localhost:8000/stream?n=5'
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';

// Behind a proxy, Fastify reads X-Forwarded-* only when told to trust it (docs/frameworks.md).
const app = Fastify({ trustProxy: '127.0.0.1' });

// GET /hello/Ada -> {"greeting":"Hello, Ada!","worker":1234,"ip":"..."}
app.get('/hello/:name', async (request) => ({
  greeting: `Hello, ${request.params.name}!`,
  worker: process.pid,
  ip: request.ip,
}));

// POST /notes {"text":"..."} -> 201; the schema answers 400 when `text` is missing.
const notes = [];
app.post(
  '/notes',
  {
    schema: {
      body: {
        type: 'object',
        required: ['text'],
        properties: { text: { type: 'string', minLength: 1 } },
      },
    },
  },
  async (request, reply) => {
    const note = { id: notes.length + 1, text: request.body.text };
    notes.push(note);
    return reply.code(201).send(note);
  },
);

// GET /stream?n=3 -> "line 1 of 3\n" ... sent as they are produced.
app.get('/stream', async (request, reply) => {
  const n = Number(request.query.n ?? 3);
  async function* lines() {
    for (let i = 1; i <= n; i++) {
      yield `line ${i} of ${n}\n`;
      await sleep(20);
    }
  }
  return reply.type('text/plain; charset=utf-8').send(Readable.from(lines()));
});

// GET /boom -> Fastify's error handler answers 500 and logs the error (when its logger is on).
app.get('/boom', async () => {
  throw new Error('boom');
});

app.setNotFoundHandler((request, reply) => {
  reply.code(404).send({ error: `no route for ${request.method} ${request.url}` });
});

// Runs when unicorn-ts closes the instance, once the worker has drained: close pools here.
app.addHook('onClose', async () => {
  console.log(`fastify-app: onClose in worker ${process.pid}`);
});

export default app;
