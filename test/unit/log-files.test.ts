/**
 * The log files on the real file system (src/log.ts): reopening the error log and the access log
 * after a rotation, a reopen that fails because the directory is gone, and what is reported.
 *
 * sonic-boom, under both, keeps a listener behind when a reopen fails, and that listener closes the
 * old descriptor a second time on the next reopen that succeeds. The tests count the `fs.close()`
 * calls that reach each descriptor (counted and passed on, not replaced): a second close of a number
 * the process may already have given to another file or socket is the defect.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs, {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Log, openAccessLog } from '../../src/log.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'unicorn-log-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What a writer reported to the error log: [during, error code]. */
function reportingLog() {
  const reports: Array<[string, string | undefined]> = [];
  const log = {
    logFileFailed: (_which: string, _file: string, during: string, err: unknown) =>
      reports.push([during, (err as NodeJS.ErrnoException).code]),
  };
  return { log: log as unknown as Log, reports };
}

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

/** The descriptors this process holds open on files under `prefix`, by number. */
function openFilesUnder(prefix: string): Map<number, string> {
  const files = new Map<number, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(prefix)) files.set(Number(fd), target);
    } catch {
      // Closed while listing (the directory's own descriptor).
    }
  }
  return files;
}

/** The fs.close() calls made, by descriptor number, and how many have not called back yet. */
interface Closes {
  readonly fds: number[];
  pending: number;
}

/** Runs `body` while counting the fs.close() calls made. */
async function countingCloses(body: (closes: Closes) => Promise<void>): Promise<void> {
  const closes: Closes = { fds: [], pending: 0 };
  const close = fs.close;
  fs.close = ((fd: number, callback?: (err: NodeJS.ErrnoException | null) => void) => {
    closes.fds.push(fd);
    closes.pending++;
    close(fd, (err) => {
      closes.pending--;
      callback?.(err);
    });
  }) as typeof fs.close;
  try {
    await body(closes);
  } finally {
    fs.close = close;
  }
}

/**
 * Once the old file is no longer open and every close under way has called back (a second close of
 * the same descriptor is issued together with the first), it was closed exactly once.
 */
async function assertClosedOnce(root: string, oldFd: number | undefined, closes: Closes): Promise<void> {
  await waitFor('the old file closed', () => openFilesUnder(root).size === 1);
  await waitFor('every close under way finished', () => closes.pending === 0);
  assert.equal(closes.fds.filter((fd) => fd === oldFd).length, 1, `fs.close calls: ${closes.fds.join(', ')}`);
}

/** A log directory under `name`, the place it is moved to, and the log file in it. */
function rotation(name: string, fileName: string) {
  const root = join(dir, name);
  const logs = join(root, 'logs');
  mkdirSync(logs, { recursive: true });
  return { root, logs, moved: join(root, 'logs.moved'), file: join(logs, fileName) };
}

describe('openAccessLog: reopening the file', () => {
  test('a reopen whose directory is gone keeps the old file, the next one moves on, and the old descriptor is closed once', async () => {
    const { root, logs, moved, file } = rotation('access', 'access.log');
    const { log, reports } = reportingLog();
    await countingCloses(async (closes) => {
      const writer = openAccessLog(file, log);
      writer.write('one');
      // The writer's own timer writes within a second (writer.flush() is for the exit).
      await waitFor('the first line in the file', () => read(file) === 'one\n');
      const [oldFd] = [...openFilesUnder(root).keys()];

      renameSync(logs, moved);
      writer.reopen();
      await waitFor('the failed reopen reported', () => reports.length > 0);
      assert.deepEqual(reports, [['reopen', 'ENOENT']]);
      writer.write('two');

      mkdirSync(logs);
      writer.reopen();
      writer.write('three');
      await waitFor('each line in the file open when it was written', () => {
        return read(join(moved, 'access.log')) === 'one\ntwo\n' && read(file) === 'three\n';
      });
      await assertClosedOnce(root, oldFd, closes);
      assert.deepEqual([...openFilesUnder(root).values()], [file]);
      assert.deepEqual(reports, [['reopen', 'ENOENT']]);
    });
  });

  test('a reopen after a rotation that went well writes the new lines to the new file', async () => {
    const file = join(dir, 'plain.log');
    const { log, reports } = reportingLog();
    const writer = openAccessLog(file, log);
    writer.write('before');
    await waitFor('the first line', () => read(file) === 'before\n');
    renameSync(file, `${file}.1`);
    writer.reopen();
    writer.write('after');
    await waitFor('both files', () => read(`${file}.1`) === 'before\n' && read(file) === 'after\n');
    assert.deepEqual(reports, []);
  });
});

describe('openAccessLog: the flush at exit', () => {
  // /dev/full fails every write with ENOSPC, as a full disk does. Run in a child process: a flush
  // that never returns would hang this one.
  test('returns when the disk is full, losing the lines it holds, instead of retrying forever', async () => {
    const script = `
      import { openAccessLog } from ${JSON.stringify(new URL('../../src/log.ts', import.meta.url).href)};
      const reports = [];
      const writer = openAccessLog('/dev/full', { logFileFailed: (_w, _f, during, err) => reports.push(during + ' ' + err.code) });
      writer.write('a line the disk has no room for');
      const deadline = Date.now() + 10_000;
      while (reports.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      writer.write('another, still buffered');
      writer.flush();
      console.log(JSON.stringify({ flushed: true, reports }));
    `;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { timeout: 20_000, killSignal: 'SIGKILL' },
        (err, stdout) => (err ? reject(new Error(`${err.message} (stdout: ${stdout})`)) : resolve(stdout)),
      );
    });
    assert.deepEqual(JSON.parse(out.trim()), { flushed: true, reports: ['write ENOSPC'] });
  });
});

describe('Log: reopening the error log file', () => {
  test('a reopen whose directory is gone reports it in the old file; the next one moves on, closing the old descriptor once', async () => {
    const { root, logs, moved, file } = rotation('error', 'error.log');
    await countingCloses(async (closes) => {
      const log = Log.create({ level: 'info', format: 'json', file, base: {} });
      log.info('worker.ready', 'first');
      const [oldFd] = [...openFilesUnder(root).keys()];

      renameSync(logs, moved);
      assert.equal(log.reopen(), false);
      mkdirSync(logs);
      assert.equal(log.reopen(), true);
      log.info('worker.ready', 'second');

      const movedLines = read(join(moved, 'error.log'));
      assert.match(movedLines, /"msg":"first"/);
      assert.match(movedLines, /"event":"logs.failed".*"during":"reopen"/);
      assert.match(read(file), /"msg":"second"/);
      await assertClosedOnce(root, oldFd, closes);
    });
  });
});
