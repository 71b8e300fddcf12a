import { AssertionError } from 'node:assert';

/**
 * Polling with a deadline: the only way tests wait for something that has no event.
 *
 * A probe says "not yet" by returning undefined, false or null, or by throwing an ordinary error
 * (ECONNREFUSED while a server starts): both are retried until the deadline. A probe that throws an
 * AssertionError says "wrong", and that fails the wait at once: an assertion inside a probe is a
 * verdict, and retrying it until it happens to pass would hide the failure.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  { timeoutMs = 30_000, intervalMs = 50 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false && value !== null) return value;
    } catch (err) {
      if (err instanceof AssertionError) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A bounded window for asserting that something does NOT happen (no worker boots, no signal is
 * acted on). Absence has no event to wait on; the caller asserts on what was logged meanwhile.
 */
export function observeFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
