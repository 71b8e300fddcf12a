/**
 * WebSockets on the fetch interface, with Hono: `upgradeWebSocket` from `unicorn-ts/hono` is Hono's
 * own helper, built on `info.upgradeWebSocket()` (Deno's `{ response, socket }` shape). Without
 * Hono, a fetch handler calls `info.upgradeWebSocket()` itself (docs/contract.md, section 9).
 *
 *   npx unicorn-ts examples/websocket-hono.ts -w 2 --ws-max-message 65536
 *   npx wscat -c ws://localhost:8000/ws
 *
 * Each message comes back as `echo: ...`; `pid` answers with the worker's pid.
 */
import { Hono } from 'hono';
import { upgradeWebSocket } from 'unicorn-ts/hono';

const app = new Hono();

app.get('/', (c) => c.text('Connect a WebSocket client to /ws\n'));

app.get(
  '/ws',
  upgradeWebSocket(() => ({
    onOpen(_event, ws) {
      ws.send(`hello from worker ${process.pid}`);
    },
    onMessage(event, ws) {
      const text = String(event.data);
      ws.send(text === 'pid' ? String(process.pid) : `echo: ${text}`);
    },
  })),
);

export default app;
