import type { IncomingHttpHeaders } from 'node:http';
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
 * Without a trusted load balancer in front (reverse_proxy=false), X-Forwarded-For/-Host/-Proto are
 * whatever the client typed: drop them, so the upstream sees only the values the proxy sets itself.
 */
export function stripClientForwardingHeaders(headers: IncomingHttpHeaders): void {
  for (const name of FORWARDING) delete headers[name];
}

/**
 * Removes the proxy's own cookies (session and its chunks, login state) from the Cookie header:
 * the upstream has no use for them and must not be able to replay the session.
 */
export function stripProxyCookies(headers: IncomingHttpHeaders, isProxyCookie: (name: string) => boolean): void {
  const cookie = headers.cookie;
  if (!cookie) return;
  const kept = cookie.split(';').filter((part) => {
    const eq = part.indexOf('=');
    return !isProxyCookie((eq < 0 ? part : part.slice(0, eq)).trim());
  });
  if (kept.length === 0) delete headers.cookie;
  else headers.cookie = kept.map((p) => p.trim()).join('; ');
}
