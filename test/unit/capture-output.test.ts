/**
 * --capture-output's line splitting (workers/capture-output.ts). It replaces process.stdout.write
 * and process.stderr.write, which the test runner writes its report through: each test restores
 * them before it asserts anything.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Log } from '../../src/log.js';
import { captureOutput, MAX_OUTPUT_LINE } from '../../workers/capture-output.js';

type Line = { level: string; msg: string; fields: Record<string, unknown> };

/** Runs `write` with both streams captured; returns the lines logged, flush included. */
function captured(write: () => void): Line[] {
  const lines: Line[] = [];
  const log = {
    info: (_event: string, msg: string, fields: Record<string, unknown>) =>
      lines.push({ level: 'info', msg, fields }),
    warn: (_event: string, msg: string, fields: Record<string, unknown>) =>
      lines.push({ level: 'warn', msg, fields }),
  } as unknown as Log;
  const saved = [process.stdout.write, process.stderr.write] as const;
  try {
    const capture = captureOutput(() => log);
    write();
    capture.flush();
  } finally {
    process.stdout.write = saved[0];
    process.stderr.write = saved[1];
  }
  return lines;
}

const shape = (lines: Line[]) => lines.map((l) => [l.level, l.msg.length, l.fields.partial === true]);

test('lines are cut at their newlines, whatever the writes', () => {
  const lines = captured(() => {
    process.stdout.write('a\nb');
    process.stdout.write('c\n\nd');
    process.stderr.write(Buffer.from('oops\n'));
  });
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.fields.stream]),
    [
      ['info', 'a', 'stdout'],
      ['info', 'bc', 'stdout'],
      ['info', '', 'stdout'],
      ['warn', 'oops', 'stderr'],
      ['info', 'd', 'stdout'],
    ],
  );
});

test('text that never ends its line is logged in pieces as it grows, not held', () => {
  const total = 2 * MAX_OUTPUT_LINE + 100;
  const lines = captured(() => {
    for (let i = 0; i < total; i++) process.stdout.write('.');
  });
  assert.deepEqual(shape(lines), [
    ['info', MAX_OUTPUT_LINE, true],
    ['info', MAX_OUTPUT_LINE, true],
    ['info', 100, false],
  ]);
});

test('a line longer than the limit is logged in pieces, the last one not partial', () => {
  const lines = captured(() => {
    process.stderr.write(`${'x'.repeat(MAX_OUTPUT_LINE * 2 + 5)}\nnext\n`);
  });
  assert.deepEqual(shape(lines), [
    ['warn', MAX_OUTPUT_LINE, true],
    ['warn', MAX_OUTPUT_LINE, true],
    ['warn', 5, false],
    ['warn', 4, false],
  ]);
});

test('a line of exactly the limit is one line', () => {
  const lines = captured(() => {
    process.stdout.write('y'.repeat(MAX_OUTPUT_LINE));
    process.stdout.write('\n');
  });
  assert.deepEqual(shape(lines), [['info', MAX_OUTPUT_LINE, false]]);
});
