import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { splitShellWords } from '../../src/shell-words.js';

describe('splitShellWords', () => {
  test('whitespace of any kind and length separates words', () => {
    assert.deepEqual(splitShellWords('-w 4\t--bind  127.0.0.1:9000\n--preload'), [
      '-w',
      '4',
      '--bind',
      '127.0.0.1:9000',
      '--preload',
    ]);
  });

  test('empty or blank input has no words', () => {
    assert.deepEqual(splitShellWords(''), []);
    assert.deepEqual(splitShellWords('   \t\n '), []);
  });

  test('leading and trailing whitespace is ignored', () => {
    assert.deepEqual(splitShellWords('  -w 2  '), ['-w', '2']);
  });

  test('single quotes group words and keep everything inside literally', () => {
    assert.deepEqual(splitShellWords(`--name 'my app' x`), ['--name', 'my app', 'x']);
    assert.deepEqual(splitShellWords(`'a\\b "c"'`), ['a\\b "c"']);
  });

  test('double quotes group words and allow \\" and \\\\', () => {
    assert.deepEqual(splitShellWords(`"say \\"hi\\""`), ['say "hi"']);
    assert.deepEqual(splitShellWords(`"back\\\\slash"`), ['back\\slash']);
  });

  test('inside double quotes, a backslash before any other character stays', () => {
    assert.deepEqual(splitShellWords(`"a\\nb"`), ['a\\nb']);
  });

  test('one kind of quote may hold the other', () => {
    assert.deepEqual(splitShellWords(`"it's" 'say "x"'`), ["it's", 'say "x"']);
  });

  test('quoted and unquoted parts next to each other join into one word', () => {
    assert.deepEqual(splitShellWords(`--env=A='b c'"d"`), ['--env=A=b cd']);
    assert.deepEqual(splitShellWords(`a''b`), ['ab']);
  });

  test('an empty quoted string is a word of its own', () => {
    assert.deepEqual(splitShellWords(`a '' "" b`), ['a', '', '', 'b']);
  });

  test('outside quotes, a backslash escapes the next character, whitespace included', () => {
    assert.deepEqual(splitShellWords('my\\ app \\"x\\"'), ['my app', '"x"']);
  });

  test('a backslash at the very end is kept as it is', () => {
    assert.deepEqual(splitShellWords('x\\'), ['x\\']);
  });

  test('an unterminated single quote is an error that names the quote', () => {
    assert.throws(() => splitShellWords(`--name 'abc`), { message: "unterminated ' quote" });
  });

  test('an unterminated double quote is an error that names the quote', () => {
    assert.throws(() => splitShellWords('--name "abc'), { message: 'unterminated " quote' });
  });

  test('an escaped quote does not open a quote', () => {
    assert.deepEqual(splitShellWords(`it\\'s`), ["it's"]);
  });
});
