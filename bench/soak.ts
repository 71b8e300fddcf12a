/**
 * The long soak: the test suite's mutation fuzzer (test/helpers/fuzz.ts), run against the real CLI
 * for minutes instead of a few thousand cases, in every configuration the suite fuzzes. It looks for
 * what only shows over time: memory that grows with hostile traffic, a slot that leaks one case in
 * ten thousand, a worker that dies, an error-level line a client caused.
 *
 *   npm run soak                          # 60 s per configuration, 6 configurations
 *   npm run soak -- --seconds 600 --seed 7 --only "node, -k sync"
 *
 * Loopback only, bounded in time (--seconds per configuration) and in count (--max-cases). Prints
 * one line per configuration and exits 1 if any configuration saw a 5xx, a hang, a dead worker or
 * an error-level line; RSS growth of the master and the worker is reported, not judged (it depends
 * on the machine and the Node release).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type FuzzCase, generateCase, loadInputs, sendCase } from '../test/helpers/fuzz.js';
import { request } from '../test/helpers/http.js';
import { fixture, type Server, startServer, stopAll } from '../test/helpers/server.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    'max-cases': { type: 'string', default: '200000' },
    only: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds);
const SEED = Number(args.seed);
const MAX_CASES = Number(args['max-cases']);
const CASE_DEADLINE_MS = 8_000;
const BODY_LIMIT = 256;

const APP = { fetch: `${fixture('fuzz.mjs')}:fetchApp`, node: `${fixture('fuzz.mjs')}:nodeApp` };
const CONFIGS = (['fetch', 'node'] as const).flatMap((iface) => [
  { name: `${iface}, -k async`, args: [APP[iface], '--interface', iface], concurrency: 4 },
  { name: `${iface}, -k sync`, args: [APP[iface], '--interface', iface, '-k', 'sync'], concurrency: 1 },
  {
    name: `${iface}, --dispatch request`,
    args: [APP[iface], '--interface', iface, '--dispatch', 'request'],
    concurrency: 4,
  },
]);

function rssMiB(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.replace(/\D+/g, '')) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

interface Tally {
  cases: number;
  fiveHundreds: number;
  hangs: number;
  healthFailures: number;
  firstProblem: string | null;
}

async function soak(
  config: (typeof CONFIGS)[number],
  inputs: ReturnType<typeof loadInputs>,
): Promise<boolean> {
  const server: Server = await startServer([
    ...config.args,
    '-w',
    '1',
    '--keep-alive',
    '2',
    '--header-timeout',
    '2',
    '--limit-request-body',
    String(BODY_LIMIT),
  ]);
  const [worker] = server.liveWorkerPids();
  const start = { master: rssMiB(server.pid), worker: rssMiB(worker!) };
  const tally: Tally = { cases: 0, fiveHundreds: 0, hangs: 0, healthFailures: 0, firstProblem: null };
  const note = (what: string, c?: FuzzCase) => {
    tally.firstProblem ??= c ? `${what}: case ${c.index} (seed ${SEED}, ${c.kind}, ${c.what})` : what;
  };
  const deadline = Date.now() + SECONDS * 1000;
  let next = 0;
  const runner = async () => {
    while (Date.now() < deadline && next < MAX_CASES) {
      const c = generateCase(SEED, next++, inputs, { bodyLimit: BODY_LIMIT });
      const outcome = await sendCase(server.port, c, CASE_DEADLINE_MS);
      tally.cases++;
      if (outcome.hung) {
        tally.hangs++;
        note('hang', c);
      }
      // 505 is the deliberate answer to a major version other than 1 (src/http/limits.ts).
      if (outcome.responses.some((r) => r.status >= 500 && r.status !== 505)) {
        tally.fiveHundreds++;
        note('5xx', c);
      }
      if (tally.cases % 500 === 0) {
        const health = await request(`${server.url}/`, { timeoutMs: 5000 }).catch((err: Error) => err);
        if (health instanceof Error || health.status !== 200) {
          tally.healthFailures++;
          note(`health request failed after ${tally.cases} cases`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, runner));
  const end = { master: rssMiB(server.pid), worker: rssMiB(worker!) };
  const errors = server.logs.filter((l) => l.level === 'error' || l.level === 'fatal');
  const deaths = server.events('worker.exited');
  if (errors.length > 0) note(`error line: ${errors[0]!.event} ${errors[0]!.msg}`);
  if (deaths.length > 0) note(`worker exited: ${deaths[0]!.msg}`);
  await server.stop();
  const ok =
    tally.fiveHundreds === 0 &&
    tally.hangs === 0 &&
    tally.healthFailures === 0 &&
    errors.length === 0 &&
    deaths.length === 0;
  console.log(
    [
      `${ok ? 'ok  ' : 'FAIL'} ${config.name.padEnd(26)}`,
      `${tally.cases} cases (${Math.round(tally.cases / SECONDS)}/s)`,
      `5xx ${tally.fiveHundreds}, hangs ${tally.hangs}, health failures ${tally.healthFailures}`,
      `error lines ${errors.length}, worker exits ${deaths.length}`,
      `RSS master ${start.master.toFixed(0)}→${end.master.toFixed(0)} MiB, worker ${start.worker.toFixed(0)}→${end.worker.toFixed(0)} MiB`,
      ...(tally.firstProblem ? [`first problem: ${tally.firstProblem}`] : []),
    ].join(' | '),
  );
  return ok;
}

const inputs = loadInputs();
console.log(`soak: seed ${SEED}, ${SECONDS} s per configuration`);
let failed = false;
try {
  for (const config of CONFIGS) {
    if (args.only !== undefined && config.name !== args.only) continue;
    if (!(await soak(config, inputs))) failed = true;
  }
} finally {
  await stopAll();
}
process.exit(failed ? 1 : 0);
