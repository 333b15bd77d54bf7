import type { IncomingHttpHeaders } from 'node:http';
import type { Session } from '../session/codec.js';

/**
 * Identity headers the proxy owns. A client must never be able to send them itself: the upstream
 * trusts them. Servers downstream may fold `_` into `-` (nginx with underscores_in_headers, CGI/PHP,
 * WSGI, Rack all expose X_Forwarded_User as HTTP_X_FORWARDED_USER), so names are compared after that
 * folding. Node has already lower-cased every name and refused names with spaces.
 */
const OWNED = new Set([
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
  'x-forwarded-access-token',
  'x-forwarded-id-token',
  'gap-auth',
  'gap-signature',
]);
const OWNED_PREFIXES = ['x-auth-request-'];

export function isOwnedIdentityHeader(name: string): boolean {
  const folded = name.includes('_') ? name.replace(/_/g, '-') : name;
  return OWNED.has(folded) || OWNED_PREFIXES.some((p) => folded.startsWith(p));
}

/** Removes every owned identity header the client sent, in any spelling. Mutates and returns `headers`. */
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

export interface IdentityHeaderOptions {
  readonly passUserHeaders: boolean;
  readonly passAccessToken: boolean;
}

/** Adds the identity headers the upstream reads. Mutates `headers`. */
export function addIdentityHeaders(headers: IncomingHttpHeaders, s: Session, o: IdentityHeaderOptions): void {
  if (o.passUserHeaders) {
    headers['x-forwarded-user'] = headerSafe(s.user);
    if (s.email) headers['x-forwarded-email'] = headerSafe(s.email);
    if (s.groups.length) headers['x-forwarded-groups'] = headerSafe(s.groups.join(','));
    if (s.preferredUsername) headers['x-forwarded-preferred-username'] = headerSafe(s.preferredUsername);
  }
  if (o.passAccessToken && s.accessToken) headers['x-forwarded-access-token'] = s.accessToken;
}

/**
 * Claims come from the issuer and may hold characters a header cannot carry (Node throws on them,
 * and CR/LF would split headers): percent-encode anything outside printable ASCII.
 */
export function headerSafe(v: string): string {
  return /^[\x20-\x7e]*$/.test(v) ? v : v.replace(/[^\x20-\x7e]+/gu, (m) => Array.from(Buffer.from(m, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}
