/**
 * The clock every timeout, heartbeat and age is measured on: CLOCK_MONOTONIC, in milliseconds. The
 * wall clock (Date.now()) can be stepped (NTP, a resumed virtual machine, an operator's `date -s`):
 * measured on it, a step forward of --timeout or more made every worker look silent at once, and
 * the master killed them all. The wall clock stays for what is shown as a date (log times,
 * `startedAt` in `unicorn-ts status`).
 *
 * The value is the system's monotonic clock, not the process's (performance.now() counts from the
 * process's start): a worker's request start and the master's "now" are compared across processes.
 * Both come from libuv's hrtime (CLOCK_MONOTONIC); the offset is read once, and then each reading
 * costs one performance.now(), as cheap as Date.now().
 */

const OFFSET_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();

/**
 * A gate for a line that could come in a flood (a failing write, shed requests): true at most once
 * every `ms`, measured on this clock. `if (!gate()) return;`
 */
export function onceEvery(ms: number): () => boolean {
  let last = Number.NEGATIVE_INFINITY;
  return () => {
    const now = monotonicNow();
    if (now - last < ms) return false;
    last = now;
    return true;
  };
}

/** Whole milliseconds, as Date.now() gives them: durations in logs and `status` stay integers. */
export function monotonicNow(): number {
  return Math.floor(performance.now() + OFFSET_MS);
}
