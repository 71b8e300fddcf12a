import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { currentProcessView, npmShellParent, type ProcessView } from '../../src/master/supervisor.js';

const underNpm: ProcessView = {
  pid: 4242,
  ppid: 4241,
  parentName: 'sh',
  stdinIsTTY: false,
  npmLifecycleEvent: 'start',
};

describe('npmShellParent: an npm script left a shell between npm and the master', () => {
  test('sh -c under npm, no terminal: the shell is named', () => {
    assert.equal(npmShellParent(underNpm), 'sh');
    assert.equal(npmShellParent({ ...underNpm, parentName: 'dash' }), 'dash');
    assert.equal(npmShellParent({ ...underNpm, parentName: 'bash' }), 'bash');
  });

  test('exec in the script: npm (node) is the parent, nothing to say', () => {
    assert.equal(npmShellParent({ ...underNpm, parentName: 'npm start' }), null);
    assert.equal(npmShellParent({ ...underNpm, parentName: 'node' }), null);
  });

  test('on a terminal Ctrl-C reaches the whole group: nothing to say', () => {
    assert.equal(npmShellParent({ ...underNpm, stdinIsTTY: true }), null);
  });

  test('not under npm (a shell script, systemd): nothing to say', () => {
    assert.equal(npmShellParent({ ...underNpm, npmLifecycleEvent: undefined }), null);
  });

  test('a parent that cannot be read (not Linux): nothing to say', () => {
    assert.equal(npmShellParent({ ...underNpm, parentName: null }), null);
  });
});

describe('currentProcessView', () => {
  test('reads this process: its parent’s command name from /proc', () => {
    const view = currentProcessView();
    assert.equal(view.pid, process.pid);
    assert.equal(view.ppid, process.ppid);
    // The test runner started this file's process. Its command name is `node` on Node 20 and
    // `MainThread` on Node 24, which names its main thread: whatever /proc says, read the same way.
    assert.equal(view.parentName, readFileSync(`/proc/${process.ppid}/comm`, 'utf8').trim());
    assert.ok(['node', 'MainThread'].includes(view.parentName ?? ''), String(view.parentName));
  });
});
