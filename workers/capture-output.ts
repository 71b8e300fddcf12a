/**
 * --capture-output: what the app writes to process.stdout and process.stderr (console.* among it)
 * becomes `worker.output` lines of the error log, one per line of text, so that a JSON log stays
 * JSON (Gunicorn's capture_output). The log itself never goes through these streams (pino writes
 * to its file descriptor directly), so capturing cannot loop.
 */

import type { Log } from '../src/log.js';

type Write = typeof process.stdout.write;

/** Installs the capture on both streams; `flush()` logs a last line that had no newline yet. */
export function captureOutput(log: () => Log): { flush(): void } {
  const streams = [
    { stream: process.stdout, name: 'stdout' as const },
    { stream: process.stderr, name: 'stderr' as const },
  ];
  const pending: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  const emit = (name: 'stdout' | 'stderr', text: string) => {
    // stdout is the app's ordinary output; stderr is what console.warn and console.error write.
    if (name === 'stdout') log().info('worker.output', text, { stream: name });
    else log().warn('worker.output', text, { stream: name });
  };
  for (const { stream, name } of streams) {
    stream.write = function write(chunk: unknown, encoding?: unknown, done?: unknown): boolean {
      const text =
        typeof chunk === 'string'
          ? chunk
          : Buffer.from(chunk as Uint8Array).toString(
              typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
            );
      const lines = (pending[name] + text).split('\n');
      pending[name] = lines.pop()!;
      for (const line of lines) emit(name, line);
      const callback = typeof encoding === 'function' ? encoding : done;
      if (typeof callback === 'function') queueMicrotask(() => (callback as () => void)());
      return true;
    } as Write;
  }
  return {
    flush: () => {
      for (const { name } of streams) {
        if (pending[name] !== '') emit(name, pending[name]);
        pending[name] = '';
      }
    },
  };
}
