import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { Arbiter } from '../../src/master/arbiter.js';
import { MASTER_SIGNALS, type SignalHandlers, signalHandlerName } from '../../src/signals.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Type-checks each source as if it were a file in test/unit/, without writing it (one program for
 * all: building one is the slow part); returns each one's errors.
 */
function typeErrors(sources: readonly string[]): string[][] {
  const files = sources.map((_, i) => `${repo}test/unit/__signal_handlers_check_${i}__.ts`);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) => {
    const i = files.indexOf(name);
    return i >= 0 ? ts.createSourceFile(name, sources[i]!, version) : getSourceFile(name, version, ...rest);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => files.includes(name) || fileExists(name);
  const program = ts.createProgram(files, options, host);
  return files.map((file) =>
    ts
      .getPreEmitDiagnostics(program, program.getSourceFile(file))
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
  );
}

describe('master signal dispatch', () => {
  test('every signal in the table has its handler method on the arbiter', () => {
    const handlers: SignalHandlers = Arbiter.prototype;
    for (const spec of MASTER_SIGNALS) {
      const name = signalHandlerName(spec.signal);
      assert.equal(typeof handlers[name], 'function', `${spec.signal}: no ${name}`);
    }
  });

  test('handler names follow the signal names', () => {
    assert.equal(signalHandlerName('SIGTTIN'), 'handleTtin');
    assert.equal(signalHandlerName('SIGUSR2'), 'handleUsr2');
    assert.equal(signalHandlerName('SIGHUP'), 'handleHup');
    assert.equal(new Set(MASTER_SIGNALS.map((s) => signalHandlerName(s.signal))).size, MASTER_SIGNALS.length);
  });

  test('a handler map that misses a signal does not compile', () => {
    const names = MASTER_SIGNALS.map((s) => signalHandlerName(s.signal));
    const missing = names.at(-1)!;
    const header = "import type { SignalHandlers } from '../../src/signals.js';\n";
    const map = (methods: readonly string[]) =>
      `${header}export const handlers: SignalHandlers = {\n${methods.map((n) => `  ${n}() {},`).join('\n')}\n};\n`;
    const [all, some] = typeErrors([map(names), map(names.slice(0, -1))]);
    assert.deepEqual(all, []);
    assert.equal(some!.length, 1, some!.join('\n'));
    assert.match(some![0]!, new RegExp(`Property '${missing}' is missing`));
  });
});

describe('the signals held while the master starts (src/early-signals.ts)', () => {
  test('are taken over in the order they came, and the hold leaves no listener behind', async () => {
    const { holdSignals, releaseSignals } = await import('../../src/early-signals.js');
    const held = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU'] as const;
    const before = held.map((s) => process.listenerCount(s));
    holdSignals();
    assert.deepEqual(
      held.map((s) => process.listenerCount(s)),
      before.map((n) => n + 1),
      'one listener for each held signal',
    );
    // process.emit runs the listeners as a delivered signal would, without sending one.
    process.emit('SIGTTIN', 'SIGTTIN');
    process.emit('SIGUSR1', 'SIGUSR1');
    process.emit('SIGTTIN', 'SIGTTIN');
    assert.deepEqual(releaseSignals(), ['SIGTTIN', 'SIGUSR1', 'SIGTTIN']);
    assert.deepEqual(
      held.map((s) => process.listenerCount(s)),
      before,
    );
    assert.deepEqual(releaseSignals(), [], 'what was taken over is not handed over twice');
  });

  test('leave TERM, INT and QUIT to Node (terminate) and WINCH to its default (ignore)', async () => {
    const { holdSignals, releaseSignals } = await import('../../src/early-signals.js');
    const free = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGWINCH'] as const;
    const before = free.map((s) => process.listenerCount(s));
    holdSignals();
    assert.deepEqual(
      free.map((s) => process.listenerCount(s)),
      before,
    );
    releaseSignals();
  });
});
