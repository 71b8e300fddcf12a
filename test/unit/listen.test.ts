import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';

// workers/listen.ts reaches into Node's listening-socket handles; this fails loudly when a Node
// release moves what it relies on. It runs on every Node version CI runs the suite with.
test('a listening socket received from another process can pause accepting and resume', async () => {
  const master = net.createServer();
  master.listen(0, '127.0.0.1');
  await once(master, 'listening');
  const { port } = master.address() as net.AddressInfo;
  const child = fork(new URL('./support/pausable-child.ts', import.meta.url).pathname, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const clients: net.Socket[] = [];
  try {
    const replies: Array<Record<string, unknown>> = [];
    const next = async () => {
      while (replies.length === 0) {
        const [message] = (await once(child, 'message')) as [Record<string, unknown>];
        replies.push(message);
      }
      return replies.shift()!;
    };
    child.send('listen', master._handle as never);
    assert.deepEqual(await next(), { listening: true });
    // From here the child is the only process accepting on the socket, as a worker is.
    master.close();
    const connect = async () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      clients.push(socket);
      await once(socket, 'connect');
    };
    // The handshake completes in the kernel before the child accepts: ask until it has.
    const count = async () => {
      child.send('count');
      return (await next()).accepted as number;
    };
    await connect();
    let first = 0;
    for (const deadline = Date.now() + 10_000; first < 1 && Date.now() < deadline; ) first = await count();
    assert.equal(first, 1);
    // The kernel completes these two connections; the paused child must not take them. Two round
    // trips through its event loop give any pending accept every chance to show.
    await connect();
    await connect();
    child.send('count');
    await next();
    child.send('count');
    assert.deepEqual(await next(), { accepted: 1 }, 'a paused socket accepted a connection');
    child.send('resume');
    await next();
    let accepted = 0;
    const deadline = Date.now() + 10_000;
    while (accepted < 3 && Date.now() < deadline) {
      child.send('count');
      accepted = (await next()).accepted as number;
    }
    assert.equal(accepted, 3, 'accepting did not resume');
  } finally {
    for (const socket of clients) socket.destroy();
    child.kill('SIGKILL');
    master.close();
  }
});
