// WebSocket echo load generator: opens C WebSockets (at most 100 handshakes in flight at a time), then
// each one runs a closed loop for D seconds: send a 32-byte text message, wait for its echo, repeat.
// Every round trip is timed. Messages/s counts echoes received during the timed window only (the
// opening is not timed). ws's own client, like the servers, so both ends run the same frame code.
//
// usage: node ws-echo.mjs PORT CONNECTIONS SECONDS PATH  -> one JSON line on stdout

import WebSocket from 'ws';

const [portText, connectionsText, secondsText, path = '/'] = process.argv.slice(2);
const port = Number(portText);
const connections = Number(connectionsText);
const seconds = Number(secondsText);
const MESSAGE = 'x'.repeat(32);
const OPEN_TIMEOUT_MS = 20_000;

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('handshake timeout'));
    }, OPEN_TIMEOUT_MS);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`handshake answered ${res.statusCode}`));
    });
  });
}

const sockets = [];
let errors = 0;
let failedOpen = null;
for (let i = 0; i < connections && failedOpen === null; i += 100) {
  const batch = await Promise.allSettled(
    Array.from({ length: Math.min(100, connections - i) }, () => open()),
  );
  for (const r of batch) {
    if (r.status === 'fulfilled') sockets.push(r.value);
    else failedOpen ??= r.reason.message;
  }
}
if (failedOpen !== null) {
  for (const ws of sockets) ws.terminate();
  console.log(JSON.stringify({ ok: false, reason: `opening ${connections} WebSockets: ${failedOpen}` }));
  process.exit(0);
}

const latencies = [];
let received = 0;
const start = performance.now();
const deadline = start + seconds * 1000;

function loop(ws) {
  return new Promise((resolve) => {
    let sentAt = 0;
    const next = () => {
      if (performance.now() >= deadline) return resolve();
      sentAt = performance.now();
      ws.send(MESSAGE);
    };
    ws.on('message', () => {
      const now = performance.now();
      if (now <= deadline) {
        latencies.push(now - sentAt);
        received++;
      }
      next();
    });
    ws.on('close', () => {
      if (performance.now() < deadline) errors++;
      resolve();
    });
    ws.on('error', () => {});
    next();
  });
}

await Promise.all(sockets.map(loop));
const elapsed = Math.min(performance.now(), deadline) - start;
for (const ws of sockets) ws.terminate();
latencies.sort((a, b) => a - b);
const pct = (p) =>
  latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] : null;
console.log(
  JSON.stringify({
    ok: received > 0,
    reason: received > 0 ? undefined : 'no echo received',
    connections: sockets.length,
    messages: received,
    mps: (received * 1000) / elapsed,
    p50: pct(0.5),
    p99: pct(0.99),
    errors,
  }),
);
process.exit(0);
