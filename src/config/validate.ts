import { readFileSync } from 'node:fs';
import { OPTION_BY_NAME, type OptionSpec } from './options.js';
import { describeOrigin, displayValue, type RawOptions } from './load.js';
import { isLoopbackHost, parseBool, parseDuration, parseList } from './values.js';
import { COOKIE_SECRET_HINT, cookieSecretBytes } from './secret.js';

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };
export type SameSite = 'lax' | 'strict' | 'none' | '';

export interface UpstreamSpec {
  /** Route prefix (the URL's path); requests keep their own path when forwarded. */
  readonly path: string;
  readonly url: URL;
}

export interface CookieConfig {
  readonly name: string;
  readonly secret: Buffer;
  readonly domains: readonly string[];
  readonly path: string;
  readonly expireMs: number;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: SameSite;
}

export interface ProviderConfig {
  readonly displayName: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUrl?: URL;
  /** Unset when the endpoints are given by hand without an issuer: identity then comes from userinfo. */
  readonly issuerUrl?: URL;
  readonly skipDiscovery: boolean;
  readonly loginUrl?: URL;
  readonly redeemUrl?: URL;
  readonly userinfoUrl?: URL;
  readonly jwksUrl?: URL;
  readonly scope: string;
  readonly emailClaim: string;
  readonly groupsClaim: string;
  readonly userIdClaim: string;
  readonly allowUnverifiedEmail: boolean;
}

export interface Config {
  readonly listen: ListenAddress;
  readonly proxyPrefix: string;
  readonly pingPath: string;
  readonly readyPath: string;
  readonly reverseProxy: boolean;
  readonly upstreams: readonly UpstreamSpec[];
  readonly passHostHeader: boolean;
  readonly provider: ProviderConfig;
  readonly emailDomains: readonly string[];
  readonly skipProviderButton: boolean;
  readonly cookie: CookieConfig;
  readonly passUserHeaders: boolean;
  readonly passAccessToken: boolean;
  readonly requestLogging: boolean;
  readonly logLevel: string;
}

export type Validated = { ok: true; config: Config; warnings: string[] } | { ok: false; errors: string[]; warnings: string[] };

/** Checks every option in one pass and returns every problem together, each naming what to change. */
export function validateConfig(raw: RawOptions, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): Validated {
  const errors: string[] = [];
  const warnings: string[] = [];

  const spec = (name: string): OptionSpec => OPTION_BY_NAME.get(name)!;
  const fail = (name: string, expected: string): void => {
    const r = raw[name]!;
    errors.push(`${describeOrigin(spec(name), r.origin)}: got ${displayValue(spec(name), r.value)}, expected ${expected}`);
  };
  const missing = (name: string, why: string): void => {
    errors.push(`${spec(name).env} (or ${spec(name).flag}) is required: ${why}`);
  };
  const str = (name: string): string => {
    const v = raw[name]!.value;
    return (typeof v === 'string' ? v : v.join(',')).trim();
  };
  const list = (name: string): string[] => parseList(raw[name]!.value);
  const bool = (name: string): boolean => {
    const p = parseBool(str(name));
    if (p.ok) return p.value;
    fail(name, p.expected);
    return spec(name).default === 'true';
  };
  const enumOf = (name: string): string => {
    const s = spec(name);
    const v = s.name === 'cookie_samesite' ? str(name).toLowerCase() : str(name);
    if (s.choices!.includes(v)) return v;
    fail(name, `one of ${s.choices!.map((c) => (c === '' ? '""' : c)).join(', ')}`);
    return s.default;
  };
  const url = (name: string, opts: { required?: string } = {}): URL | undefined => {
    const v = str(name);
    if (v === '') {
      if (opts.required) missing(name, opts.required);
      return undefined;
    }
    try {
      const u = new URL(v);
      if (u.protocol === 'http:' || u.protocol === 'https:') return u;
    } catch { /* reported below */ }
    fail(name, 'an absolute http:// or https:// URL');
    return undefined;
  };
  const path = (name: string, trailingSlashOk: boolean): string => {
    const v = str(name);
    if (!v.startsWith('/') || /[\s?#]/.test(v) || (!trailingSlashOk && v.length > 1 && v.endsWith('/'))) {
      fail(name, `a path starting with /${trailingSlashOk ? '' : ' and not ending with /'}, e.g. ${spec(name).default}`);
      return spec(name).default;
    }
    return v;
  };

  // Server
  const listen = parseListenAddress(str('http_address'));
  if (!listen) fail('http_address', 'host:port, http://host:port, :port or unix:///path/to.sock');
  const proxyPrefix = path('proxy_prefix', false);
  const pingPath = path('ping_path', false);
  const readyPath = path('ready_path', false);

  // Upstreams
  const upstreams: UpstreamSpec[] = [];
  for (const u of list('upstreams')) {
    let parsed: URL | undefined;
    try { parsed = new URL(u); } catch { /* reported below */ }
    if (!parsed || !(parsed.protocol === 'http:' || parsed.protocol === 'https:') || parsed.username || parsed.password) {
      errors.push(`${describeOrigin(spec('upstreams'), raw.upstreams!.origin)}: got ${JSON.stringify(u)}, expected an http:// or https:// URL without credentials, such as http://127.0.0.1:8080/`);
      continue;
    }
    if (parsed.search || parsed.hash) warnings.push(`upstream ${u}: its query string and fragment are ignored`);
    upstreams.push({ path: parsed.pathname, url: parsed });
  }

  // Provider
  enumOf('provider');
  enumOf('code_challenge_method');
  const clientId = str('client_id');
  if (clientId === '') missing('client_id', 'the client ID registered at your issuer');
  let clientSecret = str('client_secret');
  const secretFile = str('client_secret_file');
  if (secretFile !== '') {
    if (clientSecret !== '') errors.push('set only one of OAUTH2_PROXY_CLIENT_SECRET and OAUTH2_PROXY_CLIENT_SECRET_FILE');
    try {
      clientSecret = readFile(secretFile).trim();
      if (clientSecret === '') fail('client_secret_file', 'a file that holds the client secret (it is empty)');
    } catch (e) {
      fail('client_secret_file', `a readable file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  } else if (clientSecret === '') {
    missing('client_secret', 'the client secret registered at your issuer (or OAUTH2_PROXY_CLIENT_SECRET_FILE)');
  }

  const allowHttpAnywhere = bool('insecure_oidc_allow_http_issuer');
  const httpAllowed = (u: URL | undefined, name: string): void => {
    if (u && u.protocol === 'http:' && !isLoopbackHost(u.hostname) && !allowHttpAnywhere) {
      fail(name, 'an https:// URL (plain http is allowed only on loopback, or with OAUTH2_PROXY_INSECURE_OIDC_ALLOW_HTTP_ISSUER=true)');
    }
  };
  // Endpoints by hand and no issuer URL (Crossid's oauth2-proxy article, oauth2-proxy's non-OIDC
  // providers): nothing to discover and nothing to check an ID token against, so the identity comes
  // from the userinfo endpoint.
  const handGiven = str('oidc_issuer_url') === '' && ['login_url', 'redeem_url', 'validate_url', 'profile_url'].some((n) => str(n) !== '');
  const issuerUrl = url('oidc_issuer_url', handGiven ? {} : {
    required: 'the OpenID Connect issuer, e.g. https://hydra.example.com/ (or, without one, the endpoints by hand: OAUTH2_PROXY_LOGIN_URL, OAUTH2_PROXY_REDEEM_URL and OAUTH2_PROXY_VALIDATE_URL)',
  });
  httpAllowed(issuerUrl, 'oidc_issuer_url');
  const skipDiscoveryFlag = bool('skip_oidc_discovery');
  const skipDiscovery = skipDiscoveryFlag || handGiven;
  const because = skipDiscoveryFlag ? 'because OAUTH2_PROXY_SKIP_OIDC_DISCOVERY=true' : 'because OAUTH2_PROXY_OIDC_ISSUER_URL is unset and endpoints are given by hand';
  const loginUrl = url('login_url', skipDiscovery ? { required: `the authorization endpoint, ${because}` } : {});
  const redeemUrl = url('redeem_url', skipDiscovery ? { required: `the token endpoint, ${because}` } : {});
  const validateUrl = url('validate_url');
  const profileUrl = url('profile_url');
  const jwksUrl = url('oidc_jwks_url');
  for (const [n, u] of [['login_url', loginUrl], ['redeem_url', redeemUrl], ['validate_url', validateUrl], ['profile_url', profileUrl], ['oidc_jwks_url', jwksUrl]] as const) httpAllowed(u, n);
  if (handGiven) {
    if (str('validate_url') === '' && str('profile_url') === '') {
      missing('validate_url', 'the userinfo endpoint, because without OAUTH2_PROXY_OIDC_ISSUER_URL the identity comes from userinfo (called with the access token)');
    }
    if (jwksUrl) fail('oidc_jwks_url', 'no JWKS URL without OAUTH2_PROXY_OIDC_ISSUER_URL (an ID token is checked against both): set the issuer URL too, or remove this one to take the identity from userinfo');
  } else if (skipDiscovery && !jwksUrl && !validateUrl && !profileUrl) {
    errors.push('with OAUTH2_PROXY_SKIP_OIDC_DISCOVERY=true, set OAUTH2_PROXY_OIDC_JWKS_URL (to verify ID tokens) or OAUTH2_PROXY_VALIDATE_URL (the userinfo endpoint), or both');
  }
  if (!skipDiscovery && (loginUrl || redeemUrl)) {
    warnings.push('OAUTH2_PROXY_LOGIN_URL / OAUTH2_PROXY_REDEEM_URL override the discovered endpoints');
  }
  const redirectUrl = url('redirect_url');
  if (redirectUrl && redirectUrl.pathname !== `${proxyPrefix}/callback`) {
    fail('redirect_url', `a URL whose path is ${proxyPrefix}/callback (the proxy's callback endpoint), e.g. https://app.example.com${proxyPrefix}/callback`);
  }
  const scope = str('scope');
  if (!scope.split(/\s+/).includes('openid')) fail('scope', 'a space-separated scope list that includes openid, e.g. "openid email profile"');

  const emailDomains = list('email_domains').map((d) => d.toLowerCase());
  if (emailDomains.length === 0) {
    missing('email_domains', 'the email domains allowed to sign in (example.com, *.example.com), or * to allow any');
  }

  // Cookie
  const cookieName = str('cookie_name');
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) fail('cookie_name', 'a cookie name of letters, digits and _-.');
  const cookieSecretRaw = str('cookie_secret');
  let secret: Buffer = Buffer.alloc(0);
  if (cookieSecretRaw === '') {
    missing('cookie_secret', `a 16, 24 or 32 byte secret, raw or base64 (${COOKIE_SECRET_HINT})`);
  } else {
    const bytes = cookieSecretBytes(cookieSecretRaw);
    if (bytes) secret = bytes;
    else fail('cookie_secret', `16, 24 or 32 bytes, raw or base64 (${COOKIE_SECRET_HINT})`);
  }
  const cookieDomains = list('cookie_domains').map((d) => d.toLowerCase());
  const cookiePath = path('cookie_path', true);
  const expire = parseDuration(str('cookie_expire'));
  if (!expire.ok) fail('cookie_expire', expire.expected);
  const cookieSecure = bool('cookie_secure');
  const cookieHttpOnly = bool('cookie_httponly');
  const sameSite = enumOf('cookie_samesite') as SameSite;
  if (sameSite === 'none' && !cookieSecure) {
    fail('cookie_samesite', 'lax or strict when OAUTH2_PROXY_COOKIE_SECURE=false (browsers drop SameSite=None cookies that are not Secure)');
  }
  if (!cookieSecure) warnings.push('OAUTH2_PROXY_COOKIE_SECURE=false: session cookies are sent over plain http; use this only for local development');

  const result: Config = {
    listen: listen ?? { kind: 'tcp', host: '127.0.0.1', port: 4180 },
    proxyPrefix, pingPath, readyPath,
    reverseProxy: bool('reverse_proxy'),
    upstreams,
    passHostHeader: bool('pass_host_header'),
    provider: {
      displayName: str('provider_display_name') || 'OpenID Connect',
      clientId, clientSecret,
      redirectUrl,
      issuerUrl,
      skipDiscovery, loginUrl, redeemUrl,
      userinfoUrl: validateUrl ?? profileUrl,
      jwksUrl,
      scope,
      emailClaim: str('oidc_email_claim') || 'email',
      groupsClaim: str('oidc_groups_claim') || 'groups',
      userIdClaim: str('user_id_claim') || 'sub',
      allowUnverifiedEmail: bool('insecure_oidc_allow_unverified_email'),
    },
    emailDomains,
    skipProviderButton: bool('skip_provider_button'),
    cookie: {
      name: cookieName, secret, domains: cookieDomains, path: cookiePath,
      expireMs: expire.ok ? expire.value : 0,
      secure: cookieSecure, httpOnly: cookieHttpOnly, sameSite,
    },
    passUserHeaders: bool('pass_user_headers'),
    passAccessToken: bool('pass_access_token'),
    requestLogging: bool('request_logging'),
    logLevel: enumOf('log_level'),
  };
  if (upstreams.length === 0 && errors.length === 0) {
    warnings.push('no OAUTH2_PROXY_UPSTREAMS set: signed-in requests get 404 (only the /oauth2 endpoints answer)');
  }
  return errors.length ? { ok: false, errors, warnings } : { ok: true, config: result, warnings };
}

export function parseListenAddress(v: string): ListenAddress | undefined {
  if (v.startsWith('unix://')) {
    const p = v.slice('unix://'.length);
    return p.startsWith('/') ? { kind: 'unix', path: p } : undefined;
  }
  const hostPort = v.replace(/^https?:\/\//, '');
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:/\s]*):(\d{1,5})$/.exec(hostPort);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { kind: 'tcp', host: (m[1] || '0.0.0.0').replace(/^\[|\]$/g, ''), port };
}
