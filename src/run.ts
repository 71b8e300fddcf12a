/**
 * The programmatic API: `run()` starts the master the command line starts (src/master/arbiter.ts),
 * in the calling process, which becomes the node:cluster primary. Settings come as an object, by
 * their names in the settings table, through the same resolution as a config file (src/config.ts),
 * so a bad value fails with the same error code. The master lives as long as the program wants it:
 * its signal listeners come off when it stops, it never calls process.exit(), and the process is
 * left to end by itself.
 *
 * Workers are processes either way. With an APP_MODULE string they run workers/entry.js, as under
 * the command line. With a handler (a function or a `{ fetch }` object) they run the calling program
 * again, with workers/run-entry.js imported first: there, the program's own run() call hands the
 * handler over (src/run-handoff.ts) and never resolves, so the code after it runs in the master only.
 */

import cluster from 'node:cluster';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isHandler, loadApp, parseAppSpec } from './app-module.js';
import { type ConfigLayer, type ResolvedConfig, resolveConfig } from './config.js';
import { findConfigFile, loadConfigFile } from './config-file.js';
import { isUnicornError, UnicornError } from './errors.js';
import { openMasterLog } from './log.js';
import { type Answer, Arbiter, type MasterCommand } from './master/arbiter.js';
import { handOffToWorker } from './run-handoff.js';
import { HOOKS, type HookFn, type HookName, SETTINGS_BY_NAME } from './settings.js';
import { VERSION } from './version.js';

/** What run() resolves to: the running master. */
export interface RunHandle {
  /** The master's pid: this process's. */
  readonly pid: number;
  /** The listening addresses, as `master.listening` logs them (with the real port of a `:0` bind). */
  readonly urls: readonly string[];
  /** The pids of the workers serving now. */
  readonly workerPids: readonly number[];
  /**
   * A rolling reload, as `HUP`: the configuration is resolved again (the config file re-read), new
   * workers load the app afresh and the old ones drain. Resolves once the reload is done (every old
   * worker has exited, so every request from then on reaches new code) with the new workers' pids;
   * rejects with UNICORN_RELOAD_FAILED when it was rolled back, or with the configuration's error.
   */
  reload(): Promise<{ readonly workerPids: number[] }>;
  /**
   * Sets the worker count (the values `workers` takes). Resolves once the pool has settled: that
   * many workers ready, none booting or stopping (a later scale() or TTIN/TTOU may have changed the
   * number meanwhile: the pids say what there is).
   */
  scale(workers: number | 'auto'): Promise<{ readonly workerPids: number[] }>;
  /** A graceful stop, as `TERM`. Resolves with the master's exit code once it has finished. */
  stop(): Promise<number>;
  /** Resolves with the master's exit code when it has finished, whatever stopped it. */
  readonly exited: Promise<number>;
}

/** Settings that are things the command line does, not the server: run() refuses them. */
const CLI_ACTIONS = ['printConfig', 'checkConfig', 'daemon'] as const;

/** The hooks that run in the workers (the others run in the master, which is this process). */
const WORKER_HOOKS: readonly HookName[] = [
  'postWorkerInit',
  'workerInt',
  'workerAbort',
  'preRequest',
  'postRequest',
  'workerExit',
];

/** One master per process: node:cluster's settings and the signals are the process's. */
let running = false;

export async function startRun(options: Readonly<Record<string, unknown>>): Promise<RunHandle> {
  if (typeof options !== 'object' || options === null) {
    throw usage('run() takes an object: run({ app, ...settings })');
  }
  const { app, ...values } = options;
  // In a worker running the program again: this call supplies the app, and the worker runtime
  // owns the process from here (it exits it). Code after `await run()` is the master's.
  if (handOffToWorker({ app, hooks: hooksIn(values) })) return new Promise<never>(() => {});
  if (cluster.isWorker) {
    throw usage(
      'run() was called in a worker process (an app module that calls run()?): only a program can start a master',
    );
  }
  if (running) throw usage('a master started by run() is already running in this process; stop() it first');
  running = true;
  try {
    return await startMaster(app, values);
  } catch (err) {
    running = false;
    throw err;
  }
}

/** The master side of run(): from the options to a handle on a master whose workers are ready. */
async function startMaster(app: unknown, values: Readonly<Record<string, unknown>>): Promise<RunHandle> {
  checkApp(app);

  const startDir = process.cwd();
  const named = values.config === undefined ? null : (configSetting(values.config) as string | null);
  const configFile = named === null ? null : findConfigFile(named, startDir);
  const optionsLayer: ConfigLayer = { source: 'run() options', origin: 'the options of run()', values };
  const resolveAll = async (fresh: boolean): Promise<ResolvedConfig> => {
    const layers: ConfigLayer[] = [];
    if (configFile !== null) {
      const fileValues = await loadConfigFile(configFile, { fresh });
      layers.push({ source: 'config file', origin: configFile, values: fileValues });
    }
    return resolveConfig([...layers, optionsLayer]);
  };
  const config = await resolveAll(false);
  const s = config.settings;
  const action = CLI_ACTIONS.find((name) => s[name]);
  if (action !== undefined) throw usage(`${action} is something the command line does; run() cannot`);
  const workerHooks = WORKER_HOOKS.filter((name) => typeof values[name] === 'function');
  if (typeof app === 'string' && workerHooks.length > 0) {
    throw usage(
      `${workerHooks.join(', ')} run in the workers, which get functions given to run() only when app is a handler (the workers run this program again); with an APP_MODULE string, put them in a config file (the config option)`,
    );
  }
  const runEntry = typeof app === 'string' ? undefined : programToRunAgain();
  const cwd = s.chdir === null ? startDir : resolve(startDir, s.chdir);
  if (!isDirectory(cwd)) {
    throw new UnicornError(
      'UNICORN_CONFIG_INVALID_VALUE',
      `cannot change directory to ${s.chdir}: not a directory`,
    );
  }
  // As --preload does under the command line: a broken app fails here, once.
  if (s.preload && typeof app === 'string') await loadApp(app, cwd);
  const log = openMasterLog(s);

  const workerEnv: Record<string, string> = {};
  for (const assignment of s.env) {
    const eq = assignment.indexOf('=');
    workerEnv[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  const title = process.title;
  const umask = s.umask === 0 ? null : process.umask(s.umask);
  let onReady!: (info: ReadyInfo) => void;
  const readyOnce = new Promise<ReadyInfo>((resolveReady) => {
    onReady = resolveReady;
  });
  let halt: { reason: string; err?: unknown } | null = null;
  const arbiter = new Arbiter({
    config,
    reloadConfig: () => resolveAll(true),
    appModule: typeof app === 'string' ? app : runEntry!.file,
    configFile,
    cwd,
    startDir,
    log,
    version: VERSION,
    workerEnv,
    ...(runEntry === undefined ? {} : { runEntry }),
    events: {
      ready: (info) => onReady(info),
      halted: (reason, err) => {
        halt = { reason, err };
      },
    },
  });
  let done = false;
  const exited = arbiter.run().finally(async () => {
    done = true;
    running = false;
    process.title = title;
    if (umask !== null) process.umask(umask);
    await log.close();
  });
  const ready = await Promise.race([readyOnce, exited.then(() => null)]);
  if (ready === null) {
    const code = await exited;
    const stopped = halt as { reason: string; err?: unknown } | null;
    if (stopped !== null && isUnicornError(stopped.err)) throw stopped.err;
    throw new UnicornError(
      'UNICORN_RUN_STOPPED',
      `the master stopped (exit code ${code}) before its workers were ready${stopped === null ? '' : `: ${stopped.reason}`}`,
    );
  }

  const ask = (command: (answer: Answer) => MasterCommand) =>
    new Promise<number[]>((resolveAnswer, reject) => {
      if (done) {
        reject(new UnicornError('UNICORN_RUN_STOPPED', 'the master has stopped'));
        return;
      }
      arbiter.enqueue(command({ resolve: resolveAnswer, reject }));
    });
  const workersSetting = SETTINGS_BY_NAME.get('workers')!;
  // A second stop() waits for the same exit, instead of a TERM the master would log as ignored.
  let stopAsked = false;
  return {
    pid: process.pid,
    urls: ready.urls,
    get workerPids() {
      return done ? [] : arbiter.servingPids();
    },
    reload: async () => ({ workerPids: await ask((answer) => ({ act: 'reload', answer })) }),
    scale: async (workers) => {
      const count = workersSetting.parse(workers, 'workers') as number;
      return { workerPids: await ask((answer) => ({ act: 'scale', workers: count, answer })) };
    },
    stop: () => {
      if (!done && !stopAsked) arbiter.enqueue('SIGTERM');
      stopAsked = true;
      return exited;
    },
    exited,
  };
}

type ReadyInfo = { readonly workerPids: number[]; readonly urls: string[] };

function usage(message: string): UnicornError {
  return new UnicornError('UNICORN_RUN_USAGE', message);
}

function configSetting(raw: unknown): unknown {
  return SETTINGS_BY_NAME.get('config')!.parse(raw, 'config');
}

/** The functions among run()'s options that are hooks: a worker takes its own from them. */
function hooksIn(values: Readonly<Record<string, unknown>>): Partial<Record<HookName, HookFn>> {
  const hooks: Partial<Record<HookName, HookFn>> = {};
  for (const name of Object.keys(HOOKS) as HookName[]) {
    const value = values[name];
    if (typeof value === 'function') hooks[name] = value as HookFn;
  }
  return hooks;
}

function checkApp(app: unknown): void {
  if (app === undefined || app === null) {
    throw new UnicornError(
      'UNICORN_APP_SPEC',
      'run() was given no app (e.g. `run({ app: "app.js:handler" })`)',
    );
  }
  if (typeof app === 'string') {
    parseAppSpec(app);
    return;
  }
  if (!isHandler(app)) {
    throw new UnicornError(
      'UNICORN_APP_NOT_HANDLER',
      "run()'s app is neither an APP_MODULE string, nor a handler function, nor an object with fetch()",
    );
  }
}

/** The program each worker runs again when the app is a handler: this one, with its arguments. */
function programToRunAgain(): { file: string; args: string[] } {
  const file = process.argv[1];
  if (file === undefined || !isFile(file)) {
    throw usage(
      'app is a handler, but this process runs no program file (node -e, a REPL?): the workers get the handler by running the program again; pass an APP_MODULE string instead',
    );
  }
  return { file, args: process.argv.slice(2) };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
