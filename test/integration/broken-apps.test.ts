import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fixture, runCli, stopAll } from '../helpers/server.js';

after(stopAll);

const cases: Array<[string, string, RegExp]> = [
  ['a missing file', 'does-not-exist.mjs', /cannot find app module .*does-not-exist\.mjs/],
  [
    'a missing export',
    `${fixture('no-default.mjs')}`,
    /no-default\.mjs has no default export \(it exports: other, something\)/,
  ],
  ['a missing named export', `${fixture('pid.mjs')}:nope`, /pid\.mjs has no export named "nope"/],
  [
    'a syntax error',
    fixture('syntax-error.mjs'),
    /failed to import app module .*syntax-error\.mjs: .*(Unexpected|SyntaxError)/,
  ],
  [
    'a module that throws at import',
    fixture('import-throws.mjs'),
    /import-throws\.mjs: this module refuses to load/,
  ],
  [
    'an export that is not a handler',
    fixture('not-handler.mjs'),
    /not-handler\.mjs: "default" is a number, not a handler/,
  ],
];

describe('an app that cannot be loaded stops the master with exit code 4 and one clear line', () => {
  for (const [what, spec, reason] of cases) {
    test(what, async () => {
      const result = await runCli([spec, '-w', '2', '-b', '127.0.0.1:0', '--log-format', 'json']);
      assert.equal(result.code, 4, result.stderr);
      const halt = result.logs.find((l) => l.event === 'master.halt');
      assert.ok(halt, result.stderr);
      assert.match(String(halt.msg), /^App failed to load: /);
      assert.match(String(halt.msg), reason);
      // Halting, not respawning forever; and at first boot one worker goes first, so a broken app
      // fails once, not in every worker.
      assert.equal(result.logs.filter((l) => l.event === 'worker.booting').length, 1);
    });
  }

  test('--preload fails in the master before any worker is forked', async () => {
    const result = await runCli([
      fixture('import-throws.mjs'),
      '--preload',
      '-b',
      '127.0.0.1:0',
      '--log-format',
      'json',
    ]);
    assert.equal(result.code, 4);
    assert.equal(result.logs.filter((l) => l.event === 'worker.booting').length, 0);
    assert.match(String(result.logs.find((l) => l.event === 'master.halt')?.msg), /refuses to load/);
  });

  test('a startup() that throws is a worker boot error: exit code 3', async () => {
    const result = await runCli([fixture('startup-fails.mjs'), '-b', '127.0.0.1:0', '--log-format', 'json']);
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      String(result.logs.find((l) => l.event === 'master.halt')?.msg),
      /Worker failed to boot: .*database unreachable/,
    );
  });
});
