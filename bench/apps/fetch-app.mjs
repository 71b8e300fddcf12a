// The fetch-interface hello app for unicorn-ts (`--interface fetch`): Request in, Response out.
// Same paths and behaviour as node-app.mjs (see the list there), WebSocket echo included.

import { burn } from './node-app.mjs';

const HEADERS = { 'content-type': 'text/plain' };
const CHUNK = new Uint8Array(64 * 1024).fill(120);

/** Path and query without building a URL object: keeps the app's own cost out of the measurement. */
function target(url) {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  return slash < 0 ? '/' : url.slice(slash);
}

function download(path) {
  const q = path.indexOf('bytes=');
  let left = q >= 0 ? Number(path.slice(q + 6)) : 1024 * 1024;
  const total = left;
  // pull() is only called when the consumer wants more, so the stream applies back-pressure by itself.
  const body = new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close();
      const n = Math.min(left, CHUNK.length);
      left -= n;
      controller.enqueue(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
  return new Response(body, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(total) },
  });
}

/** The ws-echo workload: info.upgradeWebSocket(), every message echoed. */
function webSocket(info) {
  const { response, socket } = info.upgradeWebSocket();
  socket.onmessage = (event) => socket.send(event.data);
  return response;
}

export default async function app(request, info) {
  if (request.headers.get('upgrade') === 'websocket') return webSocket(info);
  const path = target(request.url);
  if (path === '/') return new Response('Hello, World!', { headers: HEADERS });
  if (path === '/heavy') {
    burn(20);
    return new Response('Hello, World!', { headers: HEADERS });
  }
  if (path === '/upload') {
    let bytes = 0;
    for await (const chunk of request.body ?? []) bytes += chunk.byteLength;
    return new Response(String(bytes), { headers: HEADERS });
  }
  if (path.startsWith('/download')) return download(path);
  if (path === '/pid') return new Response(String(process.pid), { headers: HEADERS });
  return new Response(null, { status: 404 });
}
