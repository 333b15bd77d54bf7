// Validation of post-login / post-sign-out redirect targets (`rd`, X-Auth-Request-Redirect, the
// sign-out `rd`).
//
// The attack: an attacker sends a victim a link to our real sign-in URL with
// `rd=//evil.example/login`. After a genuine login on a trusted domain the proxy
// would bounce the victim to a look-alike page (phishing, token theft), or with
// `rd=javascript:…` run script. Browsers are lenient about what counts as a
// host: `//host`, `/\host`, `\/host` and `/<TAB>/host` all leave the site, since
// `\` is read as `/` and tab/CR/LF are silently dropped. So a target is either a
// plain local absolute path, or an absolute http(s) URL written in the plainest
// form on a host of whitelist_domains; each is re-checked with a WHATWG URL parse,
// the same algorithm browsers use to resolve a Location header.

const MAX_REDIRECT_LENGTH = 2048;

// Printable ASCII other than space and backslash. This excludes every control
// character, all whitespace (including the tab/CR/LF a browser would strip) and
// non-ASCII look-alikes. Legitimate targets are already percent-encoded request
// paths, and the value can go straight into a Location header without Node
// rejecting it as an invalid header character.
const ALLOWED_CHARS = /^[\x21-\x5b\x5d-\x7e]+$/;

const PROBE_ORIGIN = 'http://proxy.invalid';

/** One whitelist_domains entry: a host (with `.`/`*.` for subdomains) and a port rule. */
interface DomainEntry {
  /** Lower case, without the leading `.` or `*.`. */
  readonly host: string;
  /** `.example.com` or `*.example.com`: the domain and its subdomains (oauth2-proxy allows both). */
  readonly subdomains: boolean;
  /** '' for a URL without a port, '*' for any port, else the digits as they must be written. */
  readonly port: string;
}

/**
 * whitelist_domains, parsed once: hosts an absolute `rd` may name, exactly as oauth2-proxy's
 * validator reads them (pkg/util IsEndpointAllowed, SplitHostPort): `example.com` that host only,
 * `.example.com` and `*.example.com` the host and its subdomains; `:8080` one port, `:*` any; no
 * port, only a URL without one. Hosts compare case-insensitively (a browser lower-cases them).
 */
export class AllowedDomains {
  readonly #entries: readonly DomainEntry[];

  constructor(entries: readonly string[]) {
    this.#entries = entries.flatMap((e): DomainEntry[] => {
      const { host, port } = splitHostPort(e);
      const lower = host.toLowerCase();
      if (lower === '') return [];
      if (lower.startsWith('*.')) return [{ host: lower.slice(2), subdomains: true, port }];
      if (lower.startsWith('.')) return [{ host: lower.slice(1), subdomains: true, port }];
      return [{ host: lower, subdomains: false, port }];
    });
  }

  get empty(): boolean { return this.#entries.length === 0; }

  /** True when `host` (lower case, no brackets) with `port` as written ('' for none) is allowed. */
  allows(host: string, port: string): boolean {
    return this.#entries.some((e) =>
      (host === e.host || (e.subdomains && host.endsWith(`.${e.host}`)))
      && (e.port === '*' || e.port === port));
  }
}

const NONE = new AllowedDomains([]);

/**
 * oauth2-proxy's SplitHostPort: a trailing `:digits` or `:*` is the port, else it is all host;
 * brackets around the host are removed.
 */
export function splitHostPort(hostport: string): { host: string; port: string } {
  let host = hostport;
  let port = '';
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && /^:(\*|\d*)$/.test(host.slice(colon))) {
    port = host.slice(colon + 1);
    host = host.slice(0, colon);
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port };
}

/** The `rd` / sign-out target if it is a path on this site or a URL on an allowed host, else `fallback`. */
export function safeRedirectPath(target: string | null | undefined, fallback = '/', allowed: AllowedDomains = NONE): string {
  return typeof target === 'string' && isSafeRedirect(target, allowed) ? target : fallback;
}

export function isSafeRedirect(target: string, allowed: AllowedDomains = NONE): boolean {
  if (target.length === 0 || target.length > MAX_REDIRECT_LENGTH) return false;
  if (!ALLOWED_CHARS.test(target)) return false;
  return isLocalPath(target) || (!allowed.empty && isAllowedAbsoluteUrl(target, allowed));
}

function isLocalPath(target: string): boolean {
  // "//host" is a scheme-relative URL; "/\host" is already refused by ALLOWED_CHARS.
  if (target[0] !== '/' || target[1] === '/') return false;

  // Catches what the string checks alone do not, e.g. "/.//evil.com" or
  // "/%2e%2e//evil.com", whose path collapses to "//evil.com": the browser stays
  // here, but that path becomes an off-site target if it is ever reused as one.
  let resolved: URL;
  try {
    resolved = new URL(target, PROBE_ORIGIN);
  } catch {
    return false;
  }
  return (
    resolved.origin === PROBE_ORIGIN &&
    resolved.pathname.startsWith('/') &&
    !resolved.pathname.startsWith('//')
  );
}

// The whole authority in the plainest spelling: a DNS name or an IPv6 literal and an optional port,
// then the end or a path, query or fragment. No userinfo (`@`), no percent-encoding in the host,
// nothing a parser could read two ways. `[^/?#]` after `//` is what both WHATWG and Go call the
// authority, and this pattern allows nothing in it but host characters and one port.
// Like oauth2-proxy, only the lower-case `http://` and `https://` prefixes.
const ABSOLUTE = /^(https?):\/\/([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?(?=$|[/?#])/;

/**
 * An absolute http(s) URL whose host and port whitelist_domains allow. Only the plain spelling is
 * accepted (no `@`, no encoded or trailing-dot hosts, no empty port), and the browser's own parse
 * must agree on the host, so what is checked is where the browser goes.
 */
function isAllowedAbsoluteUrl(target: string, allowed: AllowedDomains): boolean {
  const m = ABSOLUTE.exec(target);
  if (!m) return false;
  const host = m[2]!.toLowerCase().replace(/^\[|\]$/g, '');
  const port = m[3] ?? '';
  let resolved: URL;
  try {
    resolved = new URL(target);
  } catch {
    return false;
  }
  if (resolved.username || resolved.password) return false;
  if (resolved.hostname.replace(/^\[|\]$/g, '') !== host && !isSameIpv6(resolved.hostname, host)) return false;
  if (!resolved.pathname.startsWith('/') || resolved.pathname.startsWith('//')) return false;
  return allowed.allows(host, port);
}

/** WHATWG serialises IPv6 hosts in their shortest form; the URL's spelling must still be that address. */
function isSameIpv6(parsedHostname: string, written: string): boolean {
  if (!parsedHostname.startsWith('[')) return false;
  try {
    return new URL(`http://[${written}]/`).hostname === parsedHostname;
  } catch {
    return false;
  }
}
