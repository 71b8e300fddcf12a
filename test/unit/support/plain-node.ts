/**
 * Running src/ modules the way the published package runs them: compiled by TypeScript alone and loaded
 * by plain node. Unit tests load src/ through tsx, and tsx rewrites the dynamic import() in every file
 * it compiles so that a CommonJS module marked `__esModule` comes back unwrapped; the tsc build does
 * not. Tests about how a config file or an app module arrives through import() use this to see what
 * users of the built package see.
 */

import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const repo = new URL('../../../', import.meta.url).pathname;

/**
 * The node_modules the repo's imports resolve from, found as node finds it: the nearest one above.
 * Not always <repo>/node_modules: Stryker's sandbox is a copy of the repo without one, inside it.
 */
function nodeModulesAbove(dir: string): string {
  const candidate = join(dir, 'node_modules');
  if (existsSync(candidate)) return candidate;
  if (dirname(dir) === dir) throw new Error(`no node_modules above ${repo}`);
  return nodeModulesAbove(dirname(dir));
}

/** The src/ modules config-file.ts and app-module.ts need, compiled to plain ESM in a temp dir. */
export function compileSources(names: readonly string[]): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'unicorn-plain-'));
  const out = join(dir, 'src');
  mkdirSync(out);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  // tsx itself is still needed at run time: src/typescript.ts registers it for .ts files.
  symlinkSync(nodeModulesAbove(repo), join(dir, 'node_modules'), 'dir');
  for (const name of names) {
    const source = readFileSync(join(repo, 'src', `${name}.ts`), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      fileName: `${name}.ts`,
    });
    writeFileSync(join(out, `${name}.js`), outputText);
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type PlainResult = { result: unknown } | { error: { code?: string; message: string } };

/**
 * Runs `body` (the body of an async function that returns something JSON-safe) in a plain node
 * process, with `src(name)` importing a compiled module. A thrown error comes back as `{ error }`.
 */
export function runInPlainNode(dir: string, body: string): PlainResult {
  const base = pathToFileURL(join(dir, 'src/')).href;
  const script = `
    const src = (name) => import(new URL(name + '.js', ${JSON.stringify(base)}).href);
    try {
      const result = await (async () => { ${body} })();
      process.stdout.write(JSON.stringify({ result }));
    } catch (err) {
      process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message } }));
    }`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: dir,
    env,
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (child.status !== 0) throw new Error(`plain node failed (${child.status}): ${child.stderr}`);
  return JSON.parse(child.stdout) as PlainResult;
}
