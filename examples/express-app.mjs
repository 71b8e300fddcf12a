/**
 * A real Express app, served as it is: unicorn-ts recognises an Express app (a function with use()
 * and handle()) and calls it with the node interface. There is no app.listen(): the master owns the
 * listening socket and hands it to every worker.
 *
 *   npx unicorn-ts examples/express-app.mjs -w 2
 *   curl localhost:8000/api/hello?name=Ada
 *   curl -X POST localhost:8000/api/notes -H 'content-type: application/json' -d '{"text":"hi"}'
 */
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';

const app = express();
app.use(express.json());

// Each worker process has its own memory: notes stored here are per worker, and lost on restart.
// A real app would keep them in a database shared by all workers.
const notes = [];

// GET /api/hello?name=Ada -> 200 {"greeting":"Hello, Ada!","worker":1234}
app.get('/api/hello', (req, res) => {
  const name = typeof req.query.name === 'string' ? req.query.name : 'World';
  res.json({ greeting: `Hello, ${name}!`, worker: process.pid });
});

// POST /api/notes {"text":"..."} -> 201 with the stored note, or 400 when `text` is missing.
app.post('/api/notes', (req, res) => {
  const text = req.body?.text;
  if (typeof text !== 'string' || text === '') {
    res.status(400).json({ error: 'expected a JSON body like {"text": "..."}' });
    return;
  }
  const note = { id: notes.length + 1, text };
  notes.push(note);
  res.status(201).json(note);
});

// GET /api/stream?n=3 -> "line 1 of 3\n" ... each line written as it is produced.
app.get('/api/stream', async (req, res) => {
  const n = Number(req.query.n ?? 3);
  res.type('text/plain');
  for (let i = 1; i <= n; i++) {
    res.write(`line ${i} of ${n}\n`);
    await sleep(20);
  }
  res.end();
});

// GET /api/boom -> Express's default error handler: 500, and the stack on standard error.
app.get('/api/boom', () => {
  throw new Error('boom');
});

// Anything else: a JSON 404 rather than Express's HTML page.
app.use((req, res) => {
  res.status(404).json({ error: `no route for ${req.method} ${req.path}` });
});

export default app;

// Runs once the worker has finished its last request: close pools here.
export async function shutdown() {
  console.log(`express-app: shutdown in worker ${process.pid}`);
}
