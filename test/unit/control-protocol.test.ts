import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatDuration } from '../../src/control-client.js';
import {
  CONTROL_SOCKET_OFF,
  controlSocketBesidePidfile,
  controlSocketPath,
  defaultControlDir,
} from '../../src/control-protocol.js';

describe('where the control socket is', () => {
  test('--control-socket wins, resolved from the working directory', () => {
    assert.equal(
      controlSocketPath({ controlSocket: 'run/x.sock', pidfile: 'app.pid' }, 7, '/srv'),
      '/srv/run/x.sock',
    );
  });

  test('beside the pidfile: app.pid gives app.ctl, any other name gets .ctl added', () => {
    assert.equal(
      controlSocketPath({ controlSocket: null, pidfile: '/run/app.pid' }, 7, '/srv'),
      '/run/app.ctl',
    );
    assert.equal(controlSocketBesidePidfile('/run/app.pidfile'), '/run/app.pidfile.ctl');
  });

  test('with neither, one socket per master in the private directory, named by its pid', () => {
    assert.equal(
      controlSocketPath({ controlSocket: null, pidfile: null }, 7, '/srv'),
      join(defaultControlDir(), '7.ctl'),
    );
    assert.equal(defaultControlDir({ XDG_RUNTIME_DIR: '/run/user/1000' }), '/run/user/1000/unicorn-ts');
    assert.match(defaultControlDir({}), /\/unicorn-ts-\d+$/);
  });

  test('none turns it off', () => {
    assert.equal(
      controlSocketPath({ controlSocket: CONTROL_SOCKET_OFF, pidfile: '/run/app.pid' }, 7, '/srv'),
      null,
    );
  });
});

test('durations in the status table', () => {
  assert.deepEqual([0, 45_000, 723_000, 11_040_000, 183_600_000].map(formatDuration), [
    '0s',
    '45s',
    '12m03s',
    '3h04m',
    '2d03h',
  ]);
});
