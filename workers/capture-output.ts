/**
 * --capture-output: what the app writes to process.stdout and process.stderr (console.* among it)
 * becomes `worker.output` lines of the error log, one per line of text, so that a JSON log stays
 * JSON (Gunicorn's capture_output). The log itself never goes through these streams (pino writes
 * to its file descriptor directly), so capturing cannot loop.
 */

import type { Log } from '../src/log.js';

type Write = typeof process.stdout.write;

/**
 * The longest piece of a line logged as one `worker.output` line (Docker's json-file log cuts at the
 * same size): longer lines, and text that never ends its line (a progress bar redrawn with `\r`, a
 * dot per request), go out in pieces of this many characters, each but the last marked `partial`.
 * Without a bound, text without a newline was held in memory for as long as the worker lived, and
 * rescanned at each write.
 */
export const MAX_OUTPUT_LINE = 16 * 1024;

type Stream = 'stdout' | 'stderr';

/** Installs the capture on both streams; `flush()` logs a last line that had no newline yet. */
export function captureOutput(log: () => Log): { flush(): void } {
  const streams = [
    { stream: process.stdout, name: 'stdout' as const },
    { stream: process.stderr, name: 'stderr' as const },
  ];
  const pending: Record<Stream, string> = { stdout: '', stderr: '' };
  const emit = (name: Stream, text: string, partial: boolean) => {
    const fields = partial ? { stream: name, partial: true } : { stream: name };
    // stdout is the app's ordinary output; stderr is what console.warn and console.error write.
    if (name === 'stdout') log().info('worker.output', text, fields);
    else log().warn('worker.output', text, fields);
  };
  /** Logs `line` (its newline seen), in pieces when it is too long. */
  const emitLine = (name: Stream, line: string) => {
    let at = 0;
    for (; line.length - at > MAX_OUTPUT_LINE; at += MAX_OUTPUT_LINE) {
      emit(name, line.slice(at, at + MAX_OUTPUT_LINE), true);
    }
    emit(name, at === 0 ? line : line.slice(at), false);
  };
  for (const { stream, name } of streams) {
    stream.write = function write(chunk: unknown, encoding?: unknown, done?: unknown): boolean {
      const text =
        typeof chunk === 'string'
          ? chunk
          : Buffer.from(chunk as Uint8Array).toString(
              typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
            );
      // Only the new text is searched for newlines; what is pending from before is prepended once.
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        emitLine(name, pending[name] + text.slice(start, nl));
        pending[name] = '';
        start = nl + 1;
      }
      let rest = pending[name] + (start === 0 ? text : text.slice(start));
      while (rest.length > MAX_OUTPUT_LINE) {
        emit(name, rest.slice(0, MAX_OUTPUT_LINE), true);
        rest = rest.slice(MAX_OUTPUT_LINE);
      }
      pending[name] = rest;
      const callback = typeof encoding === 'function' ? encoding : done;
      if (typeof callback === 'function') queueMicrotask(() => (callback as () => void)());
      return true;
    } as Write;
  }
  return {
    flush: () => {
      for (const { name } of streams) {
        if (pending[name] !== '') emit(name, pending[name], false);
        pending[name] = '';
      }
    },
  };
}
