/**
 * The hint of an abnormal `worker.exited` line (src/master/arbiter.ts): it says what likely happened
 * and where to look, and the line names the signal once.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { abnormalExitMessage, exitHint } from '../../src/master/arbiter.js';

const unasked = { reason: null };
const line = (
  code: number | null,
  signal: NodeJS.Signals | null,
  worker: { reason: string | null } = unasked,
) => abnormalExitMessage(1234, code, signal, exitHint(code, signal, worker));
const count = (text: string, word: string) => text.split(word).length - 1;

describe('worker.exited hints', () => {
  test('a SIGKILL the master did not send: the signal once, then kill -9 or the OOM killer', () => {
    const msg = line(null, 'SIGKILL');
    assert.equal(count(msg, 'SIGKILL'), 1, msg);
    assert.match(msg, /^Worker \(pid: 1234\) exited with signal SIGKILL: /);
    assert.match(msg, /kill -9/);
    assert.match(msg, /out of memory/);
    assert.match(msg, /dmesg/);
  });

  test('a kill the master sent names the setting behind it, not the OOM killer', () => {
    for (const [reason, setting] of [
      ['timeout', /--timeout\b/],
      ['boot-timeout', /--boot-timeout/],
      ['graceful-timeout', /--graceful-timeout/],
    ] as const) {
      const msg = line(null, 'SIGKILL', { reason });
      assert.match(msg, setting, msg);
      assert.doesNotMatch(msg, /out of memory|kill -9/, msg);
      assert.equal(count(msg, 'SIGKILL'), 1, msg);
    }
    // After SIGABRT, a worker whose loop came back exits 1 on its own.
    assert.match(line(1, null, { reason: 'timeout' }), /exit code 1: killed after --timeout/);
  });

  test('no hint repeats the signal the line already names', () => {
    for (const signal of ['SIGKILL', 'SIGSEGV', 'SIGBUS', 'SIGABRT'] as const) {
      const msg = line(null, signal);
      assert.equal(count(msg, signal), 1, msg);
      assert.ok(exitHint(null, signal, unasked), `no hint for ${signal}`);
    }
  });

  test('exit codes: app load (4), boot (3), V8 abort (134), other, and 0 unasked', () => {
    assert.match(line(4, null), /exit code 4: the app could not be loaded; see the worker.boot_failed line$/);
    assert.match(line(3, null), /exit code 3: the worker could not boot/);
    assert.match(line(134, null), /out of heap memory/);
    assert.match(line(7, null), /see the error logged by the worker just before/);
    assert.match(line(0, null), /exited on its own \(process\.exit\(\) in the app\?\)/);
    assert.equal(exitHint(null, null, unasked), undefined);
  });

  test('with no hint the line ends at the exit code or signal', () => {
    assert.equal(abnormalExitMessage(1234, 1, null, undefined), 'Worker (pid: 1234) exited with exit code 1');
    assert.equal(
      abnormalExitMessage(1234, null, 'SIGTERM', undefined),
      'Worker (pid: 1234) exited with signal SIGTERM',
    );
  });
});

describe('docs/troubleshooting.md', () => {
  const page = readFileSync(new URL('../../docs/troubleshooting.md', import.meta.url), 'utf8');
  const start = page.indexOf('## `worker.exited ... SIGKILL');
  assert.notEqual(start, -1, 'no worker.exited SIGKILL section');
  const section = page.slice(start, page.indexOf('\n## ', start + 1)).replace(/\s+/g, ' ');

  test('quotes the kill -9 line as the master writes it', () => {
    assert.ok(section.includes(line(null, 'SIGKILL').replace('pid: 1234', 'pid: N')), section);
  });

  test('quotes the hints of the kills the master sends itself', () => {
    for (const reason of ['timeout', 'boot-timeout', 'graceful-timeout']) {
      const hint = exitHint(null, 'SIGKILL', { reason })!.split(';')[0]!;
      assert.ok(section.includes(`\`${hint}\``), `the section does not quote "${hint}"`);
    }
  });
});
