/**
 * Generates the reference pages from the tables in code: docs/settings.md (settings.ts),
 * docs/signals.md (signals.ts), docs/errors.md (errors.ts) and docs/logging.md
 * (log-events.ts). `npm run docs` writes them; a test fails when a committed page is stale.
 */

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERRORS } from '../errors.js';
import { LOG_EVENTS } from '../log-events.js';
import { SECTIONS, SETTINGS, type SettingSpec } from '../settings.js';
import { MASTER_SIGNALS } from '../signals.js';

const GENERATED = (source: string) =>
  `<!-- Generated from ${source} by \`npm run docs\`; edit the source, not this file. -->\n\n`;

function defaultText(spec: SettingSpec<unknown>): string {
  if (spec.defaultDoc !== undefined) return spec.defaultDoc;
  if (spec.default === null) return spec.type === 'hook' ? 'none' : 'unset';
  return `\`${JSON.stringify(spec.default)}\``;
}

export function settingsPage(): string {
  let out = `# Settings\n\n${GENERATED('src/settings.ts')}`;
  out +=
    'Every setting can be given in a config file (by the name shown), on the command line (by its flags), ' +
    'and in `UNICORN_TS_CMD_ARGS` (the same flags). Precedence, lowest first: defaults, the environment ' +
    'variables named below, the config file, `UNICORN_TS_CMD_ARGS`, the command line. Hooks can only be ' +
    'set in a config file; see docs/hooks.md.\n\n';
  for (const section of SECTIONS) {
    const specs = SETTINGS.filter((s) => s.section === section);
    if (specs.length === 0) continue;
    out += `## ${section}\n\n`;
    for (const spec of specs) {
      out += `### \`${spec.name}\`\n\n`;
      if (spec.flags.length > 0) {
        out += `- Command line: ${spec.flags.map((f) => `\`${f}${spec.type === 'bool' ? '' : ` ${spec.meta ?? 'VALUE'}`}\``).join(', ')}\n`;
      }
      if (spec.env) out += `- Environment: \`${spec.env}\`\n`;
      out += `- Default: ${defaultText(spec)}\n`;
      if (spec.choices) out += `- Choices: ${spec.choices.map((c) => `\`${c}\``).join(', ')}\n`;
      if (spec.type === 'list') out += '- Repeatable\n';
      out += `\n${spec.doc}\n\n`;
    }
  }
  return out;
}

export function signalsPage(): string {
  let out = `# Signals\n\n${GENERATED('src/signals.ts')}`;
  out +=
    'Send signals to the master (its pid is in the `--pid` file and in the `master.starting` log line). ' +
    'Workers handle the signals in the last column when they get them directly, which is also how the ' +
    'master drives them. A worker sent `TERM`, `INT` or `QUIT` by anyone else (an operator, a `pkill` ' +
    'that matched it) tells the master, which replaces it at once, logs its exit at warn level and counts ' +
    'a `signal` restart, not a crash. A `HUP`, `USR1`, `USR2`, `TTIN` or `TTOU` that comes while the master is still ' +
    'starting (loading its config file and logs) is held, not left to Node, and handled once the master ' +
    'runs, in the order it came. Left to Node, `TTIN` and `TTOU` would suspend a master started as a ' +
    'job of a shell (and be dropped under a supervisor), `USR1` would open its debugger, and `HUP` and ' +
    '`USR2` would terminate it (src/early-signals.ts).\n\n';
  out += '| signal | master | worker |\n|---|---|---|\n';
  for (const s of MASTER_SIGNALS) out += `| \`${s.signal}\` | ${s.master} | ${s.worker} |\n`;
  return out;
}

export function errorsPage(): string {
  let out = `# Errors\n\n${GENERATED('src/errors.ts')}`;
  out += 'Every error unicorn-ts reports carries one of these codes, printed as `[CODE] hint`.\n\n';
  out += '| code | when | what to do |\n|---|---|---|\n';
  for (const [code, spec] of Object.entries(ERRORS)) out += `| \`${code}\` | ${spec.when} | ${spec.hint} |\n`;
  out +=
    '\n## Exit codes\n\n| code | meaning |\n|---|---|\n' +
    '| 0 | stopped normally |\n| 1 | configuration error, a bind that failed, or `--check-config` found a problem |\n' +
    '| 3 | a worker failed to boot for a reason other than the app (startup(), a hook, listening) |\n' +
    '| 4 | the app could not be loaded (missing file or export, syntax error, threw at import) |\n';
  return out;
}

export function loggingPage(): string {
  let out = `# Log events\n\n${GENERATED('src/log-events.ts')}`;
  out +=
    'The error log is one JSON object a line (pretty on a terminal; `--log-format`). Every line unicorn-ts ' +
    'writes itself carries an `event` field from this table, `role` (`master` or `worker`), `pid`, and for ' +
    'workers `worker` (its number). Lines written by apps through `info.log` carry no `event`. Fields about ' +
    'another process use `workerPid`. These names are a contract: they are only ever added to.\n\n';
  out += '| event | meaning |\n|---|---|\n';
  for (const [event, doc] of Object.entries(LOG_EVENTS)) out += `| \`${event}\` | ${doc} |\n`;
  return out;
}

export const PAGES: Record<string, () => string> = {
  'docs/settings.md': settingsPage,
  'docs/signals.md': signalsPage,
  'docs/errors.md': errorsPage,
  'docs/logging.md': loggingPage,
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  for (const [path, page] of Object.entries(PAGES)) {
    writeFileSync(root + path, page());
    console.log(`wrote ${path}`);
  }
}
