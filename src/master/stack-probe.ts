/**
 * The master's end of a worker's stack probe (see STACK_PROBE_FD in src/ipc.ts): asks the worker's
 * probe thread where its main thread is, and waits a bounded time for the answer. Used just before a
 * worker is killed for --timeout, so the log can say what it was stuck in.
 */

import type { Readable, Writable } from 'node:stream';
import { onJsonLines, type StackProbeReply } from '../ipc.js';

export class StackProbe {
  readonly #out: Writable;
  readonly #pending = new Map<number, (reply: StackProbeReply) => void>();
  #nextId = 1;

  constructor(pipe: Readable & Writable) {
    this.#out = pipe;
    // Never let the pipe keep the master alive or take it down: the worker's exit is what counts.
    (pipe as { unref?: () => void }).unref?.();
    pipe.on('error', () => {});
    onJsonLines<StackProbeReply>(pipe, (reply) => {
      this.#pending.get(reply.id)?.(reply);
      this.#pending.delete(reply.id);
    });
  }

  /** The worker's stack, or a reply with a note saying why there is none; never rejects. */
  request(timeoutMs: number): Promise<StackProbeReply> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve({ id, frames: [], note: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.#out.write(`${JSON.stringify({ id })}\n`);
    });
  }
}
