/**
 * A WebSocket client for tests, on `ws`: messages are queued so a test awaits them in order, and the
 * close (code and reason) is a promise, so a test asserts on how the server closed.
 */
import WebSocket, { type ClientOptions } from 'ws';

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export class TestSocket {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  readonly #queue: string[] = [];
  #wake: (() => void) | null = null;
  #closedAt: Closed | null = null;

  constructor(url: string, options: ClientOptions = {}) {
    this.ws = new WebSocket(url, { handshakeTimeout: 15_000, ...options });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`handshake answered ${res.statusCode}`)),
      );
    });
    // A failed open is reported by `opened`; later errors end in a close with its code.
    this.opened.catch(() => {});
    this.ws.on('error', () => {});
    this.ws.on('message', (data, isBinary) => {
      this.#queue.push(isBinary ? `binary:${(data as Buffer).toString('hex')}` : data.toString());
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.#closedAt = { code, reason: reason.toString() };
        this.#wake?.();
        resolve(this.#closedAt);
      });
    });
  }

  /** The next message (text, or `binary:HEX`); fails if the socket closes first or none comes in time. */
  async next(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = this.#queue.shift();
      if (message !== undefined) return message;
      if (this.#closedAt !== null) {
        throw new Error(`socket closed (${this.#closedAt.code}) before the next message`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a WebSocket message');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
  }

  /** Sends `message` and returns the answer. */
  async ask(message: string): Promise<string> {
    this.ws.send(message);
    return this.next();
  }

  /** Resolves with how the socket closed; fails if it is still open after `timeoutMs`. */
  async waitClosed(timeoutMs = 30_000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out waiting for the WebSocket to close')), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Opens a socket and waits for the handshake. */
export async function openSocket(url: string, options: ClientOptions = {}): Promise<TestSocket> {
  const socket = new TestSocket(url, options);
  await socket.opened;
  return socket;
}

/** `http://host:port` becomes `ws://host:port` + path. */
export function wsUrl(httpUrl: string, path = '/'): string {
  return `${httpUrl.replace(/^http/, 'ws')}${path}`;
}
