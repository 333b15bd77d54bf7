import type { OptionReader } from '../reader.js';
import { COOKIE_SECRET_HINT, cookieSecretBytes } from '../secret.js';
import type { CookieConfig, SameSite } from '../validate.js';
import { parseDuration } from '../values.js';

/** The session cookie: name, secret, scope, lifetime and attributes. */
export function validateCookie(r: OptionReader): CookieConfig {
  const cookieName = r.str('cookie_name');
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) r.fail('cookie_name', 'a cookie name of letters, digits and _-.');
  const cookieSecretRaw = r.str('cookie_secret');
  let secret: Buffer = Buffer.alloc(0);
  if (cookieSecretRaw === '') {
    r.missing('cookie_secret', `a 16, 24 or 32 byte secret, raw or base64 (${COOKIE_SECRET_HINT})`);
  } else {
    const bytes = cookieSecretBytes(cookieSecretRaw);
    if (bytes) secret = bytes;
    else r.fail('cookie_secret', `16, 24 or 32 bytes, raw or base64 (${COOKIE_SECRET_HINT})`);
  }
  const cookieDomains = r.list('cookie_domains').map((d) => d.toLowerCase());
  const cookiePath = r.path('cookie_path', true);
  const expire = parseDuration(r.str('cookie_expire'));
  if (!expire.ok) r.fail('cookie_expire', expire.expected);
  const refresh = parseDuration(r.str('cookie_refresh'));
  if (!refresh.ok) r.fail('cookie_refresh', refresh.expected);
  // oauth2-proxy's rule: a refresh period as long as the session would never come round.
  else if (expire.ok && expire.value > 0 && refresh.value >= expire.value) {
    r.fail('cookie_refresh', `a duration shorter than cookie_expire (${r.str('cookie_expire')}), or 0 to never refresh`);
  }
  const cookieSecure = r.bool('cookie_secure');
  const cookieHttpOnly = r.bool('cookie_httponly');
  const sameSite = r.enumOf('cookie_samesite') as SameSite;
  if (sameSite === 'none' && !cookieSecure) {
    r.fail('cookie_samesite', 'lax or strict when OAUTH2_PROXY_COOKIE_SECURE=false (browsers drop SameSite=None cookies that are not Secure)');
  }
  if (!cookieSecure) r.warnings.push('OAUTH2_PROXY_COOKIE_SECURE=false: session cookies are sent over plain http; use this only for local development');

  return {
    name: cookieName, secret, domains: cookieDomains, path: cookiePath,
    expireMs: expire.ok ? expire.value : 0,
    refreshMs: refresh.ok ? refresh.value : 0,
    secure: cookieSecure, httpOnly: cookieHttpOnly, sameSite,
  };
}
