/**
 * The request a worker is busy with, kept in memory that its stack probe thread can read while the
 * main thread is stuck (workers/stack-probe-thread.ts). This is how a `WORKER TIMEOUT` line names
 * the request that blocked without the worker telling the master about every request: posting is a
 * few hundred nanoseconds of writes into a SharedArrayBuffer, where a heartbeat per request cost a
 * pipe write and a read of /proc (most of a sync worker's time, measured).
 *
 * One writer (the main thread), one reader (the probe thread). A sequence number, odd while a post
 * is being written, lets the reader tell a torn read from a whole one; in the case that matters the
 * main thread is blocked, so the board holds still.
 */

/** Bytes kept of `METHOD target`; a longer request line is cut there (a log line, not a record). */
const TEXT_BYTES = 512;
/** Int32 sequence, Int32 text length, Float64 start time, then the text. */
const TEXT_OFFSET = 16;

export interface PostedRequest {
  /** `METHOD target`, as the access log's request line without the version. */
  request: string;
  /** When the request started, in ms since the epoch. */
  startedAt: number;
}

export class RequestBoard {
  readonly buffer: SharedArrayBuffer;
  readonly #header: Int32Array;
  readonly #startedAt: Float64Array;
  readonly #text: Uint8Array;
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();

  /** A new, empty board; or a view of one another thread created. */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(TEXT_OFFSET + TEXT_BYTES)) {
    this.buffer = buffer;
    this.#header = new Int32Array(buffer, 0, 2);
    this.#startedAt = new Float64Array(buffer, 8, 1);
    this.#text = new Uint8Array(buffer, TEXT_OFFSET);
  }

  /** Shows this request; `method` and `target` are joined by one space. */
  post(method: string, target: string, startedAt: number): void {
    Atomics.add(this.#header, 0, 1);
    const text = this.#text;
    let length = this.#encoder.encodeInto(method, text).written;
    if (length < text.length) text[length++] = 0x20;
    length += this.#encoder.encodeInto(target, text.subarray(length)).written;
    this.#header[1] = length;
    this.#startedAt[0] = startedAt;
    Atomics.add(this.#header, 0, 1);
  }

  /** Shows that no request is in flight. */
  clear(): void {
    Atomics.add(this.#header, 0, 1);
    this.#header[1] = -1;
    Atomics.add(this.#header, 0, 1);
  }

  /** What the board shows; null when empty or never posted to, or when every read was torn. */
  read(): PostedRequest | null {
    for (let attempt = 0; attempt < 100; attempt++) {
      const before = Atomics.load(this.#header, 0);
      if (before % 2 === 1) continue;
      const length = this.#header[1] as number;
      const startedAt = this.#startedAt[0] as number;
      // slice() copies out of the shared memory: TextDecoder does not read shared views.
      const bytes = length > 0 ? this.#text.slice(0, length) : null;
      if (Atomics.load(this.#header, 0) !== before) continue;
      if (before === 0 || bytes === null) return null;
      return { request: this.#decoder.decode(bytes), startedAt };
    }
    return null;
  }
}
