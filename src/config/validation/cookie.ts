import type { OptionReader } from '../reader.js';
import { COOKIE_SECRET_HINT, cookieSecretBytes } from '../secret.js';
import type { CookieConfig, SameSite } from '../types.js';
import { parseDuration } from '../values.js';

/** The session cookie: name, secret, scope, lifetime and attributes. */
export function validateCookie(r: OptionReader): CookieConfig {
  const cookieName = r.str('cookie_name');
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) r.fail('cookie_name', 'a cookie name of letters, digits and _-.');
  const { secret, previousSecrets } = readCookieSecrets(r);
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

  const csrfExpire = parseDuration(r.str('cookie_csrf_expire'));
  if (!csrfExpire.ok || csrfExpire.value < 1000) r.fail('cookie_csrf_expire', 'a duration of at least 1s, such as 15m or 1h');
  const limitText = r.str('cookie_csrf_per_request_limit');
  const limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : (r.fail('cookie_csrf_per_request_limit', 'a whole number of cookies, such as 5 (0: no limit)'), 5);
  const csrfSameSite = r.enumOf('cookie_csrf_samesite') as SameSite;
  if (csrfSameSite === 'none' && !cookieSecure) {
    r.fail('cookie_csrf_samesite', 'lax or strict when OAUTH2_PROXY_COOKIE_SECURE=false (browsers drop SameSite=None cookies that are not Secure)');
  }
  if (csrfSameSite === 'strict') {
    r.warnings.push('OAUTH2_PROXY_COOKIE_CSRF_SAMESITE=strict: the login-state cookie reaches the callback only when the issuer is on the same site as the proxy (a navigation from another site drops it, and the login fails with LOGIN_STATE_MISSING)');
  }
  const perRequest = r.bool('cookie_csrf_per_request');

  return {
    csrf: {
      windowMs: csrfExpire.ok && csrfExpire.value >= 1000 ? csrfExpire.value : 15 * 60_000,
      perRequest,
      limit,
      ...(r.raw.cookie_csrf_samesite!.value === '' ? {} : { sameSite: csrfSameSite }),
    },
    name: cookieName, secret, previousSecrets, domains: cookieDomains, path: cookiePath,
    expireMs: expire.ok ? expire.value : 0,
    refreshMs: refresh.ok ? refresh.value : 0,
    secure: cookieSecure, httpOnly: cookieHttpOnly, sameSite,
  };
}

/**
 * cookie_secret (comma-separated) or cookie_secret_file (one per line): the first seals, every one
 * unseals. A whole value that is itself a valid secret is one secret, commas and all (a raw
 * 16–32-character secret may hold a comma; two valid secrets joined by one are longer than 32).
 */
function readCookieSecrets(r: OptionReader): { secret: Buffer; previousSecrets: Buffer[] } {
  const expected = `16, 24 or 32 bytes, raw or base64 (${COOKIE_SECRET_HINT})`;
  const raw = r.str('cookie_secret');
  const file = r.str('cookie_secret_file');
  let entries: string[] = [];
  let from: 'cookie_secret' | 'cookie_secret_file' = 'cookie_secret';
  if (file !== '') {
    from = 'cookie_secret_file';
    if (raw !== '') r.errors.push('set only one of OAUTH2_PROXY_COOKIE_SECRET and OAUTH2_PROXY_COOKIE_SECRET_FILE');
    try {
      entries = r.readFile(file).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
      if (entries.length === 0) r.fail('cookie_secret_file', `a file that holds the cookie secret, one per line (it has none): ${expected}`);
    } catch (e) {
      r.fail('cookie_secret_file', `a readable file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  } else if (raw === '') {
    r.missing('cookie_secret', `a 16, 24 or 32 byte secret, raw or base64 (${COOKIE_SECRET_HINT}), or OAUTH2_PROXY_COOKIE_SECRET_FILE`);
  } else {
    entries = cookieSecretBytes(raw) ? [raw] : raw.split(',').map((s) => s.trim());
  }
  const secrets: Buffer[] = [];
  entries.forEach((entry, i) => {
    const bytes = cookieSecretBytes(entry);
    const which = entries.length > 1 ? `secret ${i + 1} of ${entries.length}: ` : '';
    if (!bytes) r.fail(from, `${which}${expected}`);
    else if (secrets.some((s) => s.equals(bytes))) r.fail(from, `${which}each secret once (this one is listed twice)`);
    else secrets.push(bytes);
  });
  return { secret: secrets[0] ?? Buffer.alloc(0), previousSecrets: secrets.slice(1) };
}
