/**
 * The settings table. Every setting is declared here once; the command line (src/cli.ts), the config
 * file and UNICORN_TS_CMD_ARGS (src/config.ts), `--print-config` and docs/settings.md
 * (src/tools/gen-docs.ts) are all derived from it. Names and defaults follow Gunicorn's where the
 * setting carries over, in camelCase (`max_requests` -> `maxRequests`).
 */

import { parseBind } from './bind.js';
import { availableWorkerCount } from './cpus.js';
import { UnicornError } from './errors.js';

export const SECTIONS = [
  'Config File',
  'Server Socket',
  'Worker Processes',
  'Security',
  'Server Mechanics',
  'Logging',
  'Process Naming',
  'Server Hooks',
  'Operations',
  'WebSockets',
] as const;
export type Section = (typeof SECTIONS)[number];

export type SettingType = 'int' | 'float' | 'string' | 'bool' | 'list' | 'enum' | 'hook';

export interface SettingSpec<T, N extends string = string> {
  /** The config-file key and the name used everywhere in code and docs. */
  readonly name: N;
  readonly section: Section;
  readonly type: SettingType;
  /** Command-line flags, short first. Empty for settings only a config file can set (hooks). */
  readonly flags: readonly string[];
  /** The placeholder shown in --help and the docs, e.g. `INT`. */
  readonly meta?: string;
  /** An environment variable that supplies this setting's default (Gunicorn's WEB_CONCURRENCY, PORT). */
  readonly env?: string;
  /** Turns that environment variable's value into a raw value for `parse` (default: the value itself). */
  readonly fromEnv?: (value: string) => unknown;
  readonly choices?: readonly string[];
  readonly default: T;
  /** How the default reads in the docs when it is computed (e.g. from the environment). */
  readonly defaultDoc?: string;
  /** Turns a raw value (a string from argv/env, or any value from a config file) into T, or throws. */
  readonly parse: (raw: unknown, name: string) => T;
  /** One paragraph for --help (first sentence) and docs/settings.md (all of it). */
  readonly doc: string;
}

// ---- value parsers: each names the setting in its error --------------------------------------

function invalid(name: string, raw: unknown, expected: string): never {
  throw new UnicornError(
    'UNICORN_CONFIG_INVALID_VALUE',
    `invalid value for ${name}: ${JSON.stringify(raw)} (expected ${expected})`,
  );
}

function parseInt_(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: unknown, name: string): number => {
    const n =
      typeof raw === 'number'
        ? raw
        : typeof raw === 'string' && /^-?\d+$/.test(raw.trim())
          ? Number(raw)
          : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      invalid(
        name,
        raw,
        max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
      );
    }
    return n;
  };
}

function parseFloat_(min: number) {
  return (raw: unknown, name: string): number => {
    const decimal = typeof raw === 'string' && /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(raw);
    const n = typeof raw === 'number' ? raw : decimal ? Number(raw) : Number.NaN;
    if (!Number.isFinite(n) || n < min) invalid(name, raw, `a number >= ${min}`);
    return n;
  };
}

function parseString(raw: unknown, name: string): string {
  if (typeof raw !== 'string') invalid(name, raw, 'a string');
  return raw;
}

function parseOptionalString(raw: unknown, name: string): string | null {
  if (raw === null || raw === undefined) return null;
  return parseString(raw, name);
}

function parseBool(raw: unknown, name: string): boolean {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
  }
  return invalid(name, raw, 'true or false');
}

function parseList(raw: unknown, name: string): string[] {
  const items = Array.isArray(raw) ? raw : [raw];
  return items.map((item) => parseString(item, name));
}

function parseEnum<C extends string>(choices: readonly C[]) {
  return (raw: unknown, name: string): C => {
    if (typeof raw === 'string' && (choices as readonly string[]).includes(raw)) return raw as C;
    return invalid(name, raw, `one of ${choices.join(', ')}`);
  };
}

function parseHook(raw: unknown, name: string): HookFn | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'function') invalid(name, raw, 'a function');
  return raw as HookFn;
}

/** `-w auto` or an integer. `auto` is resolved here, so the rest of the code only sees numbers. */
function parseWorkers(raw: unknown, name: string): number {
  if (raw === 'auto') return availableWorkerCount();
  return parseInt_(1, 1024)(raw, name);
}

/** Every address is checked here, so a malformed bind is a configuration error naming it. */
function parseBinds(raw: unknown, name: string): string[] {
  const list = parseList(raw, name);
  if (list.length === 0) invalid(name, raw, 'at least one address');
  for (const item of list) {
    try {
      parseBind(item);
    } catch (err) {
      throw new UnicornError(
        'UNICORN_CONFIG_INVALID_VALUE',
        `invalid value for ${name}: ${(err as Error).message}`,
      );
    }
  }
  return list;
}

/** `0o027`, `027` (octal, as umask(1) writes it) or a decimal number. */
function parseUmask(raw: unknown, name: string): number {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 0o777) return raw;
  if (typeof raw === 'string') {
    const text = raw.trim();
    const n = /^0o?[0-7]+$/i.test(text)
      ? Number.parseInt(text.replace(/^0o?/i, '') || '0', 8)
      : /^\d+$/.test(text)
        ? Number(text)
        : Number.NaN;
    if (Number.isInteger(n) && n >= 0 && n <= 0o777) return n;
  }
  return invalid(name, raw, 'an octal mode such as 0o027 or 027');
}

/** `/api`, without a trailing slash; '' for none. */
function parseRootPath(raw: unknown, name: string): string {
  const path = parseString(raw, name).replace(/\/+$/, '');
  if (path !== '' && !path.startsWith('/')) invalid(name, raw, 'a path starting with /');
  return path;
}

/** `warn` is taken as `warning`, so the rest of the code knows one name per level. */
function parseLogLevel(raw: unknown, name: string): (typeof LOG_LEVELS)[number] {
  const level = parseEnum(LOG_LEVEL_CHOICES)(raw, name);
  return level === 'warn' ? 'warning' : level;
}

/** --metrics-bind: an address as --bind takes it, but never an inherited descriptor. */
function parseMetricsBind(raw: unknown, name: string): string | null {
  const text = parseOptionalString(raw, name);
  if (text === null || text === '') return null;
  let bind: ReturnType<typeof parseBind>;
  try {
    bind = parseBind(text);
  } catch (err) {
    throw new UnicornError(
      'UNICORN_CONFIG_INVALID_VALUE',
      `invalid value for ${name}: ${(err as Error).message}`,
    );
  }
  if (bind.kind === 'fd') invalid(name, raw, 'HOST:PORT, [IPV6]:PORT or unix:PATH');
  return text;
}

/** --metrics-buckets: upper bounds in seconds, comma-separated, strictly increasing. */
function parseBuckets(raw: unknown, name: string): number[] {
  const items = Array.isArray(raw) ? raw : parseString(raw, name).split(',');
  const bounds = items.map((item) => parseFloat_(0)(typeof item === 'string' ? item.trim() : item, name));
  if (bounds.length === 0 || bounds.some((b, i) => b <= 0 || (i > 0 && b <= bounds[i - 1]!)))
    invalid(name, raw, 'increasing numbers of seconds above 0, such as 0.01,0.1,1');
  return bounds;
}

/** --statsd-host: HOST:PORT (Gunicorn's), the port required. */
function parseStatsdHost(raw: unknown, name: string): string | null {
  const text = parseOptionalString(raw, name);
  if (text === null || text === '') return null;
  if (
    !/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(text) ||
    Number(text.slice(text.lastIndexOf(':') + 1)) > 65535
  )
    invalid(name, raw, 'HOST:PORT');
  return text;
}

/** `--env KEY=VALUE`: validated as a list of assignments. */
function parseEnvList(raw: unknown, name: string): string[] {
  const list = parseList(raw, name);
  for (const item of list) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(item)) invalid(name, item, 'KEY=VALUE');
  }
  return list;
}

// ---- the table -------------------------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: hooks receive documented, hook-specific arguments.
export type HookFn = (...args: any[]) => unknown;

const WORKER_CLASSES = ['async', 'sync'] as const;
const DISPATCH_MODES = ['accept', 'request'] as const;
const INTERFACES = ['auto', 'fetch', 'node'] as const;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical'] as const;
/** `warn` is the name the log lines carry (pino's); `warning` is Gunicorn's. Both name one level. */
const LOG_LEVEL_CHOICES = ['trace', 'debug', 'info', 'warn', 'warning', 'error', 'critical'] as const;
const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
const CERT_REQS = ['none', 'optional', 'required'] as const;
const HEADER_MAPS = ['drop', 'refuse', 'dangerous'] as const;

export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

function setting<const N extends string, T>(spec: SettingSpec<T, N>): SettingSpec<T, N> {
  return spec;
}

/** Hook names and where they run; the settings entries below are generated from this list. */
export const HOOKS = {
  onStarting: 'Called in the master just before it binds sockets and forks workers. Receives the server API.',
  onReload: 'Called in the master on SIGHUP, after the config file was re-read and before new workers start.',
  whenReady: 'Called in the master once the first full set of workers is ready to serve.',
  preFork: 'Called in the master just before a worker is forked. Receives (server, { age }).',
  postFork: 'Called in the master just after a worker is forked. Receives (server, worker).',
  postWorkerInit: 'Called in the worker after it has loaded the app, before it accepts. Receives (worker).',
  workerInt: 'Called in the worker when it takes SIGINT or SIGQUIT (a quick stop). Receives (worker).',
  workerAbort:
    'Called in the worker when it takes SIGABRT: the master sends it on --timeout, and it runs if the event loop comes back within a second. Receives (worker).',
  preRequest: 'Called in the worker before the app handles a request. Receives (worker, req).',
  postRequest: 'Called in the worker after a response has been sent. Receives (worker, req, res).',
  childExit:
    'Called in the master when a worker has exited, before it is replaced. Receives (server, worker).',
  workerExit:
    'Called in the worker after it has drained and run shutdown(), just before it exits. Receives (worker).',
  nworkersChanged: 'Called in the master when the worker count changes. Receives (server, new, old).',
  onExit: 'Called in the master just before it exits. Receives (server).',
} as const;
export type HookName = keyof typeof HOOKS;

const BASE_SETTINGS = [
  // -- Config File
  setting({
    name: 'config',
    section: 'Config File',
    type: 'string',
    flags: ['-c', '--config'],
    meta: 'FILE',
    default: null,
    defaultDoc: './unicorn.config.{ts,mts,mjs,js,cjs} when present',
    parse: parseOptionalString,
    doc: 'The config file to load. It exports settings by these names (camelCase) and server hooks, as a default export object or as named exports. When not given, the one of unicorn.config.ts, .mts, .mjs, .js and .cjs found in the working directory is used; finding more than one is an error (UNICORN_CONFIG_FILE_AMBIGUOUS) that asks for -c. `--print-config` names the file it loaded on its first line.',
  }),
  // -- Server Socket
  setting({
    name: 'bind',
    section: 'Server Socket',
    type: 'list',
    flags: ['-b', '--bind'],
    meta: 'ADDRESS',
    env: 'PORT',
    fromEnv: (port) => [`0.0.0.0:${port}`],
    default: ['127.0.0.1:8000'],
    defaultDoc: "['127.0.0.1:8000'], or ['0.0.0.0:$PORT'] when PORT is set",
    parse: parseBinds,
    doc: 'The sockets to bind: HOST:PORT, HOST (port 8000), [IPV6]:PORT, unix:PATH, or fd://N (an already listening socket inherited as file descriptor N). Repeat the flag to bind several. Sockets passed by systemd socket activation (LISTEN_FDS) are used instead when present. The master owns every listening socket for its whole life, so a port never closes while workers restart.',
  }),
  setting({
    name: 'backlog',
    section: 'Server Socket',
    type: 'int',
    flags: ['--backlog'],
    meta: 'INT',
    default: 2048,
    parse: parseInt_(1, 65535),
    doc: 'The most connections the kernel queues for a listening socket before refusing new ones (capped by net.core.somaxconn).',
  }),
  setting({
    name: 'forwardedAllowIps',
    section: 'Server Socket',
    type: 'string',
    flags: ['--forwarded-allow-ips'],
    meta: 'LIST',
    env: 'FORWARDED_ALLOW_IPS',
    default: '127.0.0.1,::1',
    parse: parseString,
    doc: 'Comma-separated addresses and CIDRs of proxies trusted to set the client address and scheme, or `*` for any peer; unix-socket peers are always trusted. From a trusted peer, the headers named in --forwarder-headers (X-Forwarded-For and X-Forwarded-Proto by default) set `info.remoteAddress` and `info.scheme`: the client is the nearest address that is not itself a trusted proxy. From anyone else the headers are ignored, so clients cannot spoof their address.',
  }),
  setting({
    name: 'forwarderHeaders',
    section: 'Server Socket',
    type: 'string',
    flags: ['--forwarder-headers'],
    meta: 'LIST',
    default: 'X-Forwarded-For,X-Forwarded-Proto',
    parse: (raw, name) => {
      // The headers the proxy in --forwarded-allow-ips sets or clears on every request: any other
      // header it relays comes from the client, so believing it would let the client choose.
      const known = ['X-Forwarded-For', 'X-Forwarded-Proto', 'Forwarded'];
      const text = Array.isArray(raw)
        ? raw.map((h) => parseString(h, name)).join(',')
        : parseString(raw, name);
      const list = text
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean);
      const canonical = list.map((h) => known.find((k) => k.toLowerCase() === h.toLowerCase()));
      if (canonical.includes(undefined)) invalid(name, raw, `a comma-separated list of ${known.join(', ')}`);
      return canonical.join(',');
    },
    doc: 'The forwarding headers believed from a peer in --forwarded-allow-ips, comma-separated: any of `X-Forwarded-For` (sets `info.remoteAddress`), `X-Forwarded-Proto` (sets `info.scheme`) and RFC 7239 `Forwarded` (sets both, and takes precedence when listed and present); empty believes none. List only headers your proxy sets or removes on every request: one it passes through unchanged is whatever the client wrote (nginx relays `Forwarded` unless told otherwise, hence it is not in the default). A `for=` or X-Forwarded-For entry that is not an IP address (`unknown`, an obfuscated `_name`) is never taken for the client.',
  }),
  setting({
    name: 'proxyProtocol',
    section: 'Server Socket',
    type: 'bool',
    flags: ['--proxy-protocol'],
    default: false,
    parse: parseBool,
    doc: "Require a PROXY protocol header (HAProxy's, version 1 or 2) at the start of every connection, before HTTP or TLS, as sent by nginx `stream` with `proxy_protocol on`, HAProxy's `send-proxy`/`send-proxy-v2` and TCP load balancers. From a peer in --proxy-allow-from, the header's source address and port become the client's (`info.remoteAddress`, `req.socket.remoteAddress`, the access log), and --forwarded-allow-ips is then checked against that address; `UNKNOWN` and `LOCAL` headers keep the real peer. A connection from another peer, without a valid header, or whose header is not complete within 5 s is closed without a response and logged (`proxy.rejected`). As the protocol's spec requires, the header is not optional: clients can no longer connect directly.",
  }),
  setting({
    name: 'proxyAllowFrom',
    section: 'Server Socket',
    type: 'string',
    flags: ['--proxy-allow-from'],
    meta: 'LIST',
    default: '127.0.0.1,::1',
    parse: parseString,
    doc: 'Comma-separated addresses and CIDRs of the proxies allowed to send PROXY protocol headers (with --proxy-protocol), or `*` for any peer; unix-socket peers are always allowed. Connections from other peers are closed.',
  }),
  setting({
    name: 'certfile',
    section: 'Server Socket',
    type: 'string',
    flags: ['--certfile'],
    meta: 'FILE',
    default: null,
    parse: parseOptionalString,
    doc: 'A PEM certificate (chain) to serve HTTPS directly. Behind nginx, leave it unset and terminate TLS in the proxy.',
  }),
  setting({
    name: 'keyfile',
    section: 'Server Socket',
    type: 'string',
    flags: ['--keyfile'],
    meta: 'FILE',
    default: null,
    parse: parseOptionalString,
    doc: 'The PEM private key for --certfile.',
  }),
  setting({
    name: 'caCerts',
    section: 'Server Socket',
    type: 'string',
    flags: ['--ca-certs'],
    meta: 'FILE',
    default: null,
    parse: parseOptionalString,
    doc: 'PEM CA certificates that client certificates are checked against (with --cert-reqs).',
  }),
  setting({
    name: 'certReqs',
    section: 'Server Socket',
    type: 'enum',
    flags: ['--cert-reqs'],
    meta: 'MODE',
    choices: CERT_REQS,
    default: 'none' as const,
    parse: parseEnum(CERT_REQS),
    doc: 'Client certificates: `none` (not asked for), `optional` (asked for; the app sees `req.socket.authorized`), `required` (a connection without a valid one is refused).',
  }),
  setting({
    name: 'rootPath',
    section: 'Server Socket',
    type: 'string',
    flags: ['--root-path'],
    meta: 'PATH',
    env: 'SCRIPT_NAME',
    default: '',
    parse: parseRootPath,
    doc: "The path prefix a proxy mounts the app under (WSGI's SCRIPT_NAME), e.g. `/api`. A request whose path starts with it reaches the app with the prefix removed (`/api/users` arrives as `/users`), and `info.rootPath` carries the prefix so the app can build absolute links.",
  }),
  // -- Worker Processes
  setting({
    name: 'workers',
    section: 'Worker Processes',
    type: 'int',
    flags: ['-w', '--workers'],
    meta: 'INT|auto',
    env: 'WEB_CONCURRENCY',
    default: 1,
    defaultDoc: '1, or $WEB_CONCURRENCY when set',
    parse: parseWorkers,
    doc: 'The number of worker processes. `auto` uses the CPUs this process may run on, respecting affinity masks and cgroup CPU quotas (containers). A common choice for CPU-bound apps is one per core; I/O-bound apps on the async worker rarely need more.',
  }),
  setting({
    name: 'standby',
    section: 'Worker Processes',
    type: 'int',
    flags: ['--standby'],
    meta: 'INT',
    default: 0,
    parse: parseInt_(0, 64),
    doc: "Keep this many spare workers booted (app loaded, startup() done) but not serving. When a worker dies, is recycled or times out, or on TTIN, a spare takes its place at once instead of a new process booting (about 10 ms instead of several hundred), and a new spare boots behind it. Each spare costs the memory of a worker, runs the app's startup() and hooks like any worker, and is replaced on HUP. Spares boot after the serving workers, never during a reload.",
  }),
  setting({
    name: 'workerClass',
    section: 'Worker Processes',
    type: 'enum',
    flags: ['-k', '--worker-class'],
    meta: 'CLASS',
    choices: WORKER_CLASSES,
    default: 'async' as const,
    parse: parseEnum(WORKER_CLASSES),
    doc: "`async` serves many requests at once in each worker, up to --worker-connections. `sync` serves exactly one request at a time per worker, like Gunicorn's sync worker: use it for CPU-bound handlers, where concurrency inside one process only adds latency.",
  }),
  setting({
    name: 'dispatch',
    section: 'Worker Processes',
    type: 'enum',
    flags: ['--dispatch'],
    meta: 'MODE',
    choices: DISPATCH_MODES,
    default: 'accept' as const,
    parse: parseEnum(DISPATCH_MODES),
    doc: 'How requests reach workers. `accept`: every free worker accepts new connections from the shared queue, and a keep-alive connection stays with the worker that accepted it. `request`: in addition, an async worker hands each keep-alive connection back to the master once its response is done; the master waits for the next request on it and gives it to a worker with no request in flight, so a request never waits behind a worker busy on the CPU while another is free. It costs two handovers per request (a few thousand requests a second at most), so it suits CPU-heavy apps, not fast ones; see docs/design.md. Not with --certfile or --proxy-protocol, whose per-connection state lives in the worker.',
  }),
  setting({
    name: 'interface',
    section: 'Worker Processes',
    type: 'enum',
    flags: ['--interface'],
    meta: 'NAME',
    choices: INTERFACES,
    default: 'auto' as const,
    parse: parseEnum(INTERFACES),
    doc: "How the app is called. `fetch`: `(request: Request, info) => Response`, or an object with a fetch() method (Hono, `export default { fetch }`). `node`: `(req, res)` from node:http (Express, Connect, Koa's callback()). `auto` decides from the export's shape and logs its choice; see docs/contract.md.",
  }),
  setting({
    name: 'workerConnections',
    section: 'Worker Processes',
    type: 'int',
    flags: ['--worker-connections'],
    meta: 'INT',
    default: 1000,
    parse: parseInt_(1),
    doc: 'The most requests an async worker handles at once. A request beyond it is answered 503 at once rather than queued, so an overloaded worker sheds load instead of growing latency for everyone.',
  }),
  setting({
    name: 'maxRequests',
    section: 'Worker Processes',
    type: 'int',
    flags: ['--max-requests'],
    meta: 'INT',
    default: 0,
    parse: parseInt_(0),
    doc: 'Recycle a worker after it has served this many requests (0 disables). Its replacement is started and ready before it stops accepting, so recycling drops nothing. A simple guard against slow memory leaks.',
  }),
  setting({
    name: 'maxRequestsJitter',
    section: 'Worker Processes',
    type: 'int',
    flags: ['--max-requests-jitter'],
    meta: 'INT',
    default: 0,
    parse: parseInt_(0),
    doc: "Add a random number from 0 to this to each worker's --max-requests, so workers do not all recycle at the same moment.",
  }),
  setting({
    name: 'timeout',
    section: 'Worker Processes',
    type: 'int',
    flags: ['-t', '--timeout'],
    meta: 'INT',
    default: 30,
    parse: parseInt_(0),
    doc: 'Seconds a worker may go without a heartbeat before the master kills and replaces it (0 disables): SIGABRT first (the workerAbort hook runs if the event loop comes back), SIGKILL a second later. Workers heartbeat from their event loop, so this catches a loop blocked by synchronous code, not a slow asynchronous request.',
  }),
  setting({
    name: 'timeoutStack',
    section: 'Worker Processes',
    type: 'bool',
    flags: ['--timeout-stack'],
    default: true,
    parse: parseBool,
    doc: 'Before killing a worker for --timeout, pause it and log where its JavaScript was stuck (function, file and line, through source maps for TypeScript). Each worker runs a small probe thread for this (5-8 MiB of memory on Node 20, about 14 MiB on Node 24; nothing per request), which also reads which request the worker was handling from shared memory. --no-timeout-stack turns it off; the request named is then the oldest the last heartbeat reported, which can be the one before.',
  }),
  setting({
    name: 'bootTimeout',
    section: 'Worker Processes',
    type: 'int',
    flags: ['--boot-timeout'],
    meta: 'INT',
    default: 60,
    parse: parseInt_(1),
    doc: 'Seconds a new worker has to load the app, run startup() and start listening. A worker that takes longer is killed and counted as a boot failure. Kept apart from --timeout, so a slow boot (a large app, a cold cache) is never taken for a hang.',
  }),
  setting({
    name: 'requestTimeout',
    section: 'Worker Processes',
    type: 'float',
    flags: ['--request-timeout'],
    meta: 'SECONDS',
    default: 0,
    parse: parseFloat_(0),
    doc: 'Seconds a request may run (0, the default, means no limit). A request that runs longer is answered 503 (or its connection is cut when the response has started), its `info.signal` aborts, and the worker serves on.',
  }),
  setting({
    name: 'headerTimeout',
    section: 'Worker Processes',
    type: 'float',
    flags: ['--header-timeout'],
    meta: 'SECONDS',
    default: 30,
    parse: parseFloat_(0),
    doc: "Seconds a client has to send a complete request head, counted from when it connects and from the first byte of each later request on a kept-alive connection (0 disables), like nginx's client_header_timeout and Puma's first_data_timeout. A connection that sends nothing in that time is closed without an answer; one that sent part of a head gets 408. It does not run while a kept-alive connection waits between requests (that is --keep-alive), and a draining worker closes connections that have not started a request after a second's grace, as it does idle kept-alive ones. On the sync worker it also bounds how long an idle connection can hold the worker.",
  }),
  setting({
    name: 'bodyTimeout',
    section: 'Worker Processes',
    type: 'float',
    flags: ['--body-timeout'],
    meta: 'SECONDS',
    default: 60,
    parse: parseFloat_(0),
    doc: "Seconds the server waits for the next piece of a request body while it reads one (0 disables), like nginx's client_body_timeout. It bounds the silence between two pieces, not the whole upload, and does not run while the app is not reading (the body waits for the app, not for the client). When it expires the client gets 408 (or the connection is cut if the response has started), the app's request body stream fails with UNICORN_BODY_TIMEOUT, `info.signal` aborts, and the worker serves on. Behind nginx, which buffers uploads, it rarely fires.",
  }),
  setting({
    name: 'maxMemory',
    section: 'Worker Processes',
    type: 'int',
    flags: ['--max-memory'],
    meta: 'MB',
    default: 0,
    parse: parseInt_(0),
    doc: 'Recycle a worker whose resident memory (RSS) exceeds this many MiB (0 disables). As with --max-requests, its replacement is ready before it stops accepting, and its in-flight requests finish.',
  }),
  setting({
    name: 'gracefulTimeout',
    section: 'Worker Processes',
    type: 'int',
    flags: ['--graceful-timeout'],
    meta: 'INT',
    default: 30,
    parse: parseInt_(0),
    doc: 'Seconds a worker has to finish its in-flight requests after it is asked to stop; what is still running then is killed.',
  }),
  setting({
    name: 'keepAlive',
    section: 'Worker Processes',
    type: 'float',
    flags: ['--keep-alive'],
    meta: 'SECONDS',
    default: 75,
    parse: parseFloat_(0),
    doc: 'Seconds an idle keep-alive connection stays open (0 closes every connection after its response). The default is longer than the idle timeout of nginx upstream keep-alive (60 s) and common cloud load balancers (60 s), so the proxy, not unicorn-ts, closes idle connections and never reuses one being closed; see docs/deploy.md.',
  }),
  // -- Security
  setting({
    name: 'limitRequestLine',
    section: 'Security',
    type: 'int',
    flags: ['--limit-request-line'],
    meta: 'INT',
    default: 4094,
    parse: parseInt_(0, 1024 * 1024),
    doc: 'The longest request line (method, target and version) in bytes, 0 for no limit. A longer one is answered 414 and the connection closed.',
  }),
  setting({
    name: 'limitRequestFields',
    section: 'Security',
    type: 'int',
    flags: ['--limit-request-fields'],
    meta: 'INT',
    default: 100,
    parse: parseInt_(0, 32768),
    doc: 'The most header fields a request may have, 0 for no limit. More are answered 431 and the connection closed.',
  }),
  setting({
    name: 'limitRequestFieldSize',
    section: 'Security',
    type: 'int',
    flags: ['--limit-request-field-size'],
    meta: 'INT',
    default: 8190,
    parse: parseInt_(0, 1024 * 1024),
    doc: 'The longest header field (`name: value` with its line end) in bytes, 0 for no limit. A longer one is answered 431 and the connection closed.',
  }),
  setting({
    name: 'headerMap',
    section: 'Security',
    type: 'enum',
    flags: ['--header-map'],
    meta: 'MODE',
    choices: HEADER_MAPS,
    default: 'drop' as const,
    parse: parseEnum(HEADER_MAPS),
    doc: "Header names containing `_`: `drop` removes them before the app sees the request (the default, as in Gunicorn), `refuse` answers 400, `dangerous` passes them on. A proxy that rewrites `X-Forwarded-For` may pass a client's `X_Forwarded_For` untouched; apps or frameworks that treat `-` and `_` alike would then believe it.",
  }),
  setting({
    name: 'limitRequestBody',
    section: 'Security',
    type: 'int',
    flags: ['--limit-request-body'],
    meta: 'BYTES',
    default: 0,
    parse: parseInt_(0),
    doc: 'The largest request body in bytes, 0 (the default) for no limit. A larger declared Content-Length is answered 413 before the app runs; a chunked body that grows past it is cut off (413 if the response has not started) and the connection closed.',
  }),
  // -- Server Mechanics
  setting({
    name: 'sticky',
    section: 'Server Mechanics',
    type: 'bool',
    flags: ['--sticky'],
    default: false,
    parse: parseBool,
    doc: "Route every connection of one client to the same worker, for session-bound protocols (Socket.IO's long polling, in-memory sessions). The master accepts each connection itself, reads the client's address (from the first request's X-Forwarded-For or `Forwarded` when the peer is in --forwarded-allow-ips, or from the PROXY header with --proxy-protocol, else the peer's own) and hands the connection to the worker its hash picks (rendezvous hashing over worker slots): a worker's replacement takes its slot and its clients, and adding or removing a worker moves only that worker's share. A kept-alive connection stays on its worker, except one from a peer in --forwarded-allow-ips (without --proxy-protocol): a proxy shares its connections between clients, so each goes back to the master after every response and its next request is routed again. When the chosen worker is booting (a replacement), the connection waits for it up to 5 s, then goes to the worker picked among those serving. Costs the master a read of each connection's first request head; see docs/deploy.md. Not with --certfile or --dispatch request.",
  }),
  setting({
    name: 'preload',
    section: 'Server Mechanics',
    type: 'bool',
    flags: ['--preload'],
    default: false,
    parse: parseBool,
    doc: 'Import the app in the master before forking, so a broken app fails once, before any worker starts. Node forks fresh processes rather than copying memory, so each worker still imports the app itself; see docs/design.md.',
  }),
  setting({
    name: 'chdir',
    section: 'Server Mechanics',
    type: 'string',
    flags: ['--chdir'],
    meta: 'DIR',
    default: null,
    parse: parseOptionalString,
    doc: 'Change to this directory before loading the app; APP_MODULE is resolved from it.',
  }),
  setting({
    name: 'env',
    section: 'Server Mechanics',
    type: 'list',
    flags: ['-e', '--env'],
    meta: 'KEY=VALUE',
    default: [],
    parse: parseEnvList,
    doc: 'Set an environment variable in the master and the workers. Repeat the flag for several.',
  }),
  setting({
    name: 'pidfile',
    section: 'Server Mechanics',
    type: 'string',
    flags: ['-p', '--pid'],
    meta: 'FILE',
    default: null,
    parse: parseOptionalString,
    doc: 'Write the master pid to this file. The file is locked while the master runs, so a second master on the same file refuses to start; it is removed on exit.',
  }),
  setting({
    name: 'controlSocket',
    section: 'Operations',
    type: 'string',
    flags: ['--control-socket'],
    meta: 'PATH',
    default: null,
    defaultDoc:
      'beside the pidfile (app.pid -> app.ctl), else $XDG_RUNTIME_DIR/unicorn-ts/PID.ctl or /tmp/unicorn-ts-UID/PID.ctl',
    parse: parseOptionalString,
    doc: "The master's control socket, for `unicorn-ts status`, `reload`, `scale N`, `stop` and `reopen-logs` (`none` turns it off). A unix socket of mode 0600: only its owner and root can control the server. Without this setting it sits beside the pidfile (`--pid app.pid` gives `app.ctl`), or, with no pidfile, in a private directory of the user's (`$XDG_RUNTIME_DIR/unicorn-ts/`, else `/tmp/unicorn-ts-UID/`) named by the master's pid; a problem with that default location is logged as a warning and the server runs without one, while a socket set here that cannot be created stops the start. A new master started by USR2 takes the socket over. See docs/deploy.md.",
  }),
  setting({
    name: 'user',
    section: 'Server Mechanics',
    type: 'string',
    flags: ['-u', '--user'],
    meta: 'USER',
    default: null,
    parse: parseOptionalString,
    doc: 'Run workers as this user (a name or a numeric uid). The master keeps its own user, so it can bind privileged ports as root while the app never runs as root.',
  }),
  setting({
    name: 'group',
    section: 'Server Mechanics',
    type: 'string',
    flags: ['-g', '--group'],
    meta: 'GROUP',
    default: null,
    parse: parseOptionalString,
    doc: 'Run workers as this group (a name or a numeric gid).',
  }),
  setting({
    name: 'umask',
    section: 'Server Mechanics',
    type: 'int',
    flags: ['--umask'],
    meta: 'INT',
    default: 0,
    defaultDoc: '0 (the umask unicorn-ts was started with is left alone)',
    parse: parseUmask,
    doc: 'The file mode creation mask for the master and its workers, in octal (`0o027`, `027`) or decimal; it applies to the pidfile, unix sockets and log files they create. 0 leaves the inherited umask as it is.',
  }),
  setting({
    name: 'daemon',
    section: 'Server Mechanics',
    type: 'bool',
    flags: ['-D', '--daemon'],
    default: false,
    parse: parseBool,
    doc: 'Detach from the terminal and run in the background. Use --pid to find the master afterwards and --error-logfile to keep its log (standard output and error go to /dev/null). Under systemd, Docker or an npm script, do not daemonize: let the supervisor own the process.',
  }),
  setting({
    name: 'reload',
    section: 'Server Mechanics',
    type: 'bool',
    flags: ['--reload'],
    default: false,
    parse: parseBool,
    doc: "Development: restart the workers (a rolling reload, as SIGHUP) when a file under the app's directory that matches --reload-include and not --reload-exclude is changed, created or deleted. Editors that save by writing a new file and renaming it over the old one (vim, sed -i, JetBrains safe write, git checkout) are seen like any other save. A change that breaks the app keeps the old workers serving and logs the error until the next change fixes it.",
  }),
  setting({
    name: 'reloadExtraFiles',
    section: 'Server Mechanics',
    type: 'list',
    flags: ['--reload-extra-file'],
    meta: 'FILE',
    default: [],
    parse: parseList,
    doc: "With --reload, also watch this file, whatever its name, or this directory, filtered like the app's. Repeat the flag for several.",
  }),
  setting({
    name: 'reloadInclude',
    section: 'Server Mechanics',
    type: 'list',
    flags: ['--reload-include'],
    meta: 'GLOB',
    default: ['*.ts', '*.mts', '*.cts', '*.tsx', '*.js', '*.mjs', '*.cjs', '*.jsx', '*.json'],
    parse: parseList,
    doc: "With --reload, the files whose changes reload. A glob without a `/` is matched against a file's name (`*.html`), one with a `/` against its path from the watched directory (`views/**/*.hbs`). Giving the flag replaces the default list, so name the defaults you still want too (`--reload-include '*.ts' --reload-include '*.html'`). Repeat the flag for several.",
  }),
  setting({
    name: 'reloadExclude',
    section: 'Server Mechanics',
    type: 'list',
    flags: ['--reload-exclude'],
    meta: 'GLOB',
    default: ['node_modules', '.*'],
    parse: parseList,
    doc: 'With --reload, the files and directories never watched, even when they match --reload-include. A glob without a `/` is matched against the name of the file and of each directory above it, so the defaults leave out node_modules and every dot-file and dot-directory (.git, .cache, editor swap files) at any depth; one with a `/` is matched against the path from the watched directory. Giving the flag replaces the default list. Repeat the flag for several.',
  }),
  setting({
    name: 'checkConfig',
    section: 'Server Mechanics',
    type: 'bool',
    flags: ['--check-config'],
    default: false,
    parse: parseBool,
    doc: 'Load the configuration and the app, then exit: 0 when both load, 1 with the reason when not.',
  }),
  setting({
    name: 'printConfig',
    section: 'Server Mechanics',
    type: 'bool',
    flags: ['--print-config'],
    default: false,
    parse: parseBool,
    doc: 'Print the resolved configuration, one setting a line with where its value came from, and exit.',
  }),
  // -- Logging
  setting({
    name: 'logLevel',
    section: 'Logging',
    type: 'enum',
    flags: ['--log-level'],
    meta: 'LEVEL',
    choices: LOG_LEVEL_CHOICES,
    default: 'info' as const,
    parse: parseLogLevel,
    doc: "The least severe error-log level written. `warn` (the name the log lines carry) and `warning` (Gunicorn's) are the same level.",
  }),
  setting({
    name: 'logFormat',
    section: 'Logging',
    type: 'enum',
    flags: ['--log-format'],
    meta: 'FORMAT',
    choices: LOG_FORMATS,
    default: 'auto' as const,
    parse: parseEnum(LOG_FORMATS),
    doc: "The error log's format: one JSON object a line (`json`), or lines for people (`pretty`). `auto` is pretty on a terminal and JSON otherwise.",
  }),
  setting({
    name: 'errorLogfile',
    section: 'Logging',
    type: 'string',
    flags: ['--error-logfile', '--log-file'],
    meta: 'FILE',
    default: '-',
    parse: parseString,
    doc: 'Where the error log goes: a file path, or `-` for standard error. Files are opened for appending by the master and every worker.',
  }),
  setting({
    name: 'accessLogfile',
    section: 'Logging',
    type: 'string',
    flags: ['--access-logfile'],
    meta: 'FILE',
    default: null,
    parse: parseOptionalString,
    doc: 'Where the access log goes: a file path, or `-` for standard output. Off by default, as behind nginx the proxy keeps one. Lines are written in batches; a worker holds at most 16 MiB of them while the file or pipe does not take them (a log collector that stopped reading), and drops the rest with a `logs.access_dropped` warning.',
  }),
  setting({
    name: 'accessLogformat',
    section: 'Logging',
    type: 'string',
    flags: ['--access-logformat'],
    meta: 'FORMAT',
    default: DEFAULT_ACCESS_LOG_FORMAT,
    parse: parseString,
    doc: 'The access log line, in Gunicorn\'s atoms: h remote address, l "-", u user, t time, r request line, m method, U path, q query, H protocol, s status (for a response never sent, the codes nginx logs: 499 when the client closed its connection first, 444 when the server or the app closed it without an answer), B body bytes, b body bytes or "-", f referer, a user agent, T seconds, M milliseconds, D microseconds, L decimal seconds, p pid, {name}i request header, {name}o response header, {name}e environment variable.',
  }),
  // -- WebSockets
  setting({
    name: 'wsMaxMessage',
    section: 'WebSockets',
    type: 'int',
    flags: ['--ws-max-message'],
    meta: 'BYTES',
    default: 1_048_576,
    parse: parseInt_(1),
    doc: "The largest WebSocket message in bytes, after reassembling its frames, that a fetch app's `info.upgradeWebSocket()` socket accepts: a larger one closes the connection with 1009 (message too big), logged at info as the client's doing. The default is 1 MiB. A node app's `upgrade` export uses its own `WebSocketServer` and sets its own `maxPayload`.",
  }),
  setting({
    name: 'wsPingInterval',
    section: 'WebSockets',
    type: 'float',
    flags: ['--ws-ping-interval'],
    meta: 'SECONDS',
    default: 20,
    parse: parseFloat_(0),
    doc: 'Send a ping on every open WebSocket this often; a peer that has not answered the previous ping with a pong by the next one is terminated. 0 turns keep-alive pings off. It keeps idle WebSockets alive through proxies (nginx closes a tunnel idle for its proxy_read_timeout, 60 s by default) and frees the ones whose client vanished.',
  }),
  setting({
    name: 'wsPerMessageDeflate',
    section: 'WebSockets',
    type: 'bool',
    flags: ['--ws-per-message-deflate'],
    default: false,
    parse: parseBool,
    doc: "Offer the permessage-deflate extension to WebSocket clients of a fetch app. Off by default: compressing costs CPU and memory per connection (zlib's window), and compressed payloads open the door to compression side channels when secrets and attacker-chosen text share a message.",
  }),
  setting({
    name: 'wsDrainGrace',
    section: 'WebSockets',
    type: 'float',
    flags: ['--ws-drain-grace'],
    meta: 'SECONDS',
    default: 3,
    parse: parseFloat_(0),
    doc: 'When a worker begins a graceful stop (HUP, TERM, TTOU, --max-requests), how long its open WebSockets keep running before each gets a close frame 1001 (going away), so messages in flight finish; clients then reconnect to the new workers. At most half of --graceful-timeout is used. A peer that does not answer the close frame within 2 s more is disconnected.',
  }),
  // -- Process Naming
  setting({
    name: 'procName',
    section: 'Process Naming',
    type: 'string',
    flags: ['-n', '--name'],
    meta: 'NAME',
    default: null,
    defaultDoc: 'the app module',
    parse: parseOptionalString,
    doc: 'The name shown in process titles (`unicorn-ts: master [NAME]`) and logs.',
  }),
] as const;

/** prom-client's default buckets, in seconds. */
export const DEFAULT_METRICS_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The settings of issue 13's "see inside": metrics, health, StatsD. Appended to the table. */
const OPERATIONS_SETTINGS = [
  setting({
    name: 'metricsBind',
    section: 'Operations',
    type: 'string',
    flags: ['--metrics-bind'],
    meta: 'ADDRESS',
    default: null,
    parse: parseMetricsBind,
    doc: "Serve Prometheus metrics (`GET /metrics`) and health checks (`GET /healthz`: the master is alive and its loop turns; `GET /readyz`: at least one worker serves and the master is not stopping) at this address: HOST:PORT, [IPV6]:PORT or unix:PATH. Off by default. The master answers them itself, on its own socket, never on an app's: an address equal to a --bind is refused. The metric names and labels are listed in docs/deploy.md. It holds at most 64 connections, each given 10 seconds to send its request: what clients hold there the master holds, and it needs descriptors to fork workers. When off, workers count nothing.",
  }),
  setting({
    name: 'metricsBuckets',
    section: 'Operations',
    type: 'string',
    flags: ['--metrics-buckets'],
    meta: 'LIST',
    default: DEFAULT_METRICS_BUCKETS as number[],
    defaultDoc: '0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10',
    parse: parseBuckets,
    doc: 'The upper bounds, in seconds and comma-separated, of the request latency histogram `unicorn_request_duration_seconds` (with --metrics-bind).',
  }),
  setting({
    name: 'statsdHost',
    section: 'Operations',
    type: 'string',
    flags: ['--statsd-host'],
    meta: 'HOST:PORT',
    default: null,
    parse: parseStatsdHost,
    doc: "Send StatsD metrics over UDP to HOST:PORT (Gunicorn's setting), from the master, once a second: the counters requests, request.status.CLASS (2xx, 4xx...), request.shed, worker.restarts.REASON and reloads.RESULT, and the gauges workers (ready), workers.desired and requests.in_flight; docs/deploy.md lists them. There is no per-request timer (docs/design.md says why; --metrics-bind has the latency histogram). Needs the optional peer dependency hot-shots (`npm install hot-shots`), loaded only when this is set.",
  }),
  setting({
    name: 'statsdPrefix',
    section: 'Operations',
    type: 'string',
    flags: ['--statsd-prefix'],
    meta: 'PREFIX',
    default: '',
    parse: (raw, name) => {
      const prefix = parseString(raw, name);
      return prefix === '' || prefix.endsWith('.') ? prefix : `${prefix}.`;
    },
    doc: 'A prefix for every StatsD metric name (with --statsd-host); a dot is added when it does not end in one.',
  }),
  setting({
    name: 'captureOutput',
    section: 'Logging',
    type: 'bool',
    flags: ['--capture-output'],
    default: false,
    parse: parseBool,
    doc: "Send what the app writes to standard output and standard error in a worker (`console.*`, `process.stdout.write`) into the error log, one `worker.output` line per line of text, so a JSON log stays JSON. Writes to file descriptors 1 and 2 that bypass Node's streams (a native addon, a child process with inherited stdio) are not seen.",
  }),
] as const;

const HOOK_SETTINGS = (Object.keys(HOOKS) as HookName[]).map((name) =>
  setting({
    name,
    section: 'Server Hooks',
    type: 'hook',
    flags: [],
    default: null,
    parse: parseHook,
    doc: HOOKS[name],
  }),
);

export const SETTINGS: readonly SettingSpec<unknown>[] = [
  ...BASE_SETTINGS,
  ...OPERATIONS_SETTINGS,
  ...HOOK_SETTINGS,
];

type BaseSettingValues = {
  [S in
    | (typeof BASE_SETTINGS)[number]
    | (typeof OPERATIONS_SETTINGS)[number] as S['name']]: S extends SettingSpec<infer T, string> ? T : never;
};

/** The resolved configuration: every setting, with its value. Frozen once resolved. */
export type Settings = Readonly<BaseSettingValues & { [H in HookName]: HookFn | null }>;

/**
 * The settings a worker is given at spawn: every one but the hooks (functions do not travel; a
 * worker imports them from the config file itself). Every value is JSON-safe.
 */
export type WorkerSettings = Readonly<BaseSettingValues>;

export const SETTINGS_BY_NAME: ReadonlyMap<string, SettingSpec<unknown>> = new Map(
  SETTINGS.map((s) => [s.name, s]),
);

/** The nearest setting name to a misspelt one, for "did you mean" hints. */
export function nearestSettingName(name: string): string | undefined {
  const bare = name.replace(/^-+/, '').toLowerCase();
  for (const spec of SETTINGS) {
    if (spec.flags.some((flag) => flag.replace(/^-+/, '').toLowerCase() === bare)) return spec.name;
  }
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const wanted = name.toLowerCase().replace(/[-_]/g, '');
  for (const candidate of SETTINGS_BY_NAME.keys()) {
    const d = editDistance(wanted, candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(wanted.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

// ---- --help text -----------------------------------------------------------------------------

/** Words whose period does not end a sentence (`e.g. /api` is not the end of one). */
const ABBREVIATION_BEFORE = /(^|[\s(])(e\.g|i\.e|cf|vs)$/i;

/**
 * The first sentence of a setting's doc, for --help. A period ends a sentence only when it is
 * followed by a space or the end, is not an abbreviation's, and is outside parentheses and `code`.
 */
export function firstSentence(doc: string): string {
  let depth = 0;
  let inCode = false;
  for (let i = 0; i < doc.length; i++) {
    const c = doc[i]!;
    if (c === '`') inCode = !inCode;
    if (inCode) continue;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (
      depth === 0 &&
      (c === '.' || c === '?' || c === '!') &&
      (i + 1 === doc.length || /\s/.test(doc[i + 1]!)) &&
      !ABBREVIATION_BEFORE.test(doc.slice(0, i))
    ) {
      return doc.slice(0, i + 1);
    }
  }
  return doc;
}

/** A setting's default as --help shows it: `defaultDoc` when the table has one, else the value. */
export function helpDefault(spec: SettingSpec<unknown>): string {
  if (spec.defaultDoc !== undefined) return spec.defaultDoc;
  const value = spec.default;
  if (value === null || value === '' || (Array.isArray(value) && value.length === 0)) return 'none';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (Array.isArray(value)) return value.join(', ');
  return String(value);
}

/** One option's --help description: its first sentence, then its choices, default and env var. */
export function helpText(spec: SettingSpec<unknown>): string {
  const facts: string[] = [];
  if (spec.choices) facts.push(`choices: ${spec.choices.join(', ')}`);
  facts.push(`default: ${helpDefault(spec)}`);
  if (spec.env !== undefined) facts.push(`env: ${spec.env}`);
  return `${firstSentence(spec.doc)} (${facts.join('; ')})`;
}
