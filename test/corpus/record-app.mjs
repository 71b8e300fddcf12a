// Fixture for the HTTP corpus test (node interface, so it sees the request as node:http parsed it).
//
// Every request is written to the file named by CORPUS_RECORD_FILE, one JSON line per event and
// with one synchronous append each, so the test can see what reached the app even when the request
// never completes: `{ phase: 'head', seq, ... }` as soon as the head arrives, then exactly one of
// `{ phase: 'end', seq, ... }` (the body was read to its end) or `{ phase: 'aborted', seq, ... }`
// (the body failed or the connection went away first). A completed request is answered 200 with the
// same description as JSON. `GET /__corpus_health` answers the worker pid and is not recorded.
import { appendFileSync } from 'node:fs';

const file = process.env.CORPUS_RECORD_FILE;
if (!file) throw new Error('record-app.mjs needs CORPUS_RECORD_FILE');

let seq = 0;

function record(entry) {
  appendFileSync(file, `${JSON.stringify({ ...entry, pid: process.pid })}\n`);
}

export default function recordApp(req, res) {
  if (req.url === '/__corpus_health') {
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ pid: process.pid }));
    return;
  }
  const id = `${process.pid}:${++seq}`;
  const head = {
    seq: id,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    rawHeaders: req.rawHeaders,
    // What unicorn-ts tells the app about the connection (informational).
    scheme: req.unicorn?.scheme,
  };
  record({ phase: 'head', ...head });
  const chunks = [];
  let settled = false;
  const body = () => Buffer.concat(chunks).toString('base64');
  const abort = (why) => {
    if (settled) return;
    settled = true;
    record({ phase: 'aborted', seq: id, why, bodyBase64: body() });
  };
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('error', (err) => abort(err.code ?? err.message));
  req.on('aborted', () => abort('aborted'));
  res.on('close', () => abort('response closed before the body ended'));
  req.on('end', () => {
    if (settled) return;
    settled = true;
    const full = { ...head, bodyBase64: body(), rawTrailers: req.rawTrailers };
    record({ phase: 'end', ...full });
    const json = JSON.stringify(full);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  });
}
