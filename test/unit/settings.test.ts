import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import {
  DEFAULT_ACCESS_LOG_FORMAT,
  firstSentence,
  HOOKS,
  helpDefault,
  helpText,
  nearestSettingName,
  SECTIONS,
  SETTINGS,
  SETTINGS_BY_NAME,
  type SettingSpec,
} from '../../src/settings.js';

function spec(name: string): SettingSpec<unknown> {
  const found = SETTINGS_BY_NAME.get(name);
  assert.ok(found, `setting ${name} exists`);
  return found;
}

/** Asserts that parsing `raw` fails with UNICORN_CONFIG_INVALID_VALUE and a message naming `shownAs`. */
function rejects(name: string, raw: unknown, shownAs = name): void {
  assert.throws(
    () => spec(name).parse(raw, shownAs),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'UNICORN_CONFIG_INVALID_VALUE');
      assert.ok(err.message.includes(shownAs), `"${err.message}" names ${shownAs}`);
      return true;
    },
    `${name} rejects ${JSON.stringify(raw)}`,
  );
}

describe('the settings table', () => {
  test('every setting has a name, a known section, a type, a doc and a parser', () => {
    for (const s of SETTINGS) {
      assert.match(s.name, /^[a-z][A-Za-z]*$/, 'names are camelCase');
      assert.ok((SECTIONS as readonly string[]).includes(s.section), `${s.name} is in a known section`);
      assert.ok(['int', 'float', 'string', 'bool', 'list', 'enum', 'hook'].includes(s.type), s.name);
      assert.ok(s.doc.trim().length > 0, `${s.name} is documented`);
      assert.match(s.doc, /\.$/, `${s.name}'s doc is a sentence`);
      assert.equal(typeof s.parse, 'function', `${s.name} has a parser`);
    }
  });

  test('setting names are unique, and SETTINGS_BY_NAME finds every one', () => {
    assert.equal(new Set(SETTINGS.map((s) => s.name)).size, SETTINGS.length);
    assert.equal(SETTINGS_BY_NAME.size, SETTINGS.length);
    for (const s of SETTINGS) assert.equal(SETTINGS_BY_NAME.get(s.name), s);
  });

  test('no flag belongs to two settings', () => {
    const flags = SETTINGS.flatMap((s) => s.flags);
    const repeated = flags.filter((f, i) => flags.indexOf(f) !== i);
    assert.deepEqual(repeated, []);
  });

  test('flags are a short -x or a long --kebab-case, short first', () => {
    for (const s of SETTINGS) {
      for (const flag of s.flags) assert.match(flag, /^(-[a-zA-Z]|--[a-z][a-z-]*)$/, `${s.name}: ${flag}`);
      const shortAt = s.flags.findIndex((f) => /^-[a-zA-Z]$/.test(f));
      assert.ok(shortAt <= 0, `${s.name}: the short flag comes first`);
    }
  });

  test('every setting but a hook has a flag; hooks have none (a config file sets them)', () => {
    for (const s of SETTINGS) {
      if (s.type === 'hook') assert.deepEqual(s.flags, [], s.name);
      else assert.ok(s.flags.length > 0, `${s.name} has a flag`);
    }
  });

  test('every hook in HOOKS is a setting in the Server Hooks section, with its doc', () => {
    for (const [name, doc] of Object.entries(HOOKS)) {
      const s = spec(name);
      assert.equal(s.type, 'hook');
      assert.equal(s.section, 'Server Hooks');
      assert.equal(s.doc, doc);
      assert.equal(s.default, null);
    }
    assert.equal(SETTINGS.filter((s) => s.type === 'hook').length, Object.keys(HOOKS).length);
  });

  test('every section has at least one setting', () => {
    for (const section of SECTIONS)
      assert.ok(
        SETTINGS.some((s) => s.section === section),
        section,
      );
  });

  test('every default passes its own parser unchanged', () => {
    for (const s of SETTINGS) assert.deepEqual(s.parse(s.default, s.name), s.default, s.name);
  });

  test('an enum setting lists its choices, and its default is one of them', () => {
    for (const s of SETTINGS.filter((x) => x.type === 'enum')) {
      assert.ok(s.choices && s.choices.length > 1, `${s.name} has choices`);
      assert.ok(s.choices.includes(s.default as string), `${s.name}'s default is a choice`);
    }
  });

  test('the Gunicorn defaults carry over', () => {
    assert.deepEqual(spec('bind').default, ['127.0.0.1:8000']);
    assert.equal(spec('workers').default, 1);
    assert.equal(spec('backlog').default, 2048);
    assert.equal(spec('timeout').default, 30);
    assert.equal(spec('gracefulTimeout').default, 30);
    assert.equal(spec('maxRequests').default, 0);
    assert.equal(spec('accessLogformat').default, DEFAULT_ACCESS_LOG_FORMAT);
    assert.equal(DEFAULT_ACCESS_LOG_FORMAT, '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"');
  });

  test('workers and bind take their defaults from WEB_CONCURRENCY and PORT', () => {
    assert.equal(spec('workers').env, 'WEB_CONCURRENCY');
    assert.equal(spec('bind').env, 'PORT');
    assert.deepEqual(spec('bind').fromEnv?.('5000'), ['0.0.0.0:5000']);
  });
});

describe('integer settings', () => {
  test('accept integers as numbers and as strings, with surrounding spaces', () => {
    assert.equal(spec('backlog').parse(100, 'backlog'), 100);
    assert.equal(spec('backlog').parse('100', 'backlog'), 100);
    assert.equal(spec('timeout').parse(' 5 ', 'timeout'), 5);
    assert.equal(spec('maxRequests').parse('0', 'maxRequests'), 0);
  });

  test('reject fractions, words, empty strings, booleans and null, naming the setting', () => {
    for (const raw of [2.5, '2.5', 'four', '', '  ', true, null, '1e3', '0x10', Number.NaN])
      rejects('timeout', raw);
  });

  test('reject values below their minimum', () => {
    rejects('timeout', -1);
    rejects('timeout', '-1');
    rejects('backlog', 0);
    rejects('workerConnections', 0);
    rejects('maxRequestsJitter', '-5');
  });

  test('backlog runs from 1 to 65535', () => {
    assert.equal(spec('backlog').parse(1, 'backlog'), 1);
    assert.equal(spec('backlog').parse('65535', 'backlog'), 65535);
    rejects('backlog', 65536);
  });

  test('workers runs from 1 to 1024, and the message says so', () => {
    assert.equal(spec('workers').parse('1024', 'workers'), 1024);
    rejects('workers', 0);
    rejects('workers', '1025');
    assert.throws(() => spec('workers').parse('0', '--workers'), {
      message: 'invalid value for --workers: "0" (expected an integer from 1 to 1024)',
    });
  });

  test('an open-ended minimum reads "an integer >= N"', () => {
    assert.throws(() => spec('timeout').parse('x', 'timeout'), {
      message: 'invalid value for timeout: "x" (expected an integer >= 0)',
    });
  });

  test('the message names the setting the way the caller shows it (a flag on the command line)', () => {
    rejects('backlog', 'lots', '--backlog');
  });
});

describe('-w auto', () => {
  test('gives a positive integer no larger than the CPUs available', () => {
    const n = spec('workers').parse('auto', 'workers') as number;
    assert.ok(Number.isInteger(n) && n >= 1, `${n} is a positive integer`);
    assert.ok(n <= availableParallelism());
  });

  test('only in lower case: "AUTO" is not a number of workers', () => {
    rejects('workers', 'AUTO');
  });
});

describe('float settings', () => {
  test('accept decimals and integers, as numbers or strings', () => {
    assert.equal(spec('keepAlive').parse('2.5', 'keepAlive'), 2.5);
    assert.equal(spec('keepAlive').parse(0, 'keepAlive'), 0);
    assert.equal(spec('keepAlive').parse(' 75 ', 'keepAlive'), 75);
  });

  test('reject negatives, words, empty strings, infinity and non-numbers', () => {
    for (const raw of ['-1', -0.5, 'soon', '', ' ', 'Infinity', Number.POSITIVE_INFINITY, null, true]) {
      rejects('keepAlive', raw);
    }
  });

  test('reject hexadecimal, as the integer settings do', {}, () => {
    rejects('keepAlive', '0x10');
  });
});

describe('boolean settings', () => {
  test('accept true/false, 1/0, yes/no and on/off in any case', () => {
    for (const raw of [true, 'true', 'TRUE', '1', 'yes', 'On', ' on '])
      assert.equal(spec('preload').parse(raw, 'preload'), true);
    for (const raw of [false, 'false', '0', 'no', 'OFF'])
      assert.equal(spec('preload').parse(raw, 'preload'), false);
  });

  test('reject anything else, naming the setting', () => {
    for (const raw of ['maybe', '', 1, 0, null, []]) rejects('preload', raw);
    assert.throws(() => spec('checkConfig').parse('sure', 'checkConfig'), {
      message: 'invalid value for checkConfig: "sure" (expected true or false)',
    });
  });
});

describe('enum settings', () => {
  test('accept exactly their choices', () => {
    assert.equal(spec('workerClass').parse('sync', 'workerClass'), 'sync');
    assert.equal(spec('interface').parse('node', 'interface'), 'node');
    assert.equal(spec('logLevel').parse('warning', 'logLevel'), 'warning');
    assert.equal(spec('logFormat').parse('json', 'logFormat'), 'json');
  });

  test('reject other values, listing the choices', () => {
    assert.throws(() => spec('workerClass').parse('gevent', 'workerClass'), {
      code: 'UNICORN_CONFIG_INVALID_VALUE',
      message: 'invalid value for workerClass: "gevent" (expected one of async, sync)',
    });
    rejects('logLevel', 'warnings');
    rejects('interface', 'FETCH');
    rejects('logFormat', null);
  });
});

describe('--log-level', () => {
  test('takes `warn`, the name the log lines carry, as `warning`, and keeps `warning`', () => {
    assert.equal(spec('logLevel').parse('warn', '--log-level'), 'warning');
    assert.equal(spec('logLevel').parse('warning', '--log-level'), 'warning');
    assert.ok(spec('logLevel').choices?.includes('warn'), 'warn is listed in --help and the docs');
    assert.ok(spec('logLevel').choices?.includes('warning'));
    assert.match(spec('logLevel').doc, /`warn`.*`warning`/);
  });
});

describe('--reload-include and --reload-exclude', () => {
  test("default to the app's source files, leaving out node_modules and dot-files", () => {
    assert.deepEqual(spec('reloadInclude').default, [
      '*.ts',
      '*.mts',
      '*.cts',
      '*.tsx',
      '*.js',
      '*.mjs',
      '*.cjs',
      '*.jsx',
      '*.json',
    ]);
    assert.deepEqual(spec('reloadExclude').default, ['node_modules', '.*']);
    assert.deepEqual(spec('reloadInclude').flags, ['--reload-include']);
    assert.deepEqual(spec('reloadExclude').flags, ['--reload-exclude']);
  });
});

describe('string settings', () => {
  test('an optional string accepts null and undefined as "not set"', () => {
    assert.equal(spec('pidfile').parse(null, 'pidfile'), null);
    assert.equal(spec('chdir').parse(undefined, 'chdir'), null);
    assert.equal(spec('procName').parse('web', 'procName'), 'web');
  });

  test('a required string rejects null and non-strings', () => {
    rejects('errorLogfile', null);
    rejects('accessLogformat', 42);
    rejects('pidfile', 42);
  });
});

describe('list settings', () => {
  test('a single string becomes a list of one', () => {
    assert.deepEqual(spec('bind').parse('127.0.0.1:9000', 'bind'), ['127.0.0.1:9000']);
  });

  test('a list of strings is kept as is', () => {
    assert.deepEqual(spec('bind').parse(['a:1', 'unix:/tmp/s'], 'bind'), ['a:1', 'unix:/tmp/s']);
  });

  test('an item that is not a string is rejected, naming the setting', () => {
    rejects('bind', ['127.0.0.1:9000', 9001]);
    rejects('bind', 8000);
  });

  test('every bind address is checked when the setting is read, quoting the bad one', () => {
    assert.throws(() => spec('bind').parse(['127.0.0.1:8000', '::1'], 'bind'), {
      code: 'UNICORN_CONFIG_INVALID_VALUE',
      message:
        /invalid value for bind: invalid bind address "::1": IPv6 addresses go in brackets: \[::1\]:8000/,
    });
    assert.throws(() => spec('bind').parse('unix:', 'bind'), { code: 'UNICORN_CONFIG_INVALID_VALUE' });
  });

  test('a malformed bind address names the setting (or variable) it came from', {}, () => {
    assert.throws(() => spec('bind').parse('127.0.0.1:http', '$PORT'), { message: /\$PORT/ });
  });

  test('an empty bind list is rejected (the master would have nothing to hand its workers)', {}, () => {
    rejects('bind', []);
  });
});

describe('--env', () => {
  test('accepts KEY=VALUE, with an empty value or an = in the value', () => {
    assert.deepEqual(spec('env').parse(['A=1', 'B=', 'C=x=y', '_D1=z'], 'env'), [
      'A=1',
      'B=',
      'C=x=y',
      '_D1=z',
    ]);
  });

  test('rejects an item without "=", with an empty key, or with a key that is not a name', () => {
    for (const raw of ['A', '=1', '1A=2', 'A-B=1', ' A=1']) rejects('env', raw, '--env');
  });

  test('names the offending item, not the whole list', () => {
    assert.throws(() => spec('env').parse(['A=1', 'oops'], '--env'), {
      message: 'invalid value for --env: "oops" (expected KEY=VALUE)',
    });
  });
});

describe('hook settings', () => {
  test('accept a function or nothing', () => {
    const fn = () => {};
    assert.equal(spec('onStarting').parse(fn, 'onStarting'), fn);
    assert.equal(spec('onStarting').parse(null, 'onStarting'), null);
    assert.equal(spec('postFork').parse(undefined, 'postFork'), null);
  });

  test('reject anything else, naming the hook', () => {
    rejects('preRequest', 'console.log');
    rejects('onExit', {});
  });
});

describe('nearestSettingName', () => {
  test('an unknown setting suggests the nearest name', () => {
    assert.equal(nearestSettingName('wrkers'), 'workers');
    assert.equal(nearestSettingName('timeuot'), 'timeout');
    assert.equal(nearestSettingName('bnd'), 'bind');
  });

  test('a Gunicorn snake_case or kebab-case name suggests its camelCase setting', () => {
    assert.equal(nearestSettingName('max_requests'), 'maxRequests');
    assert.equal(nearestSettingName('graceful_timeout'), 'gracefulTimeout');
    assert.equal(nearestSettingName('worker-class'), 'workerClass');
    assert.equal(nearestSettingName('keepalive'), 'keepAlive');
    assert.equal(nearestSettingName('loglevel'), 'logLevel');
  });

  test('a name far from every setting suggests nothing', () => {
    assert.equal(nearestSettingName('zzzzzzzz'), undefined);
    assert.equal(nearestSettingName('frobnicate'), undefined);
    assert.equal(nearestSettingName('x'), undefined);
  });

  test("a setting's own flag name suggests that setting (pid -> pidfile, name -> procName, log-file -> errorLogfile)", {}, () => {
    assert.equal(nearestSettingName('pid'), 'pidfile');
    assert.equal(nearestSettingName('name'), 'procName');
    assert.equal(nearestSettingName('log-file'), 'errorLogfile');
  });
});

describe('--help text, from the table', () => {
  const flagged = SETTINGS.filter((s) => s.flags.length > 0);

  test("every option's help is a whole first sentence of its doc, never cut inside one", () => {
    for (const s of flagged) {
      const sentence = firstSentence(s.doc);
      assert.ok(s.doc.startsWith(sentence), `${s.name}: a prefix of the doc`);
      assert.match(sentence, /[.?!]$/, `${s.name}: "${sentence}" ends a sentence`);
      assert.doesNotMatch(
        sentence,
        /\b(e\.g|i\.e|cf|vs)\.$/i,
        `${s.name}: "${sentence}" ends at an abbreviation`,
      );
      const opened = sentence.split('(').length - sentence.split(')').length;
      assert.equal(opened, 0, `${s.name}: "${sentence}" closes its parentheses`);
      assert.equal(sentence.split('`').length % 2, 1, `${s.name}: "${sentence}" closes its code spans`);
      assert.equal(sentence.split('"').length % 2, 1, `${s.name}: "${sentence}" closes its quotes`);
    }
  });

  test('--root-path keeps its example', () => {
    assert.equal(
      firstSentence(spec('rootPath').doc),
      "The path prefix a proxy mounts the app under (WSGI's SCRIPT_NAME), e.g. `/api`.",
    );
  });

  test('a sentence ends only at a period followed by a space or the end, outside parentheses and code', () => {
    assert.equal(firstSentence('One. Two.'), 'One.');
    assert.equal(firstSentence('Use e.g. `a.b`. Then.'), 'Use e.g. `a.b`.');
    assert.equal(firstSentence('Seconds (0. means none). More.'), 'Seconds (0. means none).');
    assert.equal(firstSentence('Version 1.2 only. More.'), 'Version 1.2 only.');
    assert.equal(firstSentence('No period at all'), 'No period at all');
  });

  test("every option's help shows its default, its choices and, where it has one, its env var", () => {
    for (const s of flagged) {
      const text = helpText(s);
      assert.ok(text.startsWith(firstSentence(s.doc)), s.name);
      assert.ok(text.includes(`default: ${helpDefault(s)}`), `${s.name}: ${text}`);
      if (s.env !== undefined) assert.ok(text.includes(`env: ${s.env}`), `${s.name}: ${text}`);
      else assert.ok(!text.includes('env: '), `${s.name}: ${text}`);
      if (s.choices) assert.ok(text.includes(`choices: ${s.choices.join(', ')}`), `${s.name}: ${text}`);
    }
  });

  test('defaults read as values: numbers, on/off, lists, none; a documented default as written', () => {
    assert.equal(helpDefault(spec('backlog')), '2048');
    assert.equal(helpDefault(spec('preload')), 'off');
    assert.equal(helpDefault(spec('timeoutStack')), 'on');
    assert.equal(helpDefault(spec('certfile')), 'none');
    assert.equal(helpDefault(spec('rootPath')), 'none');
    assert.equal(helpDefault(spec('env')), 'none');
    assert.equal(helpDefault(spec('reloadExclude')), 'node_modules, .*');
    assert.equal(helpDefault(spec('workers')), spec('workers').defaultDoc);
    assert.equal(
      helpText(spec('workers')),
      'The number of worker processes. (default: 1, or $WEB_CONCURRENCY when set; env: WEB_CONCURRENCY)',
    );
  });
});

describe('--umask', () => {
  test('an octal mode as umask(1) writes it (027, 0o027), or a decimal number, up to 0o777', () => {
    assert.equal(spec('umask').parse('027', 'umask'), 0o27);
    assert.equal(spec('umask').parse(' 0o027 ', 'umask'), 0o27);
    assert.equal(spec('umask').parse('0O777', 'umask'), 0o777);
    assert.equal(spec('umask').parse('0', 'umask'), 0);
    assert.equal(spec('umask').parse('00', 'umask'), 0);
    assert.equal(spec('umask').parse('18', 'umask'), 18);
    assert.equal(spec('umask').parse('511', 'umask'), 0o777);
    assert.equal(spec('umask').parse(0o22, 'umask'), 0o22);
    assert.equal(spec('umask').parse(0, 'umask'), 0);
    assert.equal(spec('umask').parse(0o777, 'umask'), 0o777);
  });

  test('anything else is an error that shows the expected forms', () => {
    for (const raw of ['0o8', '0o', '1000', '512', '-1', 'x', '', '0x1f', 0o1000, -1, 1.5, true, null]) {
      assert.throws(() => spec('umask').parse(raw, 'umask'), {
        code: 'UNICORN_CONFIG_INVALID_VALUE',
        message: `invalid value for umask: ${JSON.stringify(raw)} (expected an octal mode such as 0o027 or 027)`,
      });
    }
  });
});

describe('--root-path', () => {
  test('a path starting with /, its trailing slashes removed; empty for none', () => {
    assert.equal(spec('rootPath').parse('/api', 'rootPath'), '/api');
    assert.equal(spec('rootPath').parse('/api//', 'rootPath'), '/api');
    assert.equal(spec('rootPath').parse('/a/b/', 'rootPath'), '/a/b');
    assert.equal(spec('rootPath').parse('/', 'rootPath'), '');
    assert.equal(spec('rootPath').parse('', 'rootPath'), '');
  });

  test('a relative path is an error', () => {
    assert.throws(() => spec('rootPath').parse('api/', 'rootPath'), {
      code: 'UNICORN_CONFIG_INVALID_VALUE',
      message: 'invalid value for rootPath: "api/" (expected a path starting with /)',
    });
  });
});

describe('the exact messages of the value parsers', () => {
  const message = (name: string, raw: unknown) => {
    try {
      spec(name).parse(raw, name);
    } catch (err) {
      return (err as Error).message;
    }
    return 'no error';
  };

  test('each says what was expected', () => {
    assert.equal(message('keepAlive', 'x'), 'invalid value for keepAlive: "x" (expected a number >= 0)');
    assert.equal(message('errorLogfile', 5), 'invalid value for errorLogfile: 5 (expected a string)');
    assert.equal(message('onStarting', 'x'), 'invalid value for onStarting: "x" (expected a function)');
    assert.equal(message('bind', []), 'invalid value for bind: [] (expected at least one address)');
  });
});

describe('float settings, the decimal forms', () => {
  test('digits before, after or on both sides of the point', () => {
    assert.equal(spec('keepAlive').parse('2.55', 'keepAlive'), 2.55);
    assert.equal(spec('keepAlive').parse('.55', 'keepAlive'), 0.55);
    assert.equal(spec('keepAlive').parse('.5', 'keepAlive'), 0.5);
    assert.equal(spec('keepAlive').parse('3.', 'keepAlive'), 3);
  });

  test('only a string or a number: a list holding a number is not one', () => {
    rejects('keepAlive', ['2']);
  });
});

describe('--umask, the edges of its forms', () => {
  test('a decimal number without a leading zero is decimal; a sign or a bad digit after 0o is refused', () => {
    assert.equal(spec('umask').parse('10', 'umask'), 10);
    assert.equal(spec('umask').parse('100', 'umask'), 100);
    rejects('umask', '+1');
    rejects('umask', '0o79');
  });
});

describe('nearestSettingName, the edges', () => {
  test('a flag written with its dashes suggests its setting', () => {
    assert.equal(nearestSettingName('--pid'), 'pidfile');
    assert.equal(nearestSettingName('-w'), 'workers');
  });

  test('a long name may be further off: a third of its length', () => {
    assert.equal(nearestSettingName('maxreqsjitter'), 'maxRequestsJitter');
  });

  test('every letter counts, the last one included', () => {
    assert.equal(nearestSettingName('accesslogfrmt'), 'accessLogformat');
    assert.equal(nearestSettingName('workrclss'), 'workerClass');
  });

  test('a tie goes to the setting listed first', () => {
    assert.equal(nearestSettingName('bn'), 'bind');
  });
});
