// GET /api/stream?n=3 -> "line 1 of 3\n" ... sent as they are produced.
export const dynamic = 'force-dynamic';

export function GET(request) {
  const n = Number(new URL(request.url).searchParams.get('n') ?? 3);
  let i = 0;
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    async pull(controller) {
      if (i++ > 0) await new Promise((resolve) => setTimeout(resolve, 20));
      if (i > n) return controller.close();
      controller.enqueue(encoder.encode(`line ${i} of ${n}\n`));
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
}
