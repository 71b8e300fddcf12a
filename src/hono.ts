/**
 * `unicorn-ts/hono`: Hono's `upgradeWebSocket` helper for apps served by unicorn-ts's fetch
 * interface, on `info.upgradeWebSocket()` (Hono passes the fetch handler's second argument, the
 * request info, as `c.env`). It mirrors Hono's own Deno adapter, which has the same shape.
 *
 *   import { upgradeWebSocket } from 'unicorn-ts/hono';
 *   app.get('/ws', upgradeWebSocket(() => ({ onMessage: (event, ws) => ws.send(String(event.data)) })));
 *
 * `hono` is an optional peer dependency: only this entry point imports it.
 */

import { defineWebSocketHelper, WSContext, type WSReadyState } from 'hono/ws';
import type { RequestInfo } from './http/request-info.js';
import type { UnicornWebSocket, UpgradeWebSocketOptions } from './http/websocket.js';

export const upgradeWebSocket = defineWebSocketHelper<UnicornWebSocket, UpgradeWebSocketOptions>(
  (c, events, options) => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return;
    const info = c.env as RequestInfo | undefined;
    if (info === undefined || typeof info.upgradeWebSocket !== 'function') {
      throw new TypeError(
        "unicorn-ts/hono's upgradeWebSocket needs the app served by unicorn-ts's fetch interface (c.env is the request info)",
      );
    }
    const offered = c.req.header('sec-websocket-protocol')?.split(',')[0]?.trim();
    const { response, socket } = info.upgradeWebSocket({
      ...(offered ? { protocol: offered } : {}),
      ...options,
    });
    const ws = new WSContext<UnicornWebSocket>({
      close: (code, reason) => socket.close(code, reason),
      get protocol() {
        return socket.protocol;
      },
      raw: socket,
      get readyState() {
        return socket.readyState as WSReadyState;
      },
      url: socket.url,
      send: (source) => socket.send(source),
    });
    socket.onopen = (event) => events.onOpen?.(event, ws);
    socket.onmessage = (event) => events.onMessage?.(event, ws);
    socket.onclose = (event) => events.onClose?.(event, ws);
    socket.onerror = (event) => events.onError?.(event, ws);
    return response;
  },
);
