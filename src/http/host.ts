/**
 * The Host header, checked as RFC 9110 defines it (`uri-host [ ":" port ]`) before anything builds a
 * URL from it. A server must answer 400 to a Host field with an invalid value (RFC 9112 section
 * 3.2); beyond the RFC, the value must also make a URL the WHATWG parser accepts, so that
 * `new URL(request.url)` in an app can never throw on what a client sent, and a value such as
 * `x/admin?` can never move the path the app routes on.
 */

/** reg-name and IPv4address characters: unreserved, sub-delims, and `%` for pct-encoded. */
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
const IP_LITERAL = /^\[[0-9A-Fa-f:.]+\]$/;
const PORT = /^[0-9]{0,5}$/;

/** The last value found valid: nearly every request on a server carries the same Host. */
let lastValid: string | null = null;

export function isValidHost(value: string): boolean {
  if (value === lastValid) return true;
  // An empty reg-name is valid syntax (a client sends it when the target has no authority); the
  // URL is then built on the address the connection arrived on.
  if (value === '') return true;
  if (!hostGrammar(value) || !URL.canParse(`http://${value}/`)) return false;
  lastValid = value;
  return true;
}

function hostGrammar(value: string): boolean {
  const close = value.lastIndexOf(']');
  const colon = value.lastIndexOf(':');
  // The port's colon is the last one outside an IP literal's brackets.
  const portAt = colon > close ? colon : -1;
  const host = portAt >= 0 ? value.slice(0, portAt) : value;
  if (portAt >= 0) {
    const port = value.slice(portAt + 1);
    if (!PORT.test(port) || (port !== '' && Number(port) > 65535)) return false;
  }
  if (host.startsWith('[')) return IP_LITERAL.test(host);
  return REG_NAME.test(host);
}

/**
 * The authority for a request URL: the Host header when it names one, else the address the
 * connection arrived on (an HTTP/1.0 client may send no Host, and an empty Host is valid syntax).
 */
export function authorityOf(
  host: string | undefined,
  socket: { localAddress?: string; localPort?: number },
): string {
  if (host !== undefined && host !== '') return host;
  const address = socket.localAddress;
  if (address === undefined || address === '') return 'localhost';
  return address.includes(':') ? `[${address}]:${socket.localPort}` : `${address}:${socket.localPort}`;
}
