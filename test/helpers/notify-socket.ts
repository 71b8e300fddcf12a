/**
 * A stand-in for systemd's notification socket: a unix datagram socket the test owns, given to the
 * server as NOTIFY_SOCKET. Node cannot open one (node:dgram is UDP only), so a few lines of Python
 * bind it and print each datagram as a JSON line, with the sender's pid from SCM_CREDENTIALS as
 * systemd reads it. Ancillary space is left for the credentials only: the file descriptor that
 * systemd-notify's BARRIER=1 carries is closed by the kernel, which is what ends the barrier.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { killGroup, track } from './processes.js';
import { waitFor } from './wait.js';

const RECEIVER = `
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print(json.dumps({"bound": sys.argv[1]}), flush=True)
while True:
    data, anc, flags, _ = s.recvmsg(65536, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", cdata[:12])[0]
    print(json.dumps({"pid": pid, "text": data.decode()}), flush=True)
`;

export interface NotifyMessage {
  /** The sender's pid as the kernel reports it (systemd-notify, or its parent when run as root). */
  readonly pid: number | null;
  readonly fields: Readonly<Record<string, string>>;
}

export class NotifySocket {
  readonly path: string;
  readonly messages: NotifyMessage[] = [];
  readonly #child: ChildProcess;
  #stderr = '';

  private constructor(path: string, child: ChildProcess) {
    this.path = path;
    this.#child = child;
  }

  /** Binds `path`; throws (naming what is missing) when python3 cannot be run. */
  static async open(path: string): Promise<NotifySocket> {
    const child = spawn('python3', ['-c', RECEIVER, path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    track(child);
    const socket = new NotifySocket(path, child);
    let bound = false;
    let spawnError: Error | null = null;
    child.once('error', (err) => {
      spawnError = err;
    });
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const parsed = JSON.parse(line) as { bound?: string; pid?: number | null; text?: string };
        if (parsed.bound !== undefined) bound = true;
        // BARRIER=1 is systemd-notify's synchronisation, not a message from the server.
        else if (parsed.text !== 'BARRIER=1')
          socket.messages.push(parseMessage(parsed.pid ?? null, parsed.text!));
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      socket.#stderr += chunk;
    });
    await waitFor(
      'the notify receiver to bind',
      () => {
        if (spawnError !== null) throw new Error(`cannot run python3 for the notify receiver: ${spawnError}`);
        if (child.exitCode !== null) throw new Error(`the notify receiver exited: ${socket.#stderr}`);
        return bound || undefined;
      },
      { timeoutMs: 15_000 },
    );
    return socket;
  }

  /** The first message from index `after` on that carries `field` (with `value`, if given). */
  waitForField(field: string, value?: string, after = 0): Promise<NotifyMessage> {
    return waitFor(
      `a ${field}${value === undefined ? '' : `=${value}`} notification`,
      () =>
        this.messages
          .slice(after)
          .find((m) => field in m.fields && (value === undefined || m.fields[field] === value)),
      { timeoutMs: 60_000 },
    );
  }

  close(): void {
    killGroup(this.#child.pid!);
  }
}

function parseMessage(pid: number | null, text: string): NotifyMessage {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return { pid, fields };
}
