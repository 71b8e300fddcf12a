// GET /api/boom -> Next.js answers 500 and logs the error with its stack.
export const dynamic = 'force-dynamic';

export function GET() {
  throw new Error('boom');
}
