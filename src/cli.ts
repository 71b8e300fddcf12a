/**
 * The command line. The only module that imports commander: every option is generated from the
 * settings table, and UNICORN_TS_CMD_ARGS is parsed by the same program. Importing it starts
 * nothing: the executable is src/bin.ts, which calls `main`.
 */

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { chooseInterface } from './app-interface.js';
import { loadApp, parseAppSpec, resolveAppFile } from './app-module.js';
import { type ConfigLayer, formatConfig, type ResolvedConfig, resolveConfig } from './config.js';
import { CONFIG_FILE_NAMES, findConfigFile, loadConfigFile } from './config-file.js';
import { CONTROL_ACTIONS, CONTROL_EXIT, type ControlAction, runControl } from './control-client.js';
import { CONTROL_SOCKET_OFF, controlSocketBesidePidfile, defaultControlDir } from './control-protocol.js';
import { describeError, isUnicornError, UnicornError } from './errors.js';
import { EXIT_CODES } from './ipc.js';
import { refuseListen } from './listen-guard.js';
import { type Log, openMasterLog } from './log.js';
import { Arbiter } from './master/arbiter.js';
import { helpText, SECTIONS, SETTINGS, type SettingSpec } from './settings.js';
import { splitShellWords } from './shell-words.js';
import { decoratorMetadataWarning } from './typescript.js';
import { VERSION } from './version.js';

const CMD_ARGS_ENV = 'UNICORN_TS_CMD_ARGS';

interface ParsedArgs {
  values: Record<string, unknown>;
  appModule: string | undefined;
}

export function buildProgram(): Command {
  const program = new Command('unicorn-ts')
    .description('A prefork application server for Node.js: a master supervising node:cluster workers.')
    .version(VERSION, '-v, --version')
    .argument('[APP_MODULE]', 'PATH[:EXPORT], e.g. app.js, dist/app.js:handler, src/app.ts:createApp()')
    .helpOption('-h, --help', 'show this help')
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    // Each description already carries its choices, default and env var (settings.ts helpText);
    // commander would only add the choices a second time.
    .configureHelp({ optionDescription: (option) => option.description })
    .addHelpText(
      'after',
      `\nCommands to a running master (through its control socket; \`unicorn-ts COMMAND --help\`):\n${CONTROL_ACTIONS.map(
        (action) => `  unicorn-ts ${CONTROL_USAGE[action].padEnd(22)} ${CONTROL_HELP[action]}`,
      ).join('\n')}\nA command word comes first; an app file named like one is run as ./status.`,
    );
  for (const spec of SETTINGS) {
    if (spec.flags.length === 0) continue;
    program.addOption(optionFor(spec));
    // A switch that defaults to on can be turned off from the command line too.
    if (spec.type === 'bool' && spec.default === true) {
      const negation = new Option(
        `--no-${spec.flags.at(-1)!.replace(/^--/, '')}`,
        `Turn off ${spec.flags.at(-1)}.`,
      );
      negation.attributeName = () => spec.name;
      negation.helpGroup(`${spec.section}:`);
      program.addOption(negation);
    }
  }
  return program;
}

function optionFor(spec: SettingSpec<unknown>): Option {
  const flags = spec.flags.join(', ') + (spec.type === 'bool' ? '' : ` <${spec.meta ?? 'VALUE'}>`);
  const option = new Option(flags, helpText(spec));
  option.attributeName = () => spec.name;
  option.helpGroup(`${SECTIONS.find((s) => s === spec.section)}:`);
  if (spec.choices) option.choices(spec.choices as string[]);
  if (spec.type !== 'bool') {
    option.argParser((value: string, previous: unknown) => {
      try {
        if (spec.type === 'list')
          return [
            ...((previous as string[] | undefined) ?? []),
            ...(spec.parse(value, spec.flags.at(-1)!) as string[]),
          ];
        return spec.parse(value, spec.flags.at(-1)!);
      } catch (err) {
        throw new InvalidArgumentError(describeError(err));
      }
    });
  }
  return option;
}

function parseArgs(argv: readonly string[], from: 'node' | 'user', origin: string): ParsedArgs {
  const program = buildProgram().exitOverride();
  program.configureOutput({
    writeErr: (text) =>
      process.stderr.write(origin === 'command line' ? text : text.replace(/^error:/, `error in ${origin}:`)),
  });
  program.parse(argv as string[], { from });
  return { values: program.opts(), appModule: program.args[0] };
}

export async function main(argv: readonly string[] = process.argv): Promise<number> {
  // `unicorn-ts status` is a command; `unicorn-ts status:handler`, `./status` or `-w 2 status` are not.
  const word = argv[2];
  if (word !== undefined && (CONTROL_ACTIONS as readonly string[]).includes(word)) {
    return controlMain(word as ControlAction, argv.slice(3));
  }
  let cli: ParsedArgs;
  let fromEnv: ParsedArgs = { values: {}, appModule: undefined };
  try {
    cli = parseArgs(argv, 'node', 'command line');
    const envArgs = process.env[CMD_ARGS_ENV];
    if (envArgs !== undefined && envArgs.trim() !== '') {
      fromEnv = parseArgs(splitShellWords(envArgs), 'user', `$${CMD_ARGS_ENV}`);
    }
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_CODES.CONFIG_ERROR;
    return configError(err);
  }

  let config: ResolvedConfig;
  let configFile: string | null;
  const startDir = process.cwd();
  // The whole resolution, kept as a function: SIGHUP runs it again with a fresh read of the file.
  const resolveAll = async (fresh: boolean): Promise<ResolvedConfig> => {
    const layers: ConfigLayer[] = [];
    if (configFile !== null) {
      layers.push({
        source: 'config file',
        origin: configFile,
        values: await loadConfigFile(configFile, { fresh }),
      });
    }
    layers.push({ source: 'UNICORN_TS_CMD_ARGS', origin: `$${CMD_ARGS_ENV}`, values: fromEnv.values });
    layers.push({ source: 'command line', origin: 'the command line', values: cli.values });
    return resolveConfig(layers);
  };
  let named: string | null;
  try {
    named = (cli.values.config ?? fromEnv.values.config ?? null) as string | null;
    configFile = findConfigFile(named, startDir);
    config = await resolveAll(false);
  } catch (err) {
    return configError(err);
  }
  const s = config.settings;

  if (s.printConfig) {
    process.stdout.write(
      `${configFileLine(configFile, named !== null, startDir)}\n${formatConfig(config)}\n`,
    );
    return EXIT_CODES.OK;
  }

  if (s.daemon && process.env[DAEMON_ENV] !== '1') return daemonize(startDir);
  if (s.umask !== 0) process.umask(s.umask);

  for (const assignment of s.env) {
    const eq = assignment.indexOf('=');
    process.env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  if (s.chdir !== null) {
    try {
      process.chdir(resolve(startDir, s.chdir));
    } catch (err) {
      return configError(
        new UnicornError(
          'UNICORN_CONFIG_INVALID_VALUE',
          `cannot change directory to ${s.chdir}: ${describeError(err)}`,
        ),
      );
    }
  }
  const appModule = cli.appModule ?? fromEnv.appModule;
  if (appModule === undefined) {
    return configError(
      new UnicornError('UNICORN_APP_SPEC', 'no APP_MODULE given (e.g. `unicorn-ts app.js:handler`)'),
    );
  }

  let log: Log;
  try {
    log = openMasterLog(s);
  } catch (err) {
    return configError(err);
  }

  const appWarning = decoratorMetadataOf(appModule, process.cwd());
  if (appWarning !== null && s.checkConfig) process.stderr.write(`unicorn-ts: warning: ${appWarning}\n`);
  else if (appWarning !== null)
    log.warn('master.app_warning', `Warning: ${appWarning}`, { warning: appWarning });

  if (s.checkConfig || s.preload) {
    // An app that calls process.exit() while it is imported would end the master silently (exit 0
    // with --preload): report it as the app load error it is. Node exits with process.exitCode as it
    // stands after the 'exit' listeners.
    const appExited = (code: number) => {
      const err = new UnicornError(
        'UNICORN_APP_EXIT',
        `the app called process.exit(${code}) during its import${s.preload ? ' (--preload)' : ''}`,
      );
      if (s.checkConfig) {
        process.exitCode = configError(err);
        return;
      }
      log.critical('master.halt', `App failed to load: ${err.message}`, {
        code: err.code,
        hint: err.hint,
        exitCode: EXIT_CODES.APP_LOAD_ERROR,
      });
      log.flush();
      process.exitCode = EXIT_CODES.APP_LOAD_ERROR;
    };
    process.on('exit', appExited);
    // A listen() of the app's would bind in the master itself (src/listen-guard.ts).
    let refused: UnicornError | null = null;
    const restoreListen = refuseListen((err) => {
      refused ??= err;
    });
    try {
      const app = await loadApp(appModule, process.cwd());
      process.off('exit', appExited);
      restoreListen();
      if (refused !== null) throw refused;
      const choice = chooseInterface(app.app, s.interface);
      if (s.checkConfig) {
        process.stdout.write(`OK: ${app.file} (${choice.interface} interface: ${choice.reason})\n`);
        return EXIT_CODES.OK;
      }
      log.info('worker.app_loaded', `Preloaded ${app.file} in the master (${choice.interface} interface)`, {
        file: app.file,
        interface: choice.interface,
      });
    } catch (caught) {
      process.off('exit', appExited);
      restoreListen();
      const err = refused ?? caught;
      if (s.checkConfig) return configError(err);
      log.critical('master.halt', `App failed to load: ${describeError(err)}`, {
        err,
        exitCode: EXIT_CODES.APP_LOAD_ERROR,
      });
      log.flush();
      return EXIT_CODES.APP_LOAD_ERROR;
    }
  }

  const arbiter = new Arbiter({
    config,
    reloadConfig: () => resolveAll(true),
    appModule,
    configFile,
    cwd: process.cwd(),
    startDir,
    log,
    version: VERSION,
  });
  const code = await arbiter.run();
  log.flush();
  return code;
}

const CONTROL_USAGE: Record<ControlAction, string> = {
  status: 'status [--json]',
  reload: 'reload',
  scale: 'scale N',
  stop: 'stop [--quick]',
  'reopen-logs': 'reopen-logs',
};

const CONTROL_HELP: Record<ControlAction, string> = {
  status: "print the master's figures and a table of its workers",
  reload: 'reload (as HUP); returns once the new workers are ready, exit 2 if rolled back',
  scale: 'run N workers; returns once N are ready',
  stop: 'stop gracefully (TERM), or quickly (QUIT); returns once the master has exited',
  'reopen-logs': 'reopen the log files (as USR1), e.g. after logrotate moved them',
};

function controlProgram(action: ControlAction): Command {
  const program = new Command(`unicorn-ts ${action}`)
    .description(`${CONTROL_HELP[action]}.`)
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .option('-p, --pid <FILE>', "the master's pidfile: its control socket is beside it (app.pid -> app.ctl)")
    .option('--control-socket <PATH>', 'the control socket, as the master was given it')
    .option(
      '-c, --config <FILE>',
      `take --pid and --control-socket from this config file (default: ${CONFIG_FILE_NAMES[0]} etc. in this directory, as the server does)`,
    )
    .option('--json', 'print the result as JSON')
    .option('--timeout <SECONDS>', 'give up waiting after this long', '600')
    .addHelpText(
      'after',
      `\nWithout --pid or --control-socket (here, in the config file or $${CMD_ARGS_ENV}), the one master answering in ${defaultControlDir()} is used.`,
    );
  if (action === 'scale') program.argument('<N>', 'the number of workers');
  if (action === 'stop')
    program.option('--quick', 'in-flight requests get 2 s (QUIT) instead of --graceful-timeout (TERM)');
  return program;
}

/** `unicorn-ts status|reload|scale|stop|reopen-logs`: find the master's control socket and act. */
async function controlMain(action: ControlAction, args: readonly string[]): Promise<number> {
  const program = controlProgram(action).exitOverride();
  let opts: {
    pid?: string;
    controlSocket?: string;
    config?: string;
    json?: boolean;
    timeout: string;
    quick?: boolean;
  };
  let workers = 0;
  let timeoutMs: number;
  try {
    program.parse(args as string[], { from: 'user' });
    opts = program.opts();
    if (action === 'scale') workers = countArg(program.args[0]!, 'N');
    timeoutMs = countArg(opts.timeout, '--timeout') * 1000;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : CONTROL_EXIT.FAILED;
    return configError(err);
  }
  let socket: string | null;
  try {
    socket = await controlSocketFor(opts);
  } catch (err) {
    return configError(err);
  }
  return runControl(
    {
      action,
      socket,
      searchDir: defaultControlDir(),
      json: opts.json === true,
      quick: opts.quick === true,
      workers,
      timeoutMs: timeoutMs > 0 ? timeoutMs : 2 ** 31 - 1,
    },
    process.stdout,
    process.stderr,
  );
}

function countArg(raw: string, name: string): number {
  if (!/^\d+$/.test(raw.trim())) {
    throw new UnicornError(
      'UNICORN_CONFIG_INVALID_VALUE',
      `invalid value for ${name}: ${JSON.stringify(raw)} (expected an integer >= 0)`,
    );
  }
  return Number(raw);
}

/**
 * The socket a control command talks to, from the same sources as the server's settings (the
 * config file, $UNICORN_TS_CMD_ARGS, the command line), so a command run where the server was
 * started finds it; null when none names one (the default directory is searched).
 */
async function controlSocketFor(opts: {
  pid?: string;
  controlSocket?: string;
  config?: string;
}): Promise<string | null> {
  const cwd = process.cwd();
  const layers: ConfigLayer[] = [];
  const configFile = findConfigFile(opts.config ?? null, cwd);
  if (configFile !== null) {
    layers.push({ source: 'config file', origin: configFile, values: await loadConfigFile(configFile) });
  }
  const envArgs = process.env[CMD_ARGS_ENV];
  if (envArgs !== undefined && envArgs.trim() !== '') {
    const fromEnv = parseArgs(splitShellWords(envArgs), 'user', `$${CMD_ARGS_ENV}`);
    layers.push({ source: 'UNICORN_TS_CMD_ARGS', origin: `$${CMD_ARGS_ENV}`, values: fromEnv.values });
  }
  const cli: Record<string, unknown> = {};
  if (opts.pid !== undefined) cli.pidfile = opts.pid;
  if (opts.controlSocket !== undefined) cli.controlSocket = opts.controlSocket;
  layers.push({ source: 'command line', origin: 'the command line', values: cli });
  const s = resolveConfig(layers).settings;
  // The master resolves relative paths after --chdir.
  const base = s.chdir !== null ? resolve(cwd, s.chdir) : cwd;
  if (s.controlSocket === CONTROL_SOCKET_OFF) {
    throw new UnicornError(
      'UNICORN_CONTROL_UNREACHABLE',
      'the control socket is turned off (--control-socket none)',
    );
  }
  if (s.controlSocket !== null) return resolve(base, s.controlSocket);
  if (s.pidfile !== null) return resolve(base, controlSocketBesidePidfile(s.pidfile));
  return null;
}

/**
 * --print-config's first line: which config file was loaded and why, as a comment (the settings
 * lines below it stay `name = value  (source)`).
 */
function configFileLine(file: string | null, named: boolean, dir: string): string {
  if (file !== null)
    return `# config file: ${file} (${named ? 'from --config' : 'found in the working directory'})`;
  return `# config file: none (no --config, and no ${CONFIG_FILE_NAMES.join(', ')} in ${dir})`;
}

/**
 * Checked once, in the master, from the file alone (nothing is imported): a warning each worker
 * logged would say the same thing -w times.
 */
function decoratorMetadataOf(appModule: string, cwd: string): string | null {
  try {
    return decoratorMetadataWarning(resolveAppFile(parseAppSpec(appModule).path, cwd));
  } catch {
    return null; // a malformed or missing APP_MODULE: the load reports it, with its code
  }
}

const DAEMON_ENV = 'UNICORN_TS_DAEMONIZED';

/**
 * -D: start this same command again, detached from the terminal in its own session with standard
 * streams on /dev/null, and return at once. The background copy resolves the configuration again
 * and runs the master.
 */
function daemonize(cwd: string): number {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    cwd,
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  child.unref();
  process.stdout.write(`unicorn-ts: running in the background (pid ${child.pid})\n`);
  return EXIT_CODES.OK;
}

/** One clear line on standard error, with the code and hint; exit 1. */
function configError(err: unknown): number {
  if (isUnicornError(err)) {
    process.stderr.write(`unicorn-ts: error: ${err.message}\n  [${err.code}] ${err.hint}\n`);
  } else {
    process.stderr.write(`unicorn-ts: error: ${describeError(err)}\n`);
  }
  return EXIT_CODES.CONFIG_ERROR;
}
