/**
 * The two app interfaces, as adapters the request pipeline calls once a request is admitted: each
 * runs the app for one request and routes whatever goes wrong to `failed` (which logs and answers
 * 500). What is common to both (admission, limits, timeouts, hooks, the access log) stays in the
 * pipeline in workers/pipeline.ts.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  discardResponse,
  fetchHandlerOf,
  NotAResponseError,
  toRequest,
  writeResponse,
} from '../src/http/fetch-adapter.js';
import type { LazyAbort } from '../src/http/lazy-request.js';
import type { RequestInfo } from '../src/http/request-info.js';

/** Runs the app for one request; `abort` fires when the client leaves or the request times out. */
export type AppCall = (req: IncomingMessage, res: ServerResponse, abort: LazyAbort) => void;

/** What an adapter needs from the worker around it. */
export interface AppCallContext {
  info(req: IncomingMessage, abort: LazyAbort): RequestInfo;
  failed(req: IncomingMessage, res: ServerResponse, err: unknown): void;
  /** Responses keep their headers on the ServerResponse (see PipelineOptions.responseHeadersRead). */
  readonly keepHeaders: boolean;
}

const RETURNED_RESPONSE =
  'the node handler returned a Response; if the app is a fetch handler, start unicorn-ts with --interface fetch';

/** `(request, info) => Response`: the Response is written back with backpressure. */
export function fetchAppCall(app: unknown, ctx: AppCallContext): AppCall {
  const fetchHandler = fetchHandlerOf(app);
  return (req, res, abort) => {
    const info = ctx.info(req, abort);
    let result: Response | Promise<Response>;
    try {
      result = fetchHandler(toRequest(req, info.scheme, abort), info);
    } catch (err) {
      ctx.failed(req, res, err);
      return;
    }
    void respond(result, req, res, abort, ctx);
  };
}

/**
 * Waits for the app's Response and writes it. One async function rather than a `then`/`catch`
 * chain: one promise per request instead of three, and no closures.
 */
async function respond(
  result: Response | Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
  abort: LazyAbort,
  ctx: AppCallContext,
): Promise<void> {
  try {
    const response = await result;
    if (!(response instanceof Response)) throw new NotAResponseError(response);
    // The server answered this request itself while the app ran (its body failed: a malformed
    // chunk, a body past --limit-request-body), and the request's signal aborts only once that answer
    // is out, which a pipelined response before it can delay past this point: the app's Response has
    // nowhere to go, and is not the app's error.
    if (res.headersSent) {
      discardResponse(response);
      return;
    }
    const writing = writeResponse(res, response, ctx.keepHeaders);
    if (writing !== undefined) await writing;
  } catch (err) {
    if (abort.aborted) return; // the client left or the request timed out; nothing to answer
    ctx.failed(req, res, err);
  }
}

/** `(req, res)`: the app writes the response itself; `req.unicorn` carries the request info. */
export function nodeAppCall(app: unknown, ctx: AppCallContext): AppCall {
  const handler = app as (req: IncomingMessage, res: ServerResponse) => unknown;
  return (req, res, abort) => {
    (req as IncomingMessage & { unicorn?: RequestInfo }).unicorn = ctx.info(req, abort);
    let result: unknown;
    try {
      result = handler(req, res);
    } catch (err) {
      ctx.failed(req, res, err);
      return;
    }
    // A fetch handler started with --interface node: say so rather than leave the client hanging.
    // (Checked only on objects: the global Response loads undici, which most node apps never need.)
    if (isResponse(result)) {
      ctx.failed(req, res, new Error(RETURNED_RESPONSE));
    } else if (result instanceof Promise) {
      result.then(
        (value) => {
          if (isResponse(value)) ctx.failed(req, res, new Error(RETURNED_RESPONSE));
        },
        (err: unknown) => ctx.failed(req, res, err),
      );
    }
  };
}

function isResponse(value: unknown): value is Response {
  return (
    typeof value === 'object' && value !== null && !(value instanceof Promise) && value instanceof Response
  );
}
