import type { CookieConfig } from '../config/validate.js';

/** Parses a Cookie header. The first value of a repeated name wins, as in browsers' most-specific-path-first order. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  // header.split(';') with each part's name and value trimmed, without the array and the copies:
  // it runs on every request. `eq` is the first '=' at or after `start`, found once per '=' (never
  // a search per part: a header of ';;;…' stays linear).
  let eq = header.indexOf('=');
  for (let start = 0; eq >= 0 && start <= header.length;) {
    let end = header.indexOf(';', start);
    if (end < 0) end = header.length;
    if (eq < start) eq = header.indexOf('=', start);
    if (eq >= 0 && eq < end) {
      const name = trimmed(header, start, eq);
      if (name && !out.has(name)) out.set(name, trimmed(header, eq + 1, end));
    }
    start = end + 1;
  }
  return out;
}

/** s.slice(a, b).trim(), calling trim() only when an end could be whitespace (every JS whitespace is ≤ U+0020 or ≥ U+00A0). */
function trimmed(s: string, a: number, b: number): string {
  const v = s.slice(a, b);
  if (v === '') return v;
  const f = v.charCodeAt(0);
  const l = v.charCodeAt(v.length - 1);
  return f <= 32 || f >= 160 || l <= 32 || l >= 160 ? v.trim() : v;
}

export interface CookieAttributes {
  readonly path: string;
  readonly domain?: string;
  /** Seconds; undefined = a browser-session cookie, 0 = delete now. */
  readonly maxAge?: number;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: CookieConfig['sameSite'];
}

export function serializeCookie(name: string, value: string, a: CookieAttributes): string {
  let s = `${name}=${value}; Path=${a.path}`;
  if (a.domain) s += `; Domain=${a.domain}`;
  if (a.maxAge !== undefined) {
    s += `; Max-Age=${a.maxAge}`;
    s += `; Expires=${new Date(a.maxAge === 0 ? 0 : Date.now() + a.maxAge * 1000).toUTCString()}`;
  }
  if (a.httpOnly) s += '; HttpOnly';
  if (a.secure) s += '; Secure';
  if (a.sameSite) s += `; SameSite=${a.sameSite[0]!.toUpperCase()}${a.sameSite.slice(1)}`;
  return s;
}

/** The longest configured cookie domain the request host belongs to (oauth2-proxy's rule), else none. */
export function cookieDomainFor(host: string | undefined, domains: readonly string[]): string | undefined {
  if (!host || domains.length === 0) return undefined;
  const h = host.replace(/:\d+$/, '').toLowerCase();
  let best: string | undefined;
  for (const d of domains) {
    const bare = d.replace(/^\./, '');
    if ((h === bare || h.endsWith(`.${bare}`)) && (!best || d.length > best.length)) best = d;
  }
  return best;
}

/**
 * Browsers cap a cookie near 4096 bytes including name and attributes; a larger session is split
 * into NAME_0, NAME_1, … (oauth2-proxy's names, so its users recognise them).
 */
export const MAX_CHUNK = 3800;

export function chunkValue(name: string, value: string): Array<[string, string]> {
  if (value.length <= MAX_CHUNK) return [[name, value]];
  const out: Array<[string, string]> = [];
  for (let i = 0, n = 0; i < value.length; i += MAX_CHUNK, n++) out.push([`${name}_${n}`, value.slice(i, i + MAX_CHUNK)]);
  return out;
}

/** Reassembles a possibly chunked cookie; undefined when absent. */
export function readChunked(cookies: ReadonlyMap<string, string>, name: string): string | undefined {
  const whole = cookies.get(name);
  if (whole !== undefined) return whole;
  let value = '';
  for (let n = 0; ; n++) {
    const part = cookies.get(`${name}_${n}`);
    if (part === undefined) return n === 0 ? undefined : value;
    value += part;
  }
}

/** The one rule for chunk names: `name` itself, or `name_N` with N a decimal number. */
export function isChunkOf(cookieName: string, name: string): boolean {
  if (cookieName === name) return true;
  if (cookieName.length <= name.length + 1 || !cookieName.startsWith(name) || cookieName.charCodeAt(name.length) !== 95 /* _ */) return false;
  for (let i = name.length + 1; i < cookieName.length; i++) {
    const c = cookieName.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Names of every cookie that belongs to the session (whole or chunk), to clear or to hide from upstreams. */
export function sessionCookieNames(cookies: ReadonlyMap<string, string>, name: string): string[] {
  return [...cookies.keys()].filter((k) => isChunkOf(k, name));
}
