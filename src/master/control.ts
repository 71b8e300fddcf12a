/**
 * The master's control socket (Gunicorn's control interface, Puma's control app): a unix stream
 * socket that `unicorn-ts status|reload|scale|stop|reopen-logs` talk to, in the line-delimited JSON
 * of src/control-protocol.ts. The master answers from its own state and queues actions into its
 * loop, exactly as signals are; this module only speaks the protocol and owns the socket file.
 *
 * Who may control the server is decided by the file system: the socket is mode 0600, and connect()
 * on a unix socket needs write permission on its file, so only its owner (and root) get through.
 * The mode is never wider, even for an instant: the socket is bound under a temporary name with a
 * umask of 0177, then renamed into place. The rename also
 *
 * - replaces a stale socket left by a master killed with -9, in one step;
 * - replaces a symbolic link planted at the path rather than writing through it (a link, a file
 *   that is not a socket, or a socket of another user's at the path is refused first, as the
 *   pidfile is);
 * - lets a new master started by USR2 take the path over while the old one still listens: the old
 *   master removes the file at exit only if it is still the one it created (same inode).
 *
 * libuv removes a bound socket's file by the name it was bound to when it closes; that name is the
 * temporary one, gone since the rename, so closing never touches the path (sockets.ts does the same).
 */

import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  type Stats,
  unlinkSync,
} from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import {
  CONTROL_PROTOCOL,
  type ControlCommand,
  type ControlReply,
  type ControlRequest,
  MAX_REQUEST_BYTES,
  type ReloadResult,
  type StatusResult,
} from '../control-protocol.js';
import { describeError, UnicornError } from '../errors.js';
import type { Log } from '../log.js';
import { removeUnusedSocketFile, UNIX_PATH_LIMIT } from './sockets.js';

/** What the master does for each command; the arbiter implements it. */
export interface ControlTarget {
  status(): StatusResult;
  requestReload(): Promise<ReloadResult>;
  requestScale(workers: number): Promise<void>;
  requestStop(quick: boolean): Promise<void>;
  requestReopenLogs(): Promise<void>;
}

export interface ControlOptions {
  readonly path: string;
  /** The socket's directory is ours to create (the default one): made 0700 and checked to be private. */
  readonly privateDir: boolean;
  readonly target: ControlTarget;
  readonly log: Log;
}

export class ControlServer {
  readonly path: string;
  readonly #opts: ControlOptions;
  #server: net.Server | null = null;
  /** The inode of the socket file this master put at `path`. */
  #ino: number | null = null;
  readonly #connections = new Set<net.Socket>();

  private constructor(opts: ControlOptions) {
    this.#opts = opts;
    this.path = opts.path;
  }

  /** Binds the socket at its path (see the module comment) and serves it. */
  static async open(opts: ControlOptions): Promise<ControlServer> {
    const control = new ControlServer(opts);
    await control.bind();
    return control;
  }

  private async bind(): Promise<void> {
    const { path } = this;
    if (this.#opts.privateDir) ensurePrivateDir(dirname(path));
    await refuseUnsafePath(path);
    const temp = join(dirname(path), `.ctl-${randomBytes(6).toString('hex')}`);
    if (Buffer.byteLength(temp) > UNIX_PATH_LIMIT || Buffer.byteLength(path) > UNIX_PATH_LIMIT) {
      throw new UnicornError(
        'UNICORN_CONTROL_SOCKET',
        `cannot create control socket ${path}: its directory's path is too long for a unix socket (limit ${UNIX_PATH_LIMIT} bytes)`,
      );
    }
    const server = net.createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new UnicornError(
            'UNICORN_CONTROL_SOCKET',
            `cannot create control socket ${path}: ${describeError(err)}`,
          ),
        ),
      );
      // listen() binds synchronously in the master (node:net), so the umask covers exactly the bind.
      const umask = process.umask(0o177);
      try {
        server.listen(temp, () => resolve());
      } finally {
        process.umask(umask);
      }
    });
    try {
      chmodSync(temp, 0o600);
      renameSync(temp, path);
      this.#ino = lstatSync(path).ino;
    } catch (err) {
      server.close();
      unlinkQuietly(temp);
      throw new UnicornError(
        'UNICORN_CONTROL_SOCKET',
        `cannot create control socket ${path}: ${describeError(err)}`,
      );
    }
    // Sockets left in our own directory by masters killed with -9 (nobody answers on them) go.
    if (this.#opts.privateDir) void sweepStale(dirname(path));
    server.on('error', (err) => {
      this.#opts.log.error('control.failed', `Control socket ${path}: ${describeError(err)}`, { path, err });
    });
    this.#server = server;
  }

  /**
   * A USR2 upgrade that failed: the new master may have taken the path over and then gone. If the
   * file at the path is no longer ours, bind again, so `unicorn-ts status` finds this master.
   */
  async reclaim(): Promise<void> {
    if (this.#server === null) return;
    try {
      if (lstatSync(this.path).ino === this.#ino) return;
    } catch {
      // Gone: the new master removed it at exit.
    }
    this.#server.close();
    this.#server = null;
    try {
      await this.bind();
      this.#opts.log.info('control.listening', `Control socket at ${this.path} (taken back)`, {
        path: this.path,
      });
    } catch (err) {
      this.#opts.log.error('control.failed', `Cannot take the control socket back: ${describeError(err)}`, {
        path: this.path,
        err,
      });
    }
  }

  /**
   * Stops accepting; removes the file only if it is still the one this master created (after USR2
   * it belongs to the new master). Open connections stay: a client waiting on `stop` sees its
   * connection close when this process exits.
   */
  close(): void {
    this.#server?.close();
    this.#server = null;
    try {
      const stat = lstatSync(this.path);
      if (stat.isSocket() && stat.ino === this.#ino) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }

  private serve(socket: net.Socket): void {
    this.#connections.add(socket);
    socket.once('close', () => this.#connections.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    let pending = '';
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() !== '') void this.answer(socket, line);
        newline = pending.indexOf('\n');
      }
      if (Buffer.byteLength(pending) > MAX_REQUEST_BYTES) {
        reply(socket, fail(null, 'bad-request', `request longer than ${MAX_REQUEST_BYTES} bytes`));
        socket.end();
      }
    });
  }

  private async answer(socket: net.Socket, line: string): Promise<void> {
    let request: ControlRequest;
    try {
      request = JSON.parse(line) as ControlRequest;
    } catch {
      reply(socket, fail(null, 'bad-request', 'not a JSON object'));
      return;
    }
    if (typeof request !== 'object' || request === null) {
      reply(socket, fail(null, 'bad-request', 'not a JSON object'));
      return;
    }
    const id = typeof request.id === 'number' ? request.id : null;
    if (request.v !== CONTROL_PROTOCOL) {
      reply(socket, {
        ...fail(id, 'unsupported-version', `protocol version ${String(request.v)} is not spoken here`),
        error: {
          code: 'unsupported-version',
          message: `protocol version ${String(request.v)} is not spoken here`,
          supported: [CONTROL_PROTOCOL],
        },
      });
      return;
    }
    if (id === null) {
      reply(socket, fail(null, 'bad-request', 'the request has no numeric id'));
      return;
    }
    try {
      reply(socket, await this.run(id, request));
    } catch (err) {
      reply(socket, fail(id, 'bad-request', describeError(err)));
    }
  }

  private async run(id: number, command: ControlCommand): Promise<ControlReply> {
    const { target, log } = this.#opts;
    const ok = (result: unknown): ControlReply => ({ v: CONTROL_PROTOCOL, id, ok: true, result });
    if (command.cmd === 'status') return ok(target.status());
    if (!isAction(command.cmd))
      return fail(id, 'unknown-command', `unknown command ${JSON.stringify(command.cmd)}`);
    if (target.status().master.state === 'stopping') {
      return fail(id, 'stopping', 'the master is stopping');
    }
    log.info('control.command', `Control: ${describeCommand(command)}`, { ...command });
    switch (command.cmd) {
      case 'reload': {
        const result = await target.requestReload();
        return result.ok ? ok(result) : { ...fail(id, 'reload-failed', result.reason ?? 'reload failed') };
      }
      case 'scale':
        if (!Number.isInteger(command.workers) || command.workers < 0) {
          return fail(
            id,
            'bad-request',
            `scale needs a worker count >= 0, not ${JSON.stringify(command.workers)}`,
          );
        }
        await target.requestScale(command.workers);
        return ok({ workers: command.workers });
      case 'stop':
        await target.requestStop(command.quick === true);
        return ok({ pid: process.pid });
      case 'reopen-logs':
        await target.requestReopenLogs();
        return ok({});
    }
  }
}

function isAction(cmd: unknown): cmd is 'reload' | 'scale' | 'stop' | 'reopen-logs' {
  return cmd === 'reload' || cmd === 'scale' || cmd === 'stop' || cmd === 'reopen-logs';
}

function describeCommand(command: ControlCommand): string {
  if (command.cmd === 'scale') return `scale ${command.workers}`;
  if (command.cmd === 'stop') return command.quick ? 'stop --quick' : 'stop';
  return command.cmd;
}

function fail(
  id: number | null,
  code: Extract<ControlReply, { ok: false }>['error']['code'],
  message: string,
) {
  return { v: CONTROL_PROTOCOL, id, ok: false, error: { code, message } } as const;
}

function reply(socket: net.Socket, message: ControlReply): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`);
}

/**
 * The default directory (`$XDG_RUNTIME_DIR/unicorn-ts` or `/tmp/unicorn-ts-UID`) is created 0700,
 * and used only if it is a real directory of this user's that nobody else can write, as tmux does
 * with /tmp/tmux-UID: in /tmp another user could have made it first.
 */
function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new UnicornError('UNICORN_CONTROL_SOCKET', `cannot create ${dir}: ${describeError(err)}`);
    }
  }
  const stat = lstatSync(dir);
  const uid = process.geteuid?.();
  const why = stat.isSymbolicLink()
    ? 'is a symbolic link'
    : !stat.isDirectory()
      ? 'is not a directory'
      : uid !== undefined && stat.uid !== uid
        ? `belongs to uid ${stat.uid}, not to this user (uid ${uid})`
        : (stat.mode & 0o077) !== 0
          ? `is open to other users (mode ${(stat.mode & 0o777).toString(8)})`
          : null;
  if (why !== null) {
    throw new UnicornError(
      'UNICORN_CONTROL_SOCKET_UNSAFE',
      `refusing control socket directory ${dir}: it ${why}`,
    );
  }
}

/**
 * What may be at the path before the rename: nothing, a stale socket of ours, or the live socket of
 * the master that started this one with USR2 (our parent), which we take over. Anything else is
 * refused: a link, a file that is not a socket, another user's socket, another running master's.
 */
async function refuseUnsafePath(path: string): Promise<void> {
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  const unsafe = (why: string) =>
    new UnicornError('UNICORN_CONTROL_SOCKET_UNSAFE', `refusing control socket ${path}: ${why}`);
  if (stat.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(path);
    } catch {
      // Gone again: the message names the path anyway.
    }
    throw unsafe(`it is a symbolic link (to ${target})`);
  }
  if (!stat.isSocket()) throw unsafe('the path exists and is not a socket');
  const uid = process.geteuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw unsafe(`it belongs to uid ${stat.uid}, not to this user (uid ${uid})`);
  }
  const holder = await askPid(path);
  if (holder !== null && holder !== process.ppid) {
    throw new UnicornError(
      'UNICORN_CONTROL_SOCKET',
      `control socket ${path} is in use by a running master (pid ${holder}); not taking it over`,
    );
  }
}

/** The pid of the master answering at `path`, or null when nobody answers (a stale socket). */
function askPid(path: string): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    let text = '';
    let connected = false;
    const done = (pid: number | null) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setEncoding('utf8');
    // Connected but silent: something holds the path (a master busy at start), not a stale file.
    socket.setTimeout(5_000, () => done(connected ? -1 : null));
    socket.once('connect', () => {
      connected = true;
      socket.write(`${JSON.stringify({ v: CONTROL_PROTOCOL, id: 1, cmd: 'status' })}\n`);
    });
    socket.on('data', (chunk: string) => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline === -1) return;
      try {
        const answer = JSON.parse(text.slice(0, newline)) as { result?: StatusResult };
        done(answer.result?.master.pid ?? -1);
      } catch {
        done(-1);
      }
    });
    // Something listens but does not speak the protocol: still not ours to take.
    socket.once('end', () => done(text === '' ? -1 : null));
    socket.once('error', () => done(null));
  });
}

async function sweepStale(dir: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.ctl'));
  } catch {
    return;
  }
  for (const name of names) await removeUnusedSocketFile(join(dir, name));
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}
