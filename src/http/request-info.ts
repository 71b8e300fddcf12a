import type { Logger } from '../log.js';

/** The second argument of a fetch handler, and `req.unicorn` in the node interface. */
export interface RequestInfo {
  /** The client's address: the peer's, or the one a trusted proxy forwarded. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The prefix the app is mounted under (--root-path), removed from the request path; '' for none. */
  readonly rootPath: string;
  /** `http` or `https`, after trusted-proxy resolution. */
  readonly scheme: 'http' | 'https';
  readonly worker: { readonly id: number; readonly pid: number };
  /** Fires when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
  /** A logger bound to this request (method, url) writing to the error log. */
  readonly log: Logger;
}
