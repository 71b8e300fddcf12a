import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { Arbiter } from '../../src/master/arbiter.js';
import { MASTER_SIGNALS, type SignalHandlers, signalHandlerName } from '../../src/master/signals.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));

/** Type-checks `source` as if it were a file in test/unit/, without writing it; returns the errors. */
function typeErrors(source: string): string[] {
  const file = `${repo}test/unit/__signal_handlers_check__.ts`;
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
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts
    .getPreEmitDiagnostics(program, program.getSourceFile(file))
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
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
    const methods = names
      .slice(0, -1)
      .map((n) => `  ${n}() {},`)
      .join('\n');
    const header = "import type { SignalHandlers } from '../../src/master/signals.js';\n";
    assert.deepEqual(
      typeErrors(
        `${header}export const all: SignalHandlers = {\n${names.map((n) => `  ${n}() {},`).join('\n')}\n};\n`,
      ),
      [],
    );
    const errors = typeErrors(`${header}export const some: SignalHandlers = {\n${methods}\n};\n`);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, new RegExp(`Property '${missing}' is missing`));
  });
});
