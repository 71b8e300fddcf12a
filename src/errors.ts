/**
 * The error catalogue. Every error unicorn-ts reports to a user has a stable code, a message and a
 * hint. `docs/errors.md` lists them and a test checks that the two agree.
 */

export interface ErrorSpec {
  /** One sentence on when it happens, for the docs. */
  readonly when: string;
  /** What the user can do about it. */
  readonly hint: string;
}

export const ERRORS = {
  UNICORN_CONFIG_UNKNOWN_KEY: {
    when: 'A config file, UNICORN_TS_CMD_ARGS or the command line names a setting that does not exist.',
    hint: 'Check the spelling against docs/settings.md; the message suggests the nearest name.',
  },
  UNICORN_CONFIG_INVALID_VALUE: {
    when: 'A setting was given a value of the wrong type or outside its range.',
    hint: 'The message names the setting and what it accepts; see docs/settings.md.',
  },
  UNICORN_CONFIG_FILE_LOAD: {
    when: 'The config file could not be found, imported or evaluated.',
    hint: 'Run `unicorn-ts --check-config -c FILE APP` to see the full error.',
  },
  UNICORN_CONFIG_FILE_AMBIGUOUS: {
    when: 'No -c was given and the working directory holds more than one unicorn.config.* file.',
    hint: 'Pass `-c FILE` to name the one to load, or remove the others.',
  },
  UNICORN_CONFIG_FILE_SHAPE: {
    when: 'The config file does not export an object of settings (default export or named exports).',
    hint: 'Export settings as `export default { workers: 4, ... }` or as named exports.',
  },
  UNICORN_APP_SPEC: {
    when: 'APP_MODULE is missing or is not of the form PATH[:EXPORT] or PATH:factory().',
    hint: 'Examples: `app.js`, `dist/app.js:handler`, `src/app.ts:createApp()`.',
  },
  UNICORN_APP_NOT_FOUND: {
    when: 'No file matches the module path of APP_MODULE.',
    hint: 'Paths are relative to --chdir (or the current directory); .js .mjs .cjs .ts and DIR/index.* are tried.',
  },
  UNICORN_APP_IMPORT: {
    when: 'The app module threw or failed to compile while it was imported.',
    hint: 'The message carries the original error; fix the module and start again.',
  },
  UNICORN_TSX_REQUIRED: {
    when: 'A TypeScript app or config file needs tsx and tsx is not installed: Node has no type stripping (before 22.18), the file is .tsx, it uses syntax Node\'s type stripping cannot erase (enum, namespace, parameter properties), or it uses import/export in a package without "type": "module".',
    hint: 'Install tsx beside unicorn-ts (`npm install tsx`); on Node 22.18 or later, TypeScript limited to erasable syntax loads without it.',
  },
  UNICORN_STATSD_REQUIRED: {
    when: '--statsd-host is set and hot-shots, the optional peer dependency that sends StatsD, is not installed.',
    hint: 'Install it beside unicorn-ts (`npm install hot-shots`), or leave --statsd-host unset.',
  },
  UNICORN_APP_EXPORT_MISSING: {
    when: 'The app module has no export of the name APP_MODULE asks for.',
    hint: 'The message lists the exports the module does have.',
  },
  UNICORN_APP_FACTORY: {
    when: 'An app factory (`module:createApp()`) threw, rejected, or returned no app.',
    hint: 'A factory must return a handler function or an object with a fetch() method.',
  },
  UNICORN_APP_NOT_HANDLER: {
    when: 'The export is neither a function, nor an object with a fetch() method, nor the app of a framework unicorn-ts recognises.',
    hint: 'Export `(request, info) => Response`, `(req, res) => void` or `{ fetch }`; for Fastify export the instance (`export default fastify()`), for Koa the app (`export default new Koa()`), for NestJS an async factory returning `NestFactory.create(AppModule)`, started as `dist/main.js:createApp()` (docs/frameworks.md).',
  },
  UNICORN_APP_LIFECYCLE: {
    when: "The app module's startup() or shutdown() threw or rejected, or a recognised framework failed to start or close (Fastify's ready(), NestJS's init(), Next.js's prepare(), their close()).",
    hint: 'The worker does not serve when startup() fails; the message carries the original error.',
  },
  UNICORN_APP_LISTENS: {
    when: 'The app called listen() on a server of its own (`app.listen(3000)`, `http.createServer(app).listen(port)`) in a worker: the message names the port. The call throws; while the worker boots, the boot fails (exit 4).',
    hint: 'Remove the listen() call and export the app instead (docs/frameworks.md): unicorn-ts listens on --bind for it. A second server that must bind in each worker can pass `exclusive: true` to listen().',
  },
  UNICORN_APP_EXIT: {
    when: 'The app called process.exit() while it was imported or in startup() (in a worker, or in the master with --preload).',
    hint: 'Throw an error instead, so that its message is logged; the server stops with exit 4 rather than restart workers that can never boot.',
  },
  UNICORN_BIND: {
    when: 'A --bind address is malformed, or binding it failed (in use, permission denied).',
    hint: 'Use HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N; ports below 1024 need privileges.',
  },
  UNICORN_TLS: {
    when: 'TLS settings are incomplete, or a certificate or key file cannot be read.',
    hint: 'Give both --certfile and --keyfile (PEM files readable by the worker processes).',
  },
  UNICORN_BOOT: {
    when: 'A worker could not set itself up before loading the app (switching user or group).',
    hint: 'Check that the user and group exist and that the master runs as root when it must switch.',
  },
  UNICORN_PIDFILE_LOCKED: {
    when: 'Another live master holds the pidfile.',
    hint: 'Stop the other master first, or give this one another --pid path.',
  },
  UNICORN_PIDFILE: {
    when: 'The pidfile could not be written or locked.',
    hint: 'Check that its directory exists and is writable.',
  },
  UNICORN_PIDFILE_UNSAFE: {
    when: 'The pidfile (or its `.lock`) is a symbolic link, or a file that belongs to another user.',
    hint: 'Remove it if it is stale, and keep the pidfile in a directory only the server user can write (e.g. /run/NAME/), not a world-writable one such as /tmp.',
  },
  UNICORN_CONTROL_SOCKET: {
    when: 'The control socket (--control-socket) could not be created, or another running master answers on it.',
    hint: 'Check that its directory exists and is writable, or give this master another --control-socket path (`none` turns it off).',
  },
  UNICORN_CONTROL_SOCKET_UNSAFE: {
    when: 'The control socket path is a symbolic link, a file that is not a socket, or belongs to another user; or its default directory is not private to this user.',
    hint: 'Remove what is at the path if it is stale, and keep the socket in a directory only the server user can write (e.g. /run/NAME/).',
  },
  UNICORN_CONTROL_UNREACHABLE: {
    when: '`unicorn-ts status` (or reload, scale, stop, reopen-logs) found no master to talk to, several, or was refused.',
    hint: 'Name the master with --pid FILE or --control-socket PATH (as it was started); only the user the master runs as (or root) may control it.',
  },
  UNICORN_HOOK: {
    when: 'A server hook from the config file threw or rejected.',
    hint: 'The message names the hook; during boot this stops the server.',
  },
  UNICORN_LOGFILE: {
    when: 'A log file (--error-logfile, --access-logfile) could not be opened.',
    hint: 'Check that its directory exists and is writable, or use "-" for standard output/error.',
  },
  UNICORN_BODY_TIMEOUT: {
    when: "A request body stopped arriving for longer than --body-timeout; the app's request body stream fails with this error (the client got 408).",
    hint: 'The client or the network stalled mid-upload. Raise --body-timeout for clients on slow links, or set it to 0 to wait forever.',
  },
  UNICORN_BAD_BODY: {
    when: "A request body could not be parsed (a malformed chunk, or the connection ended before the body did); the app's request body stream fails with this error, and the client got 400 if the response had not started (a fetch app's Response for that request is then not sent).",
    hint: 'The client sent a broken body, or went away mid-upload; nothing to change on the server.',
  },
  UNICORN_BODY_TOO_LARGE: {
    when: "A request body without a Content-Length (chunked) grew past --limit-request-body; the app's request body stream fails with this error instead of ending, and the client got 413 (a fetch app's Response for that request is then not sent).",
    hint: 'Raise --limit-request-body if such bodies are legitimate, or set it to 0 for no limit.',
  },
  UNICORN_RUN_USAGE: {
    when: 'run() cannot start a master here: one started by run() is still running in this process, it was called in a worker the command line started, the app is a handler but the process has no program file to run again in the workers, worker-side hooks were given with a string app, or an option is a command-line action (printConfig, checkConfig, daemon).',
    hint: 'The message says which; see "Programmatic API" in docs/contract.md.',
  },
  UNICORN_RUN_STOPPED: {
    when: 'The master started by run() stopped (or is stopping) before it could do what was asked: run() itself, when the first workers never became ready (the app failed to load), or a reload() or scale() still pending.',
    hint: "The master's log (master.halt, worker.boot_failed) says why; the handle's `exited` gives the exit code.",
  },
  UNICORN_RELOAD_FAILED: {
    when: "A reload (HUP, --reload, or run()'s reload()) was rolled back: a new worker could not boot, and the old workers keep serving.",
    hint: "The message carries the new workers' boot error; fix the app and reload again.",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error for a person to read: a stable code, a message that names the thing at fault, and a hint. */
export class UnicornError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UnicornError';
    this.code = code;
    this.hint = options?.hint ?? ERRORS[code].hint;
  }
}

export function isUnicornError(err: unknown): err is UnicornError {
  return err instanceof UnicornError;
}

/**
 * An error's message on one line, for log lines and `unicorn-ts: error:` (stacks go to the
 * structured `err` field). Compilers put the useful part on later lines, so all lines are kept.
 */
export function describeError(err: unknown): string {
  const text = err instanceof Error ? err.message || err.name : String(err);
  const oneLine = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' | ');
  return oneLine.length > 600 ? `${oneLine.slice(0, 597)}...` : oneLine;
}
