import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { isOwnedIdentityHeader } from './identity.js';

/** Removes every identity header the client sent, in any spelling. Mutates and returns `headers`. */
export function stripClientIdentityHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  for (const name of Object.keys(headers)) {
    if (isOwnedIdentityHeader(name)) delete headers[name];
  }
  return headers;
}

const FORWARDING = ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded'];
/**
 * Headers that name the client's address, like X-Forwarded-For: X-Real-IP and every other
 * spelling oauth2-proxy accepts as real_client_ip_header. An upstream that reads one of them
 * must not get a value the client typed.
 */
const CLIENT_ADDRESS = ['x-real-ip', 'x-proxyuser-ip', 'x-envoy-external-address', 'cf-connecting-ip'];

/**
 * Without a trusted load balancer in front, X-Forwarded-*, Forwarded and X-Real-IP are whatever
 * the client typed: drop them, so the upstream sees only the values the proxy sets itself.
 */
export function stripClientForwardingHeaders(headers: IncomingHttpHeaders): void {
  for (const name of FORWARDING) delete headers[name];
  for (const name of CLIENT_ADDRESS) delete headers[name];
}

/**
 * Writes X-Forwarded-For/-Proto/-Host/-Port for the upstream. From a trusted load balancer
 * (`trusted`) its values are kept and its own address is appended to X-Forwarded-For, as each hop
 * does; from anyone else the client's are dropped first and the proxy's own are written. A peer on
 * a unix socket has no address to append.
 */
export function setForwardingHeaders(req: IncomingMessage, trusted: boolean): void {
  const h = req.headers;
  if (!trusted) stripClientForwardingHeaders(h);
  const peer = req.socket.remoteAddress;
  if (peer) h['x-forwarded-for'] = h['x-forwarded-for'] ? `${String(h['x-forwarded-for'])}, ${peer}` : peer;
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  h['x-forwarded-proto'] ??= encrypted ? 'https' : 'http';
  if (h.host) h['x-forwarded-host'] ??= h.host;
  h['x-forwarded-port'] ??= /:(\d+)$/.exec(h.host ?? '')?.[1] ?? (encrypted ? '443' : '80');
}

/**
 * Removes the proxy's own cookies (session and its chunks, login state) from the Cookie header:
 * the upstream has no use for them and must not be able to replay the session.
 */
export function stripProxyCookies(headers: IncomingHttpHeaders, isProxyCookie: (name: string) => boolean): void {
  const cookie = headers.cookie;
  if (!cookie) return;
  // One pass over the header, no arrays: it runs on every forwarded request.
  let kept: string | undefined;
  for (let start = 0; start <= cookie.length;) {
    let end = cookie.indexOf(';', start);
    if (end < 0) end = cookie.length;
    const part = cookie.slice(start, end).trim();
    const eq = part.indexOf('=');
    if (!isProxyCookie((eq < 0 ? part : part.slice(0, eq)).trim())) kept = kept === undefined ? part : `${kept}; ${part}`;
    start = end + 1;
  }
  if (kept === undefined) delete headers.cookie;
  else headers.cookie = kept;
}
