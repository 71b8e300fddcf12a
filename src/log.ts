/**
 * Logging. The only module that imports pino. The error log is one JSON object a line (or lines for
 * people on a terminal), and every line unicorn-ts writes itself names an event from log-events.ts.
 * The access log is plain text in Gunicorn's format, written through sonic-boom (pino's file stream).
 */

import { closeSync, fstatSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { SonicBoom } from 'sonic-boom';
import { onceEvery } from './clock.js';
import { describeError, UnicornError } from './errors.js';
import type { LogEvent } from './log-events.js';

const requireFromHere = createRequire(import.meta.url);

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical';
type PinoLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const PINO_LEVEL: Record<LogLevelName, PinoLevel> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
};

export interface LogOptions {
  level: LogLevelName;
  format: 'auto' | 'json' | 'pretty';
  /** A file path, or '-' for standard error. */
  file: string;
  /** Fields on every line: role, pid, worker id. */
  base: Record<string, unknown>;
}

/** What apps get as `info.log` and hooks as `server.log`/`worker.log`: pino's level methods. */
export interface Logger {
  trace(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

type Destination = DestinationStream & { reopen?: () => void; flushSync?: () => void };

export class Log {
  readonly #pino: PinoLogger;
  readonly #dest: Destination;
  readonly #file: string;

  private constructor(logger: PinoLogger, dest: Destination, file: string) {
    this.#pino = logger;
    this.#dest = dest;
    this.#file = file;
  }

  static create(options: LogOptions): Log {
    const dest = openDestination(options);
    // A failed reopen is reported where it throws (reopen()); sonic-boom emits the same error again
    // on the next tick, and pino re-throws it when nobody else listens. A write that fails has
    // nowhere to be reported: losing a line beats losing the process.
    (dest as Partial<NodeJS.EventEmitter>).on?.('error', () => {});
    const logger = pino(
      {
        level: PINO_LEVEL[options.level],
        base: options.base,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      dest,
    );
    return new Log(logger, dest, options.file);
  }

  debug(event: LogEvent, msg: string, fields?: object): void {
    this.#pino.debug({ event, ...fields }, msg);
  }
  info(event: LogEvent, msg: string, fields?: object): void {
    this.#pino.info({ event, ...fields }, msg);
  }
  warn(event: LogEvent, msg: string, fields?: object): void {
    this.#pino.warn({ event, ...fields }, msg);
  }
  error(event: LogEvent, msg: string, fields?: object): void {
    this.#pino.error({ event, ...fields }, msg);
  }
  critical(event: LogEvent, msg: string, fields?: object): void {
    this.#pino.fatal({ event, ...fields }, msg);
  }

  /** The logger handed to apps and hooks: the same destination, no event name required. */
  get plain(): Logger {
    return this.#pino as unknown as Logger;
  }

  /**
   * For logrotate: reopen the file so writes go to the new one (standard error is left alone). A
   * file that cannot be opened (its directory was removed) must not take the process down: the old
   * descriptor is kept, and the failure is written to it. Returns whether the file was reopened.
   */
  reopen(): boolean {
    if (this.#file === '-' || this.#dest.reopen === undefined) return true;
    try {
      // The file is opened here first, and the destination asked to reopen only when that works:
      // sonic-boom's reopen() keeps a listener behind when its open fails, and that listener closes
      // the old descriptor a second time on the next reopen that succeeds, when its number may
      // already be another file's or socket's (test/unit/log-files.test.ts).
      closeSync(openSync(this.#file, 'a'));
      // Synchronous destination: a failed open throws here and leaves the old descriptor in place.
      this.#dest.reopen();
      return true;
    } catch (err) {
      this.logFileFailed('error log', this.#file, 'reopen', err);
      return false;
    }
  }

  /** A log file could not be reopened or written; serving goes on. */
  logFileFailed(which: string, file: string, during: 'reopen' | 'write', err: unknown): void {
    const what = during === 'reopen' ? 'reopen' : 'write to';
    this.error(
      'logs.failed',
      `Cannot ${what} the ${which} ${file}: ${describeError(err)}; ${during === 'reopen' ? 'still writing to the file open before' : 'lines may be lost'}`,
      { file, during, err },
    );
  }

  flush(): void {
    try {
      this.#dest.flushSync?.();
    } catch {
      // Nothing buffered, or the stream is already closed: nothing to do at exit.
    }
  }

  /**
   * Closes the error log file (standard error stays open), for a master that ends while its process
   * goes on (run()). Resolves once the descriptor is closed. Only pino's own file destination is
   * closed: a pretty-printed file log (rare) stays open, since its stream may never say it closed.
   */
  close(): Promise<void> {
    this.flush();
    const dest = this.#dest as Destination &
      Partial<NodeJS.EventEmitter> & { fd?: unknown; end?: () => void };
    if (this.#file === '-' || typeof dest.fd !== 'number' || dest.end === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      dest.once?.('close', () => resolve());
      // Already reported to whoever listens (create()); the master is done either way.
      dest.once?.('error', () => resolve());
      dest.end!();
    });
  }
}

function openDestination(options: LogOptions): Destination {
  const toTerminal = options.file === '-' && process.stderr.isTTY === true;
  const pretty = options.format === 'pretty' || (options.format === 'auto' && toTerminal);
  if (pretty) {
    // pino-pretty as a synchronous in-process stream: only used on terminals and on request, so its
    // cost never lands on a production JSON log. Imported lazily for the same reason.
    const pinoPretty = requireFromHere('pino-pretty') as (opts: object) => DestinationStream;
    return pinoPretty({
      colorize: toTerminal,
      sync: true,
      destination: options.file === '-' ? 2 : options.file,
      ignore: 'hostname',
      translateTime: 'SYS:HH:MM:ss.l',
      messageKey: 'msg',
    });
  }
  // Synchronous writes: the error log is low volume, and a line written just before an exit must not
  // be lost in a buffer.
  return pino.destination({
    dest: options.file === '-' ? 2 : options.file,
    sync: true,
    append: true,
    mkdir: false,
  });
}

/** A line-oriented writer for the access log: buffered, flushed at exit, reopened on USR1. */
export interface AccessLogWriter {
  write(line: string): void;
  reopen(): void;
  flush(): void;
}

const ACCESS_LOG_FLUSH_MS = 1000;

/** How often a failing access log may be reported in the error log. */
const ACCESS_LOG_ERROR_EVERY_MS = 10_000;

/**
 * The most access-log bytes a worker holds while the file or pipe does not take them (a log
 * collector that stopped reading standard output, a hung network file system). Lines past it are
 * dropped and counted (`logs.access_dropped`): without a bound the worker's memory grew by every
 * line it served for as long as the stall lasted (60 MiB in 20 s of load, measured). nginx blocks
 * on such a write instead, and so would every request of the worker.
 */
export const ACCESS_LOG_MAX_BUFFER = 16 * 1024 * 1024;

/**
 * `log` hears of failures: the stream opens and writes asynchronously, and a failure surfaces as an
 * 'error' event, which without a listener would kill the worker (USR1 after the log directory was
 * removed, a full disk). A write failure is reported at most every ACCESS_LOG_ERROR_EVERY_MS.
 *
 * Reopening opens the file here and puts a new stream on it; the old stream ends (its buffered lines
 * go to the old file, then its descriptor closes). A file that cannot be opened leaves the old stream
 * in place. sonic-boom's own `reopen()` is not used: when its open fails it keeps a listener that
 * closes the old descriptor, and the next reopen that succeeds closes that descriptor twice, the
 * second time when its number may already belong to another file or socket of the worker.
 */
export function openAccessLog(file: string, log: Log): AccessLogWriter {
  // sonic-boom 5, a dependency of its own (pino brings version 4 for the error log), loaded only by
  // a worker with an access log, and through require: its ESM face has only a default export, which
  // its TypeScript declarations do not describe.
  const { SonicBoom: SonicBoomStream } = requireFromHere('sonic-boom') as typeof import('sonic-boom');
  const mayReportFailure = onceEvery(ACCESS_LOG_ERROR_EVERY_MS);
  const failed = (err: unknown) => {
    if (!mayReportFailure()) return;
    log.logFileFailed('access log', file, 'write', err);
  };
  let dropped = 0;
  const mayReportDrops = onceEvery(ACCESS_LOG_ERROR_EVERY_MS);
  const drop = () => {
    dropped++;
    if (!mayReportDrops()) return;
    log.warn(
      'logs.access_dropped',
      `The access log ${file} is not taking lines as fast as they come: ${ACCESS_LOG_MAX_BUFFER / 1048576} MiB are waiting, and ${dropped} line(s) were dropped so far`,
      { file, dropped },
    );
  };
  const open = (dest: string | number) => {
    const opened = new SonicBoomStream({
      dest,
      sync: false,
      append: true,
      // Batch small lines into larger writes; flushed at exit and when the worker goes idle.
      minLength: file === '-' ? 0 : 4096,
      maxLength: ACCESS_LOG_MAX_BUFFER,
    });
    opened.on('error', failed);
    opened.on('drop', drop);
    return opened;
  };
  let stream = open(file === '-' ? 1 : file);
  /** Streams replaced by a reopen, until their buffered lines are out and their descriptor closed. */
  const ending = new Set<typeof stream>();
  // Lines are batched for throughput, but never held longer than this: at low traffic a line
  // still reaches the file promptly.
  let flushPending = false;
  const flushSoon = () => {
    flushPending = false;
    stream.flush();
  };
  return {
    write: (line) => {
      stream.write(`${line}\n`);
      if (!flushPending) {
        flushPending = true;
        setTimeout(flushSoon, ACCESS_LOG_FLUSH_MS).unref();
      }
    },
    // Standard output cannot be reopened, and need not be.
    reopen: () => {
      if (file === '-') return;
      let fd: number;
      try {
        fd = openSync(file, 'a');
      } catch (err) {
        log.logFileFailed('access log', file, 'reopen', err);
        return;
      }
      const old = stream;
      stream = open(fd);
      ending.add(old);
      old.once('close', () => ending.delete(old));
      old.end();
    },
    flush: () => {
      for (const s of ending) flushAtExit(s);
      flushAtExit(stream);
    },
  };
}

/**
 * Writes what a stream still holds, at exit. A write that fails (the disk is full, the descriptor was
 * closed under the stream) throws, and the lines are lost: sonic-boom 4 (pino's own) retried such a
 * write forever there, and the process never exited; version 5, used here, gives up on any error
 * but EAGAIN and EBUSY. A descriptor no longer open is not written at all.
 */
function flushAtExit(stream: SonicBoom): void {
  try {
    // sonic-boom's descriptor (a public field of the class, missing from its type declarations).
    fstatSync((stream as unknown as { fd: number }).fd);
    stream.flushSync();
  } catch {
    // Not yet open, already closed, nothing buffered, or the write failed.
  }
}

/**
 * The master's error log, opened from the settings, after checking that the access log can be
 * opened too: workers open it, and one that cannot would fail every worker, again and again. Throws
 * UNICORN_LOGFILE naming the file. The command line and run() both start a master through it.
 */
export function openMasterLog(s: {
  readonly logLevel: string;
  readonly logFormat: LogOptions['format'];
  readonly errorLogfile: string;
  readonly accessLogfile: string | null;
}): Log {
  let log: Log;
  try {
    log = Log.create({
      level: s.logLevel as LogLevelName,
      format: s.logFormat,
      file: s.errorLogfile,
      base: { role: 'master', pid: process.pid },
    });
  } catch (err) {
    throw new UnicornError(
      'UNICORN_LOGFILE',
      `cannot open error log ${s.errorLogfile}: ${describeError(err)}`,
    );
  }
  if (s.accessLogfile !== null && s.accessLogfile !== '-') {
    try {
      closeSync(openSync(s.accessLogfile, 'a'));
    } catch (err) {
      throw new UnicornError(
        'UNICORN_LOGFILE',
        `cannot open access log ${s.accessLogfile}: ${describeError(err)}`,
      );
    }
  }
  return log;
}
