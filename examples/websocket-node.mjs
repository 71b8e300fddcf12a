/**
 * WebSockets on the node interface: the module exports `upgrade(req, socket, head, info)` next to
 * its (req, res) handler, and hands each handshake to a `ws` WebSocketServer in noServer mode. The
 * worker attaches `upgrade` before it accepts, pings open sockets (--ws-ping-interval), and on a
 * reload or stop closes them with 1001 (going away) so clients reconnect to the new workers.
 *
 *   npx unicorn-ts examples/websocket-node.mjs -w 2
 *   npx wscat -c ws://localhost:8000/    # or any WebSocket client
 *
 * Each message comes back upper-cased; the first message a client gets names its worker.
 */
import { WebSocketServer } from 'ws';

// The app owns its WebSocketServer, so the limits are set here (--ws-max-message is the fetch
// interface's): 64 KiB messages at most, a larger one closes the connection with 1009.
const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

wss.on('connection', (ws, req) => {
  // A client's bad frames or oversized message: ws closes that connection; nothing to log here.
  ws.on('error', () => {});
  ws.send(`hello from worker ${process.pid} (${req.url})`);
  ws.on('message', (data, isBinary) => {
    ws.send(isBinary ? data : data.toString().toUpperCase(), { binary: isBinary });
  });
});

export function upgrade(req, socket, head, info) {
  if (req.url !== '/' && !req.url.startsWith('/?')) {
    info.log.info({ url: req.url }, 'no WebSocket here');
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
}

export default function handler(req, res) {
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(`Connect a WebSocket client to ws://${req.headers.host ?? 'localhost'}/\n`);
}
