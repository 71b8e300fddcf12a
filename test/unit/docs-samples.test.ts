/**
 * Every TypeScript sample in the docs compiles as a reader would copy it: each ```ts block of
 * README.md, docs/*.md and examples/README.md becomes a module of its own, importing `unicorn-ts` as
 * an installed package does (through package.json `exports` to the built `dist/`), checked with
 * `strict: true`. A sample that declares a type the package exports under the same name (the
 * contract's `FetchHandler`, say) must declare exactly that type, so the page cannot drift from the
 * code either.
 */

import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE_TYPES = join(ROOT, 'dist/src/index.d.ts');

interface Sample {
  /** The doc, relative to the repository root. */
  readonly doc: string;
  /** 1-based line of the sample's first line of code in the doc. */
  readonly line: number;
  readonly code: string;
}

/** The ```ts (or ```typescript) blocks of a markdown page. */
function tsBlocks(doc: string, text: string): Sample[] {
  const lines = text.split('\n');
  const samples: Sample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(`{3,})\s*(\S*)/.exec(lines[i]!);
    if (!fence) continue;
    const end = lines.findIndex((line, j) => j > i && line.startsWith(fence[1]!));
    assert.notEqual(end, -1, `${doc}:${i + 1}: code block never closed`);
    if (fence[2] === 'ts' || fence[2] === 'typescript') {
      samples.push({ doc, line: i + 2, code: lines.slice(i + 1, end).join('\n') });
    }
    i = end;
  }
  return samples;
}

const DOCS = [
  'README.md',
  'examples/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];

const OPTIONS: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  moduleDetection: ts.ModuleDetectionKind.Force,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
  types: ['node'],
  skipLibCheck: true,
  noEmit: true,
};

/** The names `unicorn-ts` exports, read from its built declarations. */
function packageExports(host: ts.CompilerHost): { names: Set<string>; program: ts.Program } {
  const program = ts.createProgram([PACKAGE_TYPES], OPTIONS, host);
  const source = program.getSourceFile(PACKAGE_TYPES);
  assert.ok(source, `cannot read ${PACKAGE_TYPES}`);
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(source);
  assert.ok(module, 'dist/src/index.d.ts is not a module');
  return { names: new Set(checker.getExportsOfModule(module).map((s) => s.name)), program };
}

/** Top-level, non-generic type declarations in a sample: `type NAME =` and `interface NAME {`. */
function declaredTypes(code: string): Array<{ name: string; line: number }> {
  return code.split('\n').flatMap((text, i) => {
    const m = /^(?:export\s+)?(?:type\s+([A-Za-z_$][\w$]*)\s*=|interface\s+([A-Za-z_$][\w$]*)\s*\{)/.exec(
      text,
    );
    const name = m?.[1] ?? m?.[2];
    return name ? [{ name, line: i }] : [];
  });
}

describe('TypeScript samples in the docs', () => {
  const samples = DOCS.flatMap((doc) => tsBlocks(doc, readFileSync(join(ROOT, doc), 'utf8')));
  const dir = mkdtempSync(join(tmpdir(), 'unicorn-docs-samples-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the docs have TypeScript samples to check', () => {
    assert.ok(samples.length >= 4, `found only ${samples.length} ts blocks`);
  });

  test('each compiles with strict: true against the built package', () => {
    assert.ok(existsSync(PACKAGE_TYPES), `${PACKAGE_TYPES} is missing: run npm run build first`);
    // An installed package: node_modules/unicorn-ts is this repository, resolved through its
    // package.json exports, and the samples' other imports come from the repository's node_modules.
    const modules = join(dir, 'node_modules');
    mkdirSync(modules);
    symlinkSync(ROOT, join(modules, 'unicorn-ts'), 'dir');
    const bare = new Set(['@types']);
    for (const { code } of samples) {
      for (const [, specifier] of code.matchAll(/\bfrom\s+'([^']+)'/g)) {
        if (/^[./]|:/.test(specifier!)) continue;
        bare.add(/^(?:@[^/]+\/)?[^/]+/.exec(specifier!)![0]);
      }
    }
    bare.delete('unicorn-ts');
    for (const name of bare) {
      const target = join(ROOT, 'node_modules', name);
      assert.ok(existsSync(target), `a sample imports ${name}, which is not installed`);
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(target, join(modules, name), 'dir');
    }
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');

    const host = ts.createCompilerHost(OPTIONS);
    const exported = packageExports(host);
    const promised = /The package exports the types of both:([\s\S]*?)for `run\(\)`/.exec(
      readFileSync(join(ROOT, 'README.md'), 'utf8'),
    );
    assert.ok(promised, 'the README no longer lists the exported types');
    const names = [...promised[1]!.matchAll(/`([A-Z]\w*)`/g)].map((m) => m[1]!);
    assert.ok(names.length >= 3, `the README names ${names.length} types`);
    const absent = names.filter((name) => !exported.names.has(name));
    assert.deepEqual(absent, [], `the README names types unicorn-ts does not export: ${absent.join(', ')}`);
    /** Where each file's lines came from, for messages in the reader's terms. */
    const origin = new Map<string, { sample: Sample; lines: number; checks: Map<number, string> }>();
    const files = samples.map((sample) => {
      const file = join(dir, `${sample.doc.replace(/[/.]/g, '-')}-${sample.line}.ts`);
      const lines = sample.code.split('\n').length;
      const checks = new Map<number, string>();
      const extra = [
        '',
        'type __Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;',
      ];
      for (const { name, line } of declaredTypes(sample.code)) {
        if (!exported.names.has(name)) continue;
        checks.set(
          lines + extra.length,
          `${sample.doc}:${sample.line + line}: ${name} is not the type unicorn-ts exports under that name`,
        );
        extra.push(`const __same_${name}: __Same<${name}, import('unicorn-ts').${name}> = true;`);
      }
      writeFileSync(file, `${sample.code}\n${extra.join('\n')}\n`);
      origin.set(file, { sample, lines, checks });
      return file;
    });

    const program = ts.createProgram(files, OPTIONS, host, exported.program);
    const errors = ts.getPreEmitDiagnostics(program).map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      const from = d.file ? origin.get(d.file.fileName) : undefined;
      if (!d.file || d.start === undefined || !from) return `${d.file?.fileName ?? '(global)'}: ${text}`;
      const line = d.file.getLineAndCharacterOfPosition(d.start).line;
      if (line >= from.lines)
        return from.checks.get(line) ?? `${from.sample.doc}:${from.sample.line}: ${text}`;
      return `${from.sample.doc}:${from.sample.line + line}: ${text}`;
    });
    assert.deepEqual(errors, [], `TypeScript samples that do not compile:\n${errors.join('\n')}`);
  });
});
