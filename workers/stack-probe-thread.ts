/**
 * The stack probe's thread: runs beside a worker's main thread and answers the master's "where are
 * you stuck?" over the probe pipe (see STACK_PROBE_FD in src/ipc.ts).
 *
 * When the master asks, this thread opens an inspector session on the main thread, pauses it and
 * reads its call frames. The inspector delivers those messages by interrupting V8, so they arrive
 * even while the main thread is spinning in synchronous JavaScript; that is the whole point. The
 * session is connected only for the few milliseconds of a probe: an enabled debugger is not free, and
 * a session still connected at exit makes Node print "Waiting for the debugger to disconnect".
 *
 * If the main thread is blocked outside JavaScript (a synchronous system call, Atomics.wait), V8
 * never reaches a point where it can pause; the reply then says so instead of naming a frame.
 */

import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { Socket } from 'node:net';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { workerData } from 'node:worker_threads';
import { onJsonLines, type StackFrame, type StackProbeReply, type StackProbeRequest } from '../src/ipc.js';
import { RequestBoard } from './request-board.js';

/** How long the main thread gets to reach a point where V8 can pause it. */
const PAUSE_WAIT_MS = 1000;
const MAX_FRAMES = 12;

interface ProbeData {
  fd: number;
  cwd: string;
  board: SharedArrayBuffer;
}

interface ScriptInfo {
  url: string;
  sourceMapURL: string;
}

interface CallFrame {
  functionName: string;
  url?: string;
  location: { scriptId: string; lineNumber: number; columnNumber?: number };
}

const { fd, cwd, board: boardBuffer } = workerData as ProbeData;
const board = new RequestBoard(boardBuffer);
const channel = new Socket({ fd, readable: true, writable: true });
// A broken pipe means the master has gone; the worker's own exit follows.
channel.on('error', () => {});
let queue = Promise.resolve();
onJsonLines<StackProbeRequest>(channel, (request) => {
  // One probe at a time: a second session would fight the first over pause and resume.
  queue = queue.then(async () => {
    // Read first: while the main thread is stuck the board holds still, and it needs no pause.
    const posted = board.read();
    const reply = await probe(request.id).catch(
      (err: unknown): StackProbeReply => ({
        id: request.id,
        frames: [],
        note: `probe failed: ${String(err)}`,
      }),
    );
    channel.write(`${JSON.stringify({ ...reply, request: posted })}\n`);
  });
});

async function probe(id: number): Promise<StackProbeReply> {
  const session = new Session();
  session.connectToMainThread();
  const scripts = new Map<string, ScriptInfo>();
  session.on('Debugger.scriptParsed', ({ params }) => {
    scripts.set(params.scriptId, { url: params.url, sourceMapURL: params.sourceMapURL ?? '' });
  });
  try {
    const paused = new Promise<CallFrame[]>((resolve) => {
      session.once('Debugger.paused', ({ params }) => resolve(params.callFrames as CallFrame[]));
    });
    const pause = async () => {
      await post(session, 'Debugger.enable');
      await post(session, 'Debugger.pause');
      return paused;
    };
    // Even enabling the debugger needs the main thread to reach an interrupt check.
    const frames = await Promise.race([pause(), delay(PAUSE_WAIT_MS)]);
    if (frames === undefined) {
      return { id, frames: [], note: 'not running JavaScript: blocked in a system call or native code' };
    }
    const located = frames.slice(0, MAX_FRAMES).map((frame) => locate(frame, scripts));
    await post(session, 'Debugger.resume');
    return { id, frames: located };
  } finally {
    // Disconnecting also drops a pause request that never took effect.
    session.disconnect();
  }
}

function locate(frame: CallFrame, scripts: Map<string, ScriptInfo>): StackFrame {
  const script = scripts.get(frame.location.scriptId);
  const url = script?.url || frame.url || '<unknown>';
  let line = frame.location.lineNumber;
  let column = frame.location.columnNumber ?? 0;
  let file = url;
  // TypeScript apps run transpiled; their source maps say where the line is in the .ts file.
  const original = script?.sourceMapURL ? mapToSource(url, script.sourceMapURL, line, column) : null;
  if (original !== null) ({ file, line, column } = original);
  return {
    fn: frame.functionName || '<anonymous>',
    file: displayPath(file),
    line: line + 1,
    column: column + 1,
  };
}

function mapToSource(
  scriptUrl: string,
  sourceMapUrl: string,
  line: number,
  column: number,
): { file: string; line: number; column: number } | null {
  try {
    const payload = JSON.parse(readSourceMap(scriptUrl, sourceMapUrl)) as SourceMapPayload;
    const entry = new SourceMap(payload).findEntry(line, column) as Partial<{
      originalSource: string;
      originalLine: number;
      originalColumn: number;
    }>;
    if (entry.originalSource === undefined || entry.originalLine === undefined) return null;
    const file = new URL(entry.originalSource, scriptUrl).href;
    return { file, line: entry.originalLine, column: entry.originalColumn ?? 0 };
  } catch {
    return null;
  }
}

function readSourceMap(scriptUrl: string, sourceMapUrl: string): string {
  const inline = /^data:application\/json[^,]*?(;base64)?,(.*)$/s.exec(sourceMapUrl);
  if (inline !== null) {
    const [, base64, data = ''] = inline;
    return base64 ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data);
  }
  return readFileSync(fileURLToPath(new URL(sourceMapUrl, scriptUrl)), 'utf8');
}

function displayPath(url: string): string {
  if (!url.startsWith('file:')) return url;
  const path = fileURLToPath(url.replace(/\?.*$/, ''));
  const rel = relative(cwd, path);
  return rel.startsWith('..') ? path : rel;
}

function post(session: Session, method: string): Promise<void> {
  return new Promise((resolve, reject) => {
    session.post(method, (err) => (err ? reject(err) : resolve()));
  });
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}
