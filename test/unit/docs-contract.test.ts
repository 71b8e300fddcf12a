/**
 * The hand-written docs agree with the code: every hook is documented where it runs, every
 * RequestInfo field and --interface choice is in the contract, and the module map of design.md lists
 * exactly the files under src/ and workers/.
 */

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LOG_EVENTS } from '../../src/log-events.js';
import { HOOKS, type HookName, SETTINGS_BY_NAME } from '../../src/settings.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/**
 * The body of the first heading whose text matches `heading`, up to the next heading of the same or a
 * higher level. Lines inside fenced code blocks are never taken for headings.
 */
function section(page: string, heading: RegExp): string {
  const lines = page.split('\n');
  let fenced = false;
  const levels = lines.map((line) => {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^(#{1,6}) /.exec(line);
    return m ? m[1]!.length : 0;
  });
  const start = levels.findIndex((level, i) => level > 0 && heading.test(lines[i]!));
  assert.notEqual(start, -1, `no heading matching ${heading}`);
  const end = levels.findIndex((level, i) => i > start && level > 0 && level <= levels[start]!);
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
}

/** The rows of the markdown tables in `text`, as arrays of trimmed cells (header and rule rows too). */
function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) =>
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.replace(/\\\|/g, '|').trim()),
    );
}

/** The property names declared at the top level of `interface NAME { ... }` in TypeScript source. */
function interfaceFields(source: string, name: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
  const start = new RegExp(`\\binterface\\s+${name}\\b[^{]*\\{`).exec(code);
  assert.ok(start, `interface ${name} not found`);
  // Keep only the text at the interface's own level: nested object types, parameter lists and
  // index signatures are blanked out, so their names are not taken for the interface's.
  let depth = 0;
  let top = '';
  for (let i = start.index + start[0].length; i < code.length; i++) {
    const c = code[i]!;
    if (c === '{' || c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === '}') {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0) top += c;
  }
  return [...top.matchAll(/(?:^|[;,\n])\s*(?:readonly\s+)?([A-Za-z_$][\w$]*)\??\s*:/g)].map((m) => m[1]!);
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir))
    .flatMap((name) => {
      const path = `${dir}/${name}`;
      return statSync(join(ROOT, path)).isDirectory() ? filesUnder(path) : [path];
    })
    .sort();
}

describe('docs/hooks.md', () => {
  const page = read('docs/hooks.md');
  const rows = tableRows(section(page, /^## The hooks$/));
  const runsIn = new Map(rows.map((cells) => [cells[0]!.replace(/`/g, ''), cells[1]]));

  test('documents every hook in HOOKS, in a row of the hooks table', () => {
    const missing = Object.keys(HOOKS).filter((name) => !runsIn.has(name));
    assert.deepEqual(missing, [], `hooks missing from the table in docs/hooks.md: ${missing.join(', ')}`);
  });

  test('says each hook runs where HOOKS says it runs (master or worker)', () => {
    for (const [name, doc] of Object.entries(HOOKS) as Array<[HookName, string]>) {
      const where = /\bin the (master|worker)\b/.exec(doc)?.[1];
      assert.ok(where, `HOOKS.${name} does not say where it runs`);
      assert.equal(runsIn.get(name), where, `docs/hooks.md: where ${name} runs`);
    }
  });

  test('documents no hook that does not exist', () => {
    const hooks = new Set(Object.keys(HOOKS));
    const stale = rows
      .map((cells) => cells[0]!)
      .filter((cell) => cell.startsWith('`'))
      .map((cell) => cell.replace(/`/g, ''))
      .filter((name) => !hooks.has(name));
    assert.deepEqual(
      stale,
      [],
      `docs/hooks.md documents hooks that HOOKS does not have: ${stale.join(', ')}`,
    );
  });
});

describe('docs/contract.md', () => {
  const page = read('docs/contract.md');

  test('lists every field of RequestInfo (src/http/request-info.ts) in its RequestInfo section', () => {
    const fields = interfaceFields(read('src/http/request-info.ts'), 'RequestInfo');
    assert.ok(fields.length > 0, 'no fields read from RequestInfo');
    const documented = section(page, /RequestInfo/);
    const missing = fields.filter((field) => !documented.includes(`\`${field}\``));
    assert.deepEqual(missing, [], `RequestInfo fields missing from docs/contract.md: ${missing.join(', ')}`);
  });

  test('names every --interface choice', () => {
    const choices = SETTINGS_BY_NAME.get('interface')?.choices;
    assert.ok(choices && choices.length > 0, 'the interface setting has no choices');
    const missing = choices.filter((choice) => !page.includes(`--interface ${choice}`));
    assert.deepEqual(missing, [], `--interface choices missing from docs/contract.md: ${missing.join(', ')}`);
  });
});

describe('docs/design.md module map', () => {
  const map = section(read('docs/design.md'), /^## Module map$/);
  const listed = tableRows(map)
    .map((cells) => /^`((?:src|workers)\/[^`]+)`$/.exec(cells[0]!)?.[1])
    .filter((path): path is string => path !== undefined);

  test('lists every file under src/ and workers/', () => {
    const missing = [...filesUnder('src'), ...filesUnder('workers')].filter((file) => !listed.includes(file));
    assert.deepEqual(missing, [], `files missing from the module map: ${missing.join(', ')}`);
  });

  test('lists only files that exist', () => {
    const gone = listed.filter((file) => !existsSync(join(ROOT, file)));
    assert.deepEqual(gone, [], `the module map lists files that do not exist: ${gone.join(', ')}`);
  });
});

describe('log events named in the docs', () => {
  const pages = ['README.md', 'examples/README.md', ...filesUnder('docs').filter((p) => p.endsWith('.md'))];
  const prefixes = new Set(Object.keys(LOG_EVENTS).map((event) => event.split('.')[0]!));
  // Web Request properties, written like events in the contract.
  const notEvents = new Set(['request.body', 'request.signal']);

  test('every `prefix.name` a page writes with an event prefix is an event of src/log-events.ts', () => {
    const unknown: string[] = [];
    let named = 0;
    for (const page of pages) {
      read(page)
        .split('\n')
        .forEach((line, i) => {
          for (const [, name] of line.matchAll(/`([a-z]+\.[a-z_]+)`/g)) {
            if (!prefixes.has(name!.split('.')[0]!) || notEvents.has(name!)) continue;
            named++;
            if (!Object.hasOwn(LOG_EVENTS, name!)) unknown.push(`${page}:${i + 1}: ${name}`);
          }
        });
    }
    assert.ok(named > 50, `only ${named} event names found in the docs`);
    assert.deepEqual(unknown, [], `the docs name log events that do not exist:\n${unknown.join('\n')}`);
  });

  test('the shed 503 is documented with its event, in contract.md and troubleshooting.md', () => {
    assert.ok(Object.hasOwn(LOG_EVENTS, 'request.shed'));
    const contract = section(read('docs/contract.md'), /^## 7\. /);
    const trouble = section(read('docs/troubleshooting.md'), /503 Service Unavailable/);
    for (const [page, text] of [
      ['docs/contract.md section 7', contract],
      ['docs/troubleshooting.md', trouble],
    ] as const) {
      assert.match(text, /`request\.shed`/, `${page} does not name request.shed`);
      assert.match(text, /access log/, `${page} does not say the access log has the 503`);
      assert.doesNotMatch(text, /neither the error\s+log nor the access log|does not log these/, page);
    }
  });
});

describe('what --timeout sends, in every page', () => {
  const pages = ['README.md', 'examples/README.md', ...filesUnder('docs').filter((p) => p.endsWith('.md'))];

  test('a passage that says --timeout ends in SIGKILL also names the SIGABRT sent first', () => {
    const wrong: string[] = [];
    let found = 0;
    for (const page of pages) {
      // Paragraphs, list items and table rows, each as one passage.
      for (const passage of read(page).split(/\n\s*\n|\n(?=\s*(?:[-*]|\d+\.|\|) )/)) {
        if (/never sends `?SIGABRT/.test(passage)) wrong.push(`${page}: ${passage.trim().slice(0, 100)}`);
        if (!/`--timeout`/.test(passage) || !/SIGKILL/.test(passage)) continue;
        found++;
        if (!/SIGABRT/.test(passage)) wrong.push(`${page}: ${passage.trim().slice(0, 100)}`);
      }
    }
    assert.ok(found >= 3, `only ${found} passages about --timeout and SIGKILL`);
    assert.deepEqual(wrong, [], `passages that get the --timeout sequence wrong:\n${wrong.join('\n')}`);
  });
});

describe('docs/deploy.md', () => {
  const page = read('docs/deploy.md');
  const headings = page
    .split('\n')
    .filter((line) => /^#{2,3} /.test(line))
    .map((line) => line.replace(/^#+ /, '').toLowerCase());

  test('has a section for each topic the README promises it covers', () => {
    const bullet = read('README.md')
      .split('\n- ')
      .find((item) => item.startsWith('[docs/deploy.md]'));
    assert.ok(bullet, 'the README does not list docs/deploy.md');
    for (const topic of ['nginx', 'npm scripts', 'systemd', 'containers', 'docker', 'kubernetes']) {
      assert.match(bullet, new RegExp(`\\b${topic}\\b`), `the README no longer promises ${topic}`);
      assert.ok(headings.includes(topic), `docs/deploy.md has no "${topic}" section`);
    }
  });

  test('the tests it cites exist', () => {
    const cited = [...page.matchAll(/`(test\/[^`\s]+\.ts)`/g)].map((m) => m[1]!);
    assert.ok(cited.length >= 3, 'docs/deploy.md cites no tests');
    const missing = cited.filter((path) => !existsSync(join(ROOT, path)));
    assert.deepEqual(missing, [], `docs/deploy.md cites tests that do not exist: ${missing.join(', ')}`);
  });
});
