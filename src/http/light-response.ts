/**
 * A Response that becomes an undici Response only when the app asks for what only a real one has.
 *
 * Most fetch handlers answer `new Response('text', { headers })` or `Response.json(data)` and never
 * look at the object again. A real Response wraps every such body in a ReadableStream, validates
 * and copies its headers into a Headers object, and the server then reads the stream back chunk by
 * chunk: measured on Node 24, well over half of the fetch interface's CPU per request. So in a worker
 * serving the fetch interface the global `Response` is this class. It keeps what it was given (a
 * string or bytes, the status, the headers init) and the server writes that straight to the socket
 * (`lightParts`). Anything else (a stream or Blob body, an unusual init, reading the body, `clone()`,
 * `headers` asked for and changed) is handed to a real Response made on the spot, with the same
 * arguments, so behaviour and errors are undici's.
 *
 * `instanceof Response` holds both ways: a LightResponse is an instance of undici's Response (its
 * prototype chain says so) and an undici Response (from `fetch()`, say) is an instance of this
 * class (`Symbol.hasInstance`).
 */

import http from '../node-http.js';

const { validateHeaderName, validateHeaderValue } = http;

/**
 * undici's Response, looked up on first need (installLightResponse, or a LightResponse made before
 * it): reading the global loads undici, about 10 MiB that a worker serving the node interface never
 * needs.
 */
let nativeResponse: typeof Response | undefined;
function native(): typeof Response {
  if (nativeResponse === undefined) {
    nativeResponse = globalThis.Response;
    Object.setPrototypeOf(LightResponse.prototype, nativeResponse.prototype);
  }
  return nativeResponse;
}

/** Statuses that may not carry a body (the Fetch standard's null body status). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** What a LightResponse holds until it becomes real. */
export interface LightParts {
  readonly body: string | Uint8Array | null;
  readonly status: number;
  readonly statusText: string;
  /** Lower-case name to value, validated; null for none. */
  readonly headers: Readonly<Record<string, string>> | null;
  /** The Content-Type the body implies when the headers have none (`text/plain;charset=UTF-8`...). */
  readonly impliedType: string | null;
}

export class LightResponse {
  #parts: LightParts | null;
  #native: Response | null;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    if (nativeResponse === undefined) native();
    const parts = lightPartsOf(body, init);
    this.#parts = parts;
    this.#native = parts === null ? new (native())(body, init) : null;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof native();
  }

  static json(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data);
    if (text === undefined) return native().json(data, init);
    const response = new LightResponse(text, init);
    if (response.#parts !== null) {
      response.#parts = { ...response.#parts, impliedType: 'application/json' };
      return response as unknown as Response;
    }
    return native().json(data, init);
  }

  static error(): Response {
    return native().error();
  }

  static redirect(url: string | URL, status?: number): Response {
    return native().redirect(url, status);
  }

  /** The real Response, made now if it was not yet. */
  #real(): Response {
    if (this.#native === null) {
      const parts = this.#parts as LightParts;
      const headers = new Headers(parts.headers ?? undefined);
      if (parts.impliedType !== null && !headers.has('content-type'))
        headers.set('content-type', parts.impliedType);
      this.#native = new (native())(parts.body as BodyInit | null, {
        status: parts.status,
        statusText: parts.statusText,
        headers,
      });
      this.#parts = null;
    }
    return this.#native;
  }

  /** What the server writes directly: null for any other Response, or once this one is real. */
  static partsOf(response: object): LightParts | null {
    return #parts in response ? (response as LightResponse).#parts : null;
  }

  get status(): number {
    return this.#parts?.status ?? this.#real().status;
  }
  get statusText(): string {
    return this.#parts?.statusText ?? this.#real().statusText;
  }
  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status <= 299;
  }
  get redirected(): boolean {
    return this.#parts === null ? this.#real().redirected : false;
  }
  get type(): ResponseType {
    return this.#parts === null ? this.#real().type : 'default';
  }
  get url(): string {
    return this.#parts === null ? this.#real().url : '';
  }
  // The Headers object is live (the app may change it), so asking for it makes the Response real.
  get headers(): Headers {
    return this.#real().headers;
  }
  get body(): ReadableStream<Uint8Array> | null {
    return this.#real().body;
  }
  get bodyUsed(): boolean {
    return this.#parts === null ? this.#real().bodyUsed : false;
  }
  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#real().arrayBuffer();
  }
  blob(): Promise<Blob> {
    return this.#real().blob();
  }
  bytes(): Promise<Uint8Array> {
    return (this.#real() as Response & { bytes(): Promise<Uint8Array> }).bytes();
  }
  formData(): Promise<FormData> {
    return this.#real().formData();
  }
  json(): Promise<unknown> {
    return this.#real().json();
  }
  text(): Promise<string> {
    return this.#real().text();
  }
  clone(): Response {
    return this.#real().clone();
  }
}

/** Makes `Response` in this process the light one; returns whether it changed anything. */
export function installLightResponse(): boolean {
  if ((globalThis.Response as unknown) === LightResponse) return false;
  native();
  (globalThis as { Response: unknown }).Response = LightResponse;
  return true;
}

/**
 * The parts, when `body` and `init` are the plain kind this class keeps as they are; null for
 * anything a real Response should judge (it also throws the errors the standard asks for).
 */
function lightPartsOf(body: BodyInit | null | undefined, init: ResponseInit | undefined): LightParts | null {
  let value: string | Uint8Array | null;
  let impliedType: string | null = null;
  if (body === undefined || body === null) value = null;
  else if (typeof body === 'string') {
    value = body;
    impliedType = 'text/plain;charset=UTF-8';
  } else if (body instanceof Uint8Array) value = (body as Uint8Array).slice();
  else if (body instanceof ArrayBuffer) value = new Uint8Array(body.slice(0));
  else return null;
  let status = 200;
  let statusText = '';
  let headers: Record<string, string> | null = null;
  if (init !== undefined && init !== null) {
    if (typeof init !== 'object') return null;
    if (init.status !== undefined) {
      if (!Number.isInteger(init.status) || init.status < 200 || init.status > 599) return null;
      status = init.status;
    }
    if (init.statusText !== undefined) {
      if (typeof init.statusText !== 'string' || !/^[\t\x20-\x7e]*$/.test(init.statusText)) return null;
      statusText = init.statusText;
    }
    if (init.headers !== undefined) {
      headers = plainHeaders(init.headers);
      if (headers === null) return null;
    }
  }
  if (value !== null && NULL_BODY_STATUS.has(status)) return null;
  return { body: value, status, statusText, headers, impliedType };
}

/**
 * A plain `{ name: value }` object of string values, validated and with lower-case names; null for
 * anything else (a Headers object, pairs, repeated names, Set-Cookie), which a real Headers judges.
 */
function plainHeaders(init: HeadersInit): Record<string, string> | null {
  if (typeof init !== 'object' || init === null || Array.isArray(init) || init instanceof Headers)
    return null;
  if (Object.getPrototypeOf(init) !== Object.prototype && Object.getPrototypeOf(init) !== null) return null;
  const out: Record<string, string> = {};
  for (const name of Object.keys(init)) {
    const value = (init as Record<string, unknown>)[name];
    if (typeof value !== 'string') return null;
    const lower = name.toLowerCase();
    if (lower === 'set-cookie' || lower in out) return null;
    try {
      validateHeaderName(name);
      // The Fetch standard strips leading and trailing whitespace from a value; node:http does not.
      validateHeaderValue(name, value.trim());
    } catch {
      return null;
    }
    out[lower] = value.trim();
  }
  return out;
}
