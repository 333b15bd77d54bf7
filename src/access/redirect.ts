// Validation of post-login / post-sign-out redirect targets (`rd`, sign-out `rd`).
//
// The attack: an attacker sends a victim a link to our real sign-in URL with
// `rd=//evil.example/login`. After a genuine login on a trusted domain the proxy
// would bounce the victim to a look-alike page (phishing, token theft), or with
// `rd=javascript:…` run script. Browsers are lenient about what counts as a
// host: `//host`, `/\host`, `\/host` and `/<TAB>/host` all leave the site, since
// `\` is read as `/` and tab/CR/LF are silently dropped. So only a plain local
// absolute path is accepted, and the string is then re-checked with a WHATWG
// URL parse, the same algorithm browsers use to resolve a Location header.
//
// oauth2-proxy also accepts absolute URLs on `whitelist_domains`. When that is
// added, it becomes a third parameter `allowedDomains` on both functions, and
// `isSafeRedirect` becomes `isLocalPath(target) || isAllowedAbsoluteUrl(target,
// allowedDomains)`; the local-path rule below stays as it is.

const MAX_REDIRECT_LENGTH = 2048;

// Printable ASCII other than space and backslash. This excludes every control
// character, all whitespace (including the tab/CR/LF a browser would strip) and
// non-ASCII look-alikes. Legitimate targets are already percent-encoded request
// paths, and the value can go straight into a Location header without Node
// rejecting it as an invalid header character.
const ALLOWED_CHARS = /^[\x21-\x5b\x5d-\x7e]+$/;

const PROBE_ORIGIN = 'http://proxy.invalid';

/** The `rd` / sign-out target if it is a path on this proxy's own site, else `fallback`. */
export function safeRedirectPath(target: string | null | undefined, fallback = '/'): string {
  return typeof target === 'string' && isSafeRedirect(target) ? target : fallback;
}

export function isSafeRedirect(target: string): boolean {
  return isLocalPath(target);
}

function isLocalPath(target: string): boolean {
  if (target.length === 0 || target.length > MAX_REDIRECT_LENGTH) return false;
  if (!ALLOWED_CHARS.test(target)) return false;
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
