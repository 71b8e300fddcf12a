/**
 * Request limits with Gunicorn's names and defaults, for when clients reach unicorn-ts directly.
 * node:http (llhttp) parses; these checks run on the parsed head before the app sees the request,
 * and the body limit runs as the body arrives, so an oversized body is never read into memory.
 */

import type { IncomingMessage } from 'node:http';

export interface RequestLimits {
  /** Longest request line in bytes (method, target, version and the spaces); 0 = no limit. */
  readonly line: number;
  /** Most header fields; 0 = no limit. */
  readonly fields: number;
  /** Longest header field (`name: value` and its CRLF) in bytes; 0 = no limit. */
  readonly fieldSize: number;
  /** Largest body in bytes; 0 = no limit. */
  readonly body: number;
}

export interface Refusal {
  readonly status: 400 | 413 | 414 | 431;
  readonly reason: string;
}

/** The total header size node:http must accept for these limits (its own cap is checked first). */
export function maxHeaderSize(limits: RequestLimits): number {
  const line = limits.line > 0 ? limits.line : 8190;
  const fields = limits.fields > 0 ? limits.fields : 100;
  const size = limits.fieldSize > 0 ? limits.fieldSize : 8190;
  // Headroom so that the specific limit, not the parser's total, decides which error a client sees.
  return Math.min(16 * 1024 * 1024, line + fields * size + 1024);
}

export function checkHead(req: IncomingMessage, limits: RequestLimits): Refusal | null {
  if (limits.line > 0) {
    const line = (req.method?.length ?? 0) + 1 + (req.url?.length ?? 0) + 1 + 8;
    if (line > limits.line)
      return {
        status: 414,
        reason: `request line of ${line} bytes exceeds --limit-request-line ${limits.line}`,
      };
  }
  const raw = req.rawHeaders;
  if (limits.fields > 0 && raw.length / 2 > limits.fields) {
    return {
      status: 431,
      reason: `${raw.length / 2} header fields exceed --limit-request-fields ${limits.fields}`,
    };
  }
  if (limits.fieldSize > 0) {
    for (let i = 0; i < raw.length; i += 2) {
      const size = raw[i]!.length + 2 + raw[i + 1]!.length + 2;
      if (size > limits.fieldSize) {
        return {
          status: 431,
          reason: `header ${raw[i]} of ${size} bytes exceeds --limit-request-field-size ${limits.fieldSize}`,
        };
      }
    }
  }
  if (limits.body > 0) {
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > limits.body)
      return { status: 413, reason: `body of ${length} bytes exceeds --limit-request-body ${limits.body}` };
  }
  return null;
}

/**
 * Enforces the body limit on a body of unknown length (chunked) as it arrives: counts what the
 * parser pushes into the request stream, and calls `exceeded` once the limit is passed.
 */
export function limitBody(req: IncomingMessage, max: number, exceeded: () => void): void {
  let seen = 0;
  const push = req.push;
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk !== null && (seen += (chunk as Buffer).length) > max) {
      req.push = push;
      exceeded();
      return false;
    }
    return push.call(this, chunk, encoding);
  };
}
