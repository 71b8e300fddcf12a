/**
 * Streaming both ways with the fetch interface.
 *
 *   npx unicorn-ts examples/streaming.ts
 *   curl -N 'localhost:8000/lines?n=20'           # one line every 100 ms; Ctrl-C stops it early
 *   curl -T big.iso localhost:8000/upload          # the body is counted as it arrives, never held
 *
 * The handler takes `(request, info)`. unicorn-ts picks the fetch interface because the second
 * parameter is named `info`; `info.signal` fires when the client goes away before the response is
 * complete, and `info.log` writes to unicorn-ts's error log, tagged with this request.
 */

/** The part of unicorn-ts's `info` argument this example uses (see src/http/request-info.ts). */
interface Info {
  readonly signal: AbortSignal;
  readonly log: { info(fields: object, msg: string): void };
}

const encoder = new TextEncoder();

export default async function streaming(request: Request, info: Info): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/lines' && request.method === 'GET') return lines(url, info);
  if (url.pathname === '/upload' && (request.method === 'POST' || request.method === 'PUT')) {
    return upload(request);
  }
  return new Response('try GET /lines?n=10 or POST /upload\n', { status: 404 });
}

/** GET /lines?n=N&ms=MS: N numbered lines (default 10, at most 1000), one every MS ms (default 100). */
function lines(url: URL, info: Info): Response {
  const total = Math.min(1000, Math.max(1, Number(url.searchParams.get('n')) || 10));
  const every = Math.min(10_000, Math.max(1, Number(url.searchParams.get('ms')) || 100));
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // The client left: stop the timer, or it would keep producing lines nobody reads.
      const onAbort = () => {
        clearInterval(timer);
        info.log.info({ sent, total }, `client left after ${sent} of ${total} lines`);
      };
      info.signal.addEventListener('abort', onAbort, { once: true });

      timer = setInterval(() => {
        sent++;
        controller.enqueue(encoder.encode(`line ${sent} of ${total}\n`));
        if (sent === total) {
          clearInterval(timer);
          info.signal.removeEventListener('abort', onAbort);
          controller.close();
        }
      }, every);
    },
    // Called when the server stops reading the body (for example, the connection closed).
    cancel() {
      clearInterval(timer);
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/** POST or PUT /upload: counts the request body's bytes chunk by chunk, as they arrive. */
async function upload(request: Request): Promise<Response> {
  let bytes = 0;
  let chunks = 0;
  if (request.body !== null) {
    for await (const chunk of request.body) {
      bytes += chunk.byteLength;
      chunks++;
    }
  }
  return Response.json({ bytes, chunks });
}
