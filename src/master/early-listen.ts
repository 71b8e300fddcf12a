/**
 * Making the master's sockets queue connections from the moment they are bound, before any worker
 * is ready.
 *
 * The master never calls listen() on its own sockets: libuv would then accept connections in the
 * master. Until a worker called listen() on its copy, a freshly bound socket therefore refused
 * connections, for as long as the first worker took to load the app. The listening state belongs to
 * the socket, not to the descriptor, so any process holding a copy can switch it on: a short-lived
 * helper gets a copy of each socket as one of its stdio descriptors, calls listen() with --backlog
 * and exits without ever running an event loop, so it never accepts. From then on the kernel queues
 * connections (up to the backlog) and the first ready worker serves them.
 *
 * Sockets from systemd or an old master are listening already and are left alone.
 */

import { spawn } from 'node:child_process';
import { type ListenSocket, socketFd } from './sockets.js';

/** Runs in the helper: listen() on fds 3.. and exit; any failure is one line on stderr. */
const HELPER = `
const net = require('node:net');
const { getSystemErrorName } = require('node:util');
const backlog = Number(process.argv[1]);
const count = Number(process.argv[2]);
for (let fd = 3; fd < 3 + count; fd++) {
  try {
    const handle = net._createServerHandle(null, 0, 0, fd);
    const err = typeof handle === 'number' ? handle : handle.listen(backlog);
    if (typeof handle !== 'number') handle.close();
    if (err !== 0) throw new Error(getSystemErrorName(err));
  } catch (err) {
    process.stderr.write('fd ' + fd + ': ' + (err && err.message) + '\\n');
    process.exitCode = 1;
  }
}
`;

/** How long the helper may take before the master stops waiting for it (it is killed). */
const HELPER_TIMEOUT_MS = 10_000;

/** The sockets this master must switch to listening itself. */
export function needEarlyListen(sockets: readonly ListenSocket[]): ListenSocket[] {
  return sockets.filter((socket) => socket.origin === 'bound' || socket.origin === 'fd');
}

/**
 * Switches `sockets` to listening through the helper. Resolves with null when they queue
 * connections, or with why they do not (they are then listening from the first ready worker on, as
 * before). Never rejects.
 */
export function listenEarly(sockets: readonly ListenSocket[], backlog: number): Promise<string | null> {
  if (sockets.length === 0) return Promise.resolve(null);
  return new Promise((resolve) => {
    let stderr = '';
    let fds: number[];
    try {
      fds = sockets.map(socketFd);
    } catch (err) {
      resolve(String(err));
      return;
    }
    // No NODE_OPTIONS: the helper needs nothing the app's environment may preload.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const helper = spawn(process.execPath, ['-e', HELPER, String(backlog), String(fds.length)], {
      stdio: ['ignore', 'ignore', 'pipe', ...fds],
      env,
      timeout: HELPER_TIMEOUT_MS,
    });
    helper.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    helper.once('error', (err) => resolve(`cannot start the helper: ${err.message}`));
    helper.once('close', (code, signal) => {
      if (code === 0) resolve(null);
      else resolve(stderr.trim().split('\n')[0] || `the helper exited with ${signal ?? `code ${code}`}`);
    });
  });
}
