/**
 * The master's listening sockets. The master binds each address once at start and keeps the handle
 * for its whole life, never accepting on it: workers listen on copies passed to them over IPC and
 * accept from the shared queue themselves. Because the master's copy stays open, the port never closes
 * while workers restart; connections made while no worker listens wait in the kernel's queue.
 *
 * A socket can also come ready-made, as a file descriptor the master inherited. `openSockets` decides,
 * once at start, where each socket comes from:
 *
 * 1. systemd socket activation (LISTEN_PID is this process and LISTEN_FDS=n): fds 3 .. 3+n-1 are the
 *    sockets, and the `bind` setting is ignored entirely, whether it was given or left to its default.
 *    That is what a Gunicorn user expects, and it is the only safe choice: the socket unit is where
 *    the operator declared the addresses, systemd already holds them, and binding a configured
 *    address next to them would at best duplicate one and at worst fail with "address in use".
 *    LISTEN_FDNAMES is accepted and not used. When LISTEN_PID names another process (the variables
 *    were meant for a parent, say a shell), they are ignored.
 * 2. An upgrade (UNICORN_TS_FDS, set by an old master for the new one it starts; the format is at
 *    `inheritedFdsEnv`): each configured bind takes the inherited socket with the same address, so the
 *    port never closes across the upgrade. Binds that match none are bound afresh; inherited sockets
 *    that match no bind are closed. Sockets the old master had from systemd stay "from systemd" here,
 *    so rule 1 carries over an upgrade.
 * 3. `fd://N` binds use the process's own fd N as is.
 * 4. Every other bind is bound here (`bindSocket`).
 *
 * LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES and UNICORN_TS_FDS are removed from the environment (whether
 * they were used or not), so workers and anything else the master starts never take them for theirs.
 *
 * Socket files: a unix socket is removed at exit only by a master that created it itself. One that
 * came as fd://N or from systemd belongs to whoever created it. One inherited in an upgrade is left in
 * place because the other master may still be serving on it; the master that ends up last is the one
 * to remove it: at exit, an inherited socket file nothing listens on any more goes
 * (`removeUnusedSocketFile`).
 */

import { lookup } from 'node:dns/promises';
import { chmodSync, existsSync, fstatSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { basename, dirname, join } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { type BindAddress, formatBind, parseBind } from '../bind.js';
import { UnicornError } from '../errors.js';
import { createServerHandle, type NativeHandle } from '../node-internals.js';

export { type BindAddress, parseBind };

/** Where the master got a socket; it decides whether the master removes a unix socket's file. */
export type SocketOrigin =
  /** Bound by this master: its socket file is removed at exit. */
  | 'bound'
  /** A `fd://N` bind: the fd was open when the master started. */
  | 'fd'
  /** Passed by systemd socket activation (directly or through an upgrade). */
  | 'systemd'
  /** Handed over by an old master through UNICORN_TS_FDS. */
  | 'upgrade';

export interface ListenSocket {
  /** The bind as configured; for a socket from systemd, `{ kind: 'fd', fd }` with its fd here. */
  readonly bind: BindAddress;
  /** The bound handle (a libuv TCP or Pipe wrap), passed to workers as is. */
  readonly handle: object;
  /**
   * `http://127.0.0.1:8000` or `unix:/path`, with the real port when 0 was asked for. A TCP socket
   * taken from a file descriptor shows the address it is bound to; a unix one `fd://N`, as its path
   * cannot be read back from the descriptor.
   */
  readonly url: string;
  readonly origin: SocketOrigin;
}

/** The environment variables this module reads and then removes. */
export const SOCKET_ENV = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'UNICORN_TS_FDS'] as const;

/**
 * Mode of the unix sockets the master creates, as in Gunicorn: `0o777 & ~umask` with the --umask
 * setting, so the default (0) lets any local process connect (nginx under its own user) and
 * `--umask 0o007` limits it to the owner and group.
 */
export function unixSocketMode(umask: number): number {
  return 0o777 & ~umask;
}

type Handle = NativeHandle;

interface SockName {
  address?: string;
  port?: number;
}

/** Inode of each socket file this master created, so it never removes a file someone put there since. */
const createdFiles = new WeakMap<ListenSocket, number>();

// ---- opening every socket at start -------------------------------------------------------------

/**
 * The master's sockets for the `bind` setting, following the rules at the top of this file. On
 * failure nothing is left open (and no file this call created is left behind).
 */
export async function openSockets(
  binds: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  pid: number = process.pid,
  unixMode: number = unixSocketMode(0),
): Promise<ListenSocket[]> {
  const listenPid = env.LISTEN_PID;
  const listenFds = env.LISTEN_FDS;
  const handedOver = env.UNICORN_TS_FDS;
  for (const name of SOCKET_ENV) delete env[name];

  const opened: ListenSocket[] = [];
  const inherited: Inherited[] = [];
  const plan: Array<ListenSocket | BindAddress> = [];
  try {
    for (const fd of systemdFds(listenPid, listenFds, pid)) {
      opened.push(fromFd(fd, { kind: 'fd', fd }, 'systemd', `the socket systemd passed as fd ${fd}`));
    }
    for (const entry of parseInheritedFds(handedOver ?? '')) {
      if (opened.some((socket) => socket.bind.kind === 'fd' && socket.bind.fd === entry.fd)) {
        throw new UnicornError('UNICORN_BIND', `fd ${entry.fd} is in both LISTEN_FDS and UNICORN_TS_FDS`);
      }
      const wrapped = wrapFd(entry.fd, `fd ${entry.fd} from UNICORN_TS_FDS`);
      inherited.push({ ...entry, ...wrapped, taken: false });
    }
    for (const entry of inherited) {
      if (entry.what !== 'systemd') continue;
      entry.taken = true;
      opened.push(socketFrom(entry, { kind: 'fd', fd: entry.fd }, 'systemd'));
    }
    if (opened.length > 0) {
      closeUntaken(inherited);
      return opened;
    }

    // Match every bind first, so inherited sockets nobody wants are closed before anything is bound.
    const fdBinds = new Set<number>();
    for (const text of binds) {
      const bind = parseBind(text);
      if (bind.kind === 'fd' && fdBinds.has(bind.fd)) {
        throw new UnicornError('UNICORN_BIND', `cannot use fd://${bind.fd}: it is given twice`);
      }
      if (bind.kind === 'fd') fdBinds.add(bind.fd);
      plan.push(await matchInherited(bind, inherited));
    }
    closeUntaken(inherited);
    // Checked for every bind before any is bound, so a bad one leaves nothing behind.
    for (const item of plan) if (!('handle' in item) && item.kind === 'unix') checkUnixPathLength(item.path);
    for (const item of plan) opened.push('handle' in item ? item : await bindSocket(item, unixMode));
    return opened;
  } catch (err) {
    for (const socket of opened) closeSocket(socket);
    for (const item of plan) if ('handle' in item && !opened.includes(item)) closeSocket(item);
    closeUntaken(inherited);
    throw err;
  }
}

/** The fds systemd passed to this process, or none. */
function systemdFds(listenPid: string | undefined, listenFds: string | undefined, pid: number): number[] {
  if (listenPid === undefined || listenFds === undefined) return [];
  if (listenPid.trim() !== String(pid)) return [];
  if (!/^\d+$/.test(listenFds.trim())) {
    throw new UnicornError('UNICORN_BIND', `invalid LISTEN_FDS "${listenFds}" (systemd socket activation)`);
  }
  return Array.from({ length: Number(listenFds.trim()) }, (_, i) => 3 + i);
}

interface Inherited extends InheritedFd, Wrapped {
  taken: boolean;
}

async function matchInherited(
  bind: BindAddress,
  inherited: Inherited[],
): Promise<ListenSocket | BindAddress> {
  const free = inherited.filter((entry) => !entry.taken);
  let found: Inherited | undefined;
  if (bind.kind === 'fd') {
    found = free.find((e) => e.what !== 'systemd' && e.what?.kind === 'fd' && e.what.fd === bind.fd);
    if (found === undefined && inherited.some((e) => e.fd === bind.fd)) {
      throw new UnicornError(
        'UNICORN_BIND',
        `cannot use fd://${bind.fd}: fd ${bind.fd} is a socket handed over in UNICORN_TS_FDS for another bind`,
      );
    }
  } else if (bind.kind === 'unix') {
    found = free.find((e) => e.what !== 'systemd' && e.what?.kind === 'unix' && e.what.path === bind.path);
  } else {
    const address = await resolveHost(bind.host);
    found = free.find(
      (e) =>
        e.tcp !== null &&
        (e.what === null || (e.what !== 'systemd' && e.what.kind === 'tcp')) &&
        e.tcp.address === address &&
        (bind.port === 0 || e.tcp.port === bind.port),
    );
  }
  if (found === undefined) return bind;
  found.taken = true;
  return socketFrom(found, bind, 'upgrade');
}

function closeUntaken(inherited: Inherited[]): void {
  for (const entry of inherited) {
    if (entry.taken) continue;
    entry.taken = true;
    entry.handle.close();
  }
}

// ---- file descriptors ----------------------------------------------------------------------------

interface Wrapped {
  readonly fd: number;
  readonly handle: Handle;
  /** The address a TCP socket is bound to; null for a unix socket. */
  readonly tcp: { readonly address: string; readonly port: number } | null;
}

/**
 * A server handle around an open fd, without accepting on it. The fd must be a stream socket (TCP or
 * unix) that is bound, and normally listening already; workers call listen() on it again with
 * --backlog, which only adjusts the queue of a listening socket.
 */
function wrapFd(fd: number, what: string): Wrapped {
  const fail = (why: string) => new UnicornError('UNICORN_BIND', `cannot use ${what}: ${why}`);
  let isSocket: boolean;
  try {
    isSocket = fstatSync(fd).isSocket();
  } catch {
    throw fail(`file descriptor ${fd} is not open`);
  }
  if (!isSocket) throw fail(`file descriptor ${fd} is not a socket`);
  const handle = createServerHandle(null, 0, 0, fd);
  if (typeof handle === 'number') {
    const name = getSystemErrorName(handle);
    if (name === 'EINVAL') throw fail(`file descriptor ${fd} is not a stream socket (TCP or unix)`);
    if (name === 'EEXIST') throw fail(`file descriptor ${fd} is already in use by this process`);
    throw fail(name);
  }
  const wrapped = handle as Handle;
  if (typeof wrapped.getsockname !== 'function') return { fd, handle: wrapped, tcp: null };
  if (wrapped.getpeername?.({}) === 0) {
    wrapped.close();
    throw fail(`file descriptor ${fd} is a connected socket, not a listening one`);
  }
  const out: SockName = {};
  const err = wrapped.getsockname(out);
  if (err !== 0 || out.address === undefined || out.port === undefined) {
    wrapped.close();
    throw fail(`cannot read the address of file descriptor ${fd}`);
  }
  return { fd, handle: wrapped, tcp: { address: out.address, port: out.port } };
}

function fromFd(fd: number, bind: BindAddress, origin: SocketOrigin, what: string): ListenSocket {
  return socketFrom(wrapFd(fd, what), bind, origin);
}

function socketFrom(wrapped: Wrapped, bind: BindAddress, origin: SocketOrigin): ListenSocket {
  let url: string;
  if (wrapped.tcp !== null) url = httpUrl(wrapped.tcp.address, wrapped.tcp.port);
  else if (bind.kind === 'unix') url = `unix:${bind.path}`;
  else url = `fd://${wrapped.fd}`;
  return { bind, handle: wrapped.handle, url, origin };
}

/** The fd of a socket's handle in this process (to pass it on to a child as one of its stdio). */
export function socketFd(socket: ListenSocket): number {
  const fd = (socket.handle as Handle).fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new UnicornError('UNICORN_BIND', `the socket for ${socket.url} has no file descriptor`);
  }
  return fd;
}

// ---- handing sockets over to a new master ------------------------------------------------------

/** One entry of UNICORN_TS_FDS: a fd, and what the old master used it for (null when not said). */
export interface InheritedFd {
  readonly fd: number;
  readonly what: BindAddress | 'systemd' | null;
}

/**
 * The value of UNICORN_TS_FDS for a new master that gets `sockets` as its fds `firstFd`, `firstFd+1`...
 * in this order (spawn it with `stdio: [in, out, err, ...sockets.map(socketFd)]`).
 *
 * Format: entries separated by commas, each `FD` or `FD:WHAT`, where WHAT is
 *   - a --bind address (`127.0.0.1:8000`, `[::1]:8000`, `unix:/run/app.sock`), or `fd://N` for a socket
 *     the old master had from a `fd://N` bind (N being its number in the old master), or
 *   - `systemd` for a socket from socket activation.
 * Commas and percent signs in WHAT are written %2C and %25. Example: `3:127.0.0.1:8000,4:unix:/run/a.sock`.
 *
 * The new master matches a TCP socket to a bind by the address the socket is bound to (getsockname),
 * so for TCP the address written here is only informative and a bare `FD` works. A unix socket's path
 * cannot be read back from its fd, so a unix socket needs `FD:unix:PATH` to be matched at all.
 */
export function inheritedFdsEnv(sockets: readonly ListenSocket[], firstFd = 3): string {
  return sockets.map((socket, i) => `${firstFd + i}:${encodeWhat(socketWhat(socket))}`).join(',');
}

function socketWhat(socket: ListenSocket): string {
  if (socket.origin === 'systemd') return 'systemd';
  if (socket.bind.kind !== 'tcp') return formatBind(socket.bind);
  const out: SockName = {};
  const handle = socket.handle as Handle;
  if (handle.getsockname?.(out) === 0 && out.address !== undefined && out.port !== undefined) {
    return formatBind({ kind: 'tcp', host: out.address, port: out.port });
  }
  return formatBind(socket.bind);
}

const encodeWhat = (what: string) => what.replace(/%/g, '%25').replace(/,/g, '%2C');

/** Parses UNICORN_TS_FDS (see `inheritedFdsEnv`); an empty value is no entries. */
export function parseInheritedFds(text: string): InheritedFd[] {
  if (text.trim() === '') return [];
  const seen = new Set<number>();
  return text.split(',').map((item) => {
    const bad = (why: string) =>
      new UnicornError('UNICORN_BIND', `invalid UNICORN_TS_FDS entry "${item}": ${why}`);
    const m = /^(\d+)(?::(.*))?$/s.exec(item);
    if (m === null) throw bad('expected FD or FD:ADDRESS');
    const fd = Number(m[1]);
    if (seen.has(fd)) throw bad(`fd ${fd} is listed twice`);
    seen.add(fd);
    if (m[2] === undefined) return { fd, what: null };
    if (m[2] === '') throw bad('empty address');
    let what: string;
    try {
      what = decodeURIComponent(m[2]);
    } catch {
      throw bad('bad percent-encoding');
    }
    if (what === 'systemd') return { fd, what };
    try {
      return { fd, what: parseBind(what) };
    } catch (err) {
      throw bad((err as Error).message);
    }
  });
}

// ---- binding -------------------------------------------------------------------------------------

export async function bindSocket(
  bind: BindAddress,
  unixMode: number = unixSocketMode(0),
): Promise<ListenSocket> {
  if (bind.kind === 'fd') return fromFd(bind.fd, bind, 'fd', `fd://${bind.fd}`);
  if (bind.kind === 'unix') {
    checkUnixPathLength(bind.path);
    await refuseLiveUnixSocket(bind.path);
    return bindUnixSocket(bind, unixMode);
  }
  const address = await resolveHost(bind.host);
  const family = net.isIPv6(address) ? 6 : 4;
  if (bind.port !== 0) await probePort(address, bind.port);
  const handle = createServerHandle(address, bind.port, family);
  if (typeof handle === 'number') throw bindFailed(`${bind.host}:${bind.port}`, handle);
  const out: SockName = {};
  (handle as Handle).getsockname?.(out);
  return { bind, handle, url: httpUrl(address, out.port ?? bind.port), origin: 'bound' };
}

/**
 * The single place the permissions of a unix socket the master creates are set (see
 * unixSocketMode(--umask)).
 */
export function setUnixSocketMode(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (err) {
    throw new UnicornError(
      'UNICORN_BIND',
      `cannot set the mode of unix:${path} to ${mode.toString(8)}: ${(err as Error).message}`,
    );
  }
}

async function resolveHost(host: string): Promise<string> {
  return net.isIP(host) ? host : (await lookup(host)).address;
}

function httpUrl(address: string, port: number): string {
  return `http://${net.isIPv6(address) ? `[${address}]` : address}:${port}`;
}

/**
 * libuv reports EADDRINUSE from listen(), not bind(), and the master never listens (workers do). A
 * short listen-and-close on the same address first turns a port in use into an error at start,
 * naming the address, instead of a failure in every worker.
 */
function probePort(address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'address already in use'
          : err.code === 'EACCES'
            ? 'permission denied'
            : err.message;
      reject(new UnicornError('UNICORN_BIND', `cannot bind ${address}:${port}: ${why}`));
    });
    probe.listen({ host: address, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function bindFailed(address: string, errno: number): UnicornError {
  const name = getSystemErrorName(errno);
  const why =
    name === 'EADDRINUSE' ? 'address already in use' : name === 'EACCES' ? 'permission denied' : name;
  return new UnicornError('UNICORN_BIND', `cannot bind ${address}: ${why}`);
}

/** The longest unix socket path every platform takes (macOS: 104 bytes with the NUL; Linux 108). */
const UNIX_PATH_MAX = 103;
/** The longest path this platform takes: sun_path is 108 bytes on Linux, 104 elsewhere, NUL included. */
export const UNIX_PATH_LIMIT = process.platform === 'linux' ? 107 : 103;

/**
 * libuv (before 1.46) cuts a longer path short without a word: the socket would be bound, and its
 * file created, at a path nobody asked for.
 */
function checkUnixPathLength(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes <= UNIX_PATH_LIMIT) return;
  throw new UnicornError(
    'UNICORN_BIND',
    `cannot bind unix:${path}: the path is ${bytes} bytes, over the limit of ${UNIX_PATH_LIMIT} bytes for a unix socket path on ${process.platform}`,
    { hint: 'Use a shorter path, e.g. in /run or /tmp, or a symbolic link to a shorter directory.' },
  );
}
let tempSerial = 0;

/**
 * A unix socket at `bind.path`. libuv removes the file of a socket it bound by name when the handle
 * closes, which would leave the master no say over the file (a master handing its sockets to a new
 * one must leave it in place). So the socket is bound under a temporary name beside the path, given
 * its mode, then renamed into place: the handle only knows the temporary name, which no longer exists
 * when it closes, and `closeSocket` alone decides about the real path. The rename also replaces a
 * stale socket file (left by a killed master) in one step. When the temporary name would be too long
 * for a socket path, the socket is bound at its path directly and libuv removes it on close.
 */
/** A socket file someone still answers on belongs to a running server: never take it over. */
function refuseLiveUnixSocket(path: string): Promise<void> {
  if (!existsSync(path)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      reject(new UnicornError('UNICORN_BIND', `cannot bind unix:${path}: another server is listening on it`));
    });
    probe.once('error', () => resolve());
  });
}

function bindUnixSocket(bind: BindAddress & { kind: 'unix' }, mode: number): ListenSocket {
  const { path } = bind;
  if (!existsSync(dirname(path))) {
    throw new UnicornError('UNICORN_BIND', `cannot bind unix:${path}: the directory does not exist`);
  }
  if (existsSync(path) && !lstatSync(path).isSocket()) {
    throw new UnicornError('UNICORN_BIND', `cannot bind unix:${path}: the path exists and is not a socket`);
  }
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${++tempSerial}`);
  const direct = Buffer.byteLength(temp) > UNIX_PATH_MAX;
  // A socket file left by a master that was killed: nobody answers on it, so it can go.
  if (direct && existsSync(path)) unlinkSync(path);
  const handle = createServerHandle(direct ? path : temp, -1, -1);
  if (typeof handle === 'number') throw bindFailed(`unix:${path}`, handle);
  const socket: ListenSocket = { bind, handle, url: `unix:${path}`, origin: 'bound' };
  try {
    // Nobody can connect yet (the socket is not listening until a worker listens on it), so setting
    // the mode after bind() leaves no window with a wider one.
    setUnixSocketMode(direct ? path : temp, mode);
    if (!direct) renameSync(temp, path);
    createdFiles.set(socket, lstatSync(path).ino);
  } catch (err) {
    (handle as Handle).close();
    if (!direct) unlinkQuietly(temp);
    throw err instanceof UnicornError
      ? err
      : new UnicornError('UNICORN_BIND', `cannot bind unix:${path}: ${(err as Error).message}`);
  }
  return socket;
}

// ---- closing -------------------------------------------------------------------------------------

/**
 * Closes the master's copy of a socket. `unlink` (whether to remove a unix socket's file) defaults to
 * "this master created it": never for fd://N, systemd or inherited sockets. A master handing its
 * sockets over passes `unlink: false`; one that inherited them and turns out to be the last passes
 * `unlink: true`. Even then only a socket file is removed, and for a file this master created, only
 * if it is still the same file.
 */
export function closeSocket(socket: ListenSocket, options: { unlink?: boolean } = {}): void {
  const unlink = options.unlink ?? socket.origin === 'bound';
  (socket.handle as Handle).close();
  if (!unlink || socket.bind.kind !== 'unix') return;
  const path = socket.bind.path;
  try {
    const stat = lstatSync(path);
    const created = createdFiles.get(socket);
    if (!stat.isSocket() || (created !== undefined && stat.ino !== created)) return;
  } catch {
    return; // Already gone.
  }
  unlinkQuietly(path);
}

/**
 * After an upgrade the last master standing removes the socket file it inherited: when nothing
 * listens on the path any more (the old master and its workers are gone), nobody else will. A path
 * some process still listens on (the old master, if it outlived us) is left to that process.
 */
export async function removeUnusedSocketFile(path: string): Promise<void> {
  try {
    if (!lstatSync(path).isSocket()) return;
  } catch {
    return; // Already gone.
  }
  const unused = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
  if (unused) unlinkQuietly(path);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}
