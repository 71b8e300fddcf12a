// Rendered on each request: the name from the path, and the worker that rendered it.
export const dynamic = 'force-dynamic';

export default async function Hello({ params }) {
  const { name } = await params;
  return (
    <p>
      Hello, {decodeURIComponent(name)}! (worker {process.pid})
    </p>
  );
}
