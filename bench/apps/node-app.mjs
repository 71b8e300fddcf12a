// The node-interface hello app: `(req, res)` on node:http objects. unicorn-ts loads it with
// `--interface node`; the hand-written cluster servers, the bare node:http server and the PM2 app all
// serve this same handler, so every Node target runs identical application code.
//
// Paths (the same in every app of this folder, Node or Python):
//   /           13-byte "Hello, World!" text/plain - the benchmark proper
//   /heavy      burns 20 ms of CPU first (mixed workload)
//   /upload     POST: reads and discards the body, answers with the byte count (streaming test)
//   /download   ?bytes=N streams N bytes in 64 KiB chunks, honouring back-pressure (streaming test)
//   /pid        the serving process id (worker replacement test)
// and a WebSocket upgrade on any path echoes every message (the ws-echo workload): `upgrade` below,
// on ws in noServer mode, which unicorn-ts (the node interface's `upgrade` export) and the hand-written
// cluster servers (their servers' 'upgrade' event) both call.

import { WebSocketServer } from 'ws';

const HELLO = 'Hello, World!';
const CHUNK = Buffer.alloc(64 * 1024, 'x');
const HEAVY_MS = 20;

/** Busy loop: the point is to hold the CPU (and the event loop) like real request work would. */
export function burn(ms) {
  const end = performance.now() + ms;
  let spins = 0;
  while (performance.now() < end) spins++;
  return spins;
}

function hello(res) {
  res.statusCode = 200;
  res.setHeader('content-type', 'text/plain');
  res.setHeader('content-length', 13);
  res.end(HELLO);
}

function download(req, res) {
  const q = req.url.indexOf('bytes=');
  let left = q >= 0 ? Number(req.url.slice(q + 6)) : 1024 * 1024;
  res.statusCode = 200;
  res.setHeader('content-type', 'application/octet-stream');
  res.setHeader('content-length', left);
  // Write until the socket buffer is full, then wait for 'drain': memory stays flat whatever the size.
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      const more = res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
      if (left === 0) break;
      if (!more) return res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

function upload(req, res) {
  let bytes = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
  });
  req.on('end', () => {
    const body = String(bytes);
    res.statusCode = 200;
    res.setHeader('content-type', 'text/plain');
    res.setHeader('content-length', body.length);
    res.end(body);
  });
}

const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false });

function echo(ws) {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

export function upgrade(req, socket, head) {
  wss.handleUpgrade(req, socket, head, echo);
}

export default function handler(req, res) {
  const url = req.url;
  if (url === '/') return hello(res);
  if (url === '/heavy') {
    burn(HEAVY_MS);
    return hello(res);
  }
  if (url === '/upload') return upload(req, res);
  if (url.startsWith('/download')) return download(req, res);
  if (url === '/pid') {
    res.setHeader('content-type', 'text/plain');
    return res.end(String(process.pid));
  }
  res.statusCode = 404;
  res.end();
}
