/**
 * The worker's side of test/unit/listen.test.ts: listens on the handle the parent sends, as a worker
 * does, pauses accepting after the first connection, and answers `count` and `resume` messages.
 */
import net from 'node:net';
import { listenOnInheritedHandle, pausableAccept } from '../../../workers/listen.js';

let accepted = 0;
let pauser: { pause(): void; resume(): void } | null = null;
const server = net.createServer((socket) => {
  accepted++;
  socket.on('error', () => {});
  if (accepted === 1) pauser?.pause();
});
server.on('listening', () => {
  pauser = pausableAccept(server);
  process.send?.({ listening: true });
});
process.on('message', (message: string, handle: unknown) => {
  if (message === 'listen') listenOnInheritedHandle(server, handle, 511);
  if (message === 'resume') pauser?.resume();
  if (message === 'count' || message === 'resume') process.send?.({ accepted });
  if (message === 'exit') process.exit(0);
});
