import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SystemdNotifier } from '../../src/master/sd-notify.js';

test('a systemd-notify that cannot even be spawned is logged once, and the queue goes on', async () => {
  const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const log = {
    warn: (_event: string, msg: string, fields: object) =>
      lines.push({ msg, fields: fields as Record<string, unknown> }),
  };
  // A NUL byte in the command: spawn() throws at once instead of emitting 'error', as it does for ENOMEM.
  const notifier = SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '/run/x.sock' }, log, 'systemd-notify\0');
  assert.ok(notifier);
  notifier.send({ READY: 1 });
  notifier.send({ STATUS: 'two' });
  await notifier.flush();
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.match(lines[0]!.msg, /READY=1/);
  assert.equal(lines[0]!.fields.errorCode, 'ERR_INVALID_ARG_VALUE');
});
