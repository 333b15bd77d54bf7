/**
 * The option table: the one place an option is declared. Flags, environment variables, `--help`,
 * `.env.example` and the README's option table are all generated from it, so they cannot drift.
 * Names, flags, variables and meaning follow oauth2-proxy so that existing deployments carry over.
 */

export type OptionType = 'string' | 'secret' | 'bool' | 'list' | 'duration' | 'enum';

export interface OptionSpec {
  /** oauth2-proxy's config-file name (snake_case); also the key in the parsed config. */
  readonly name: string;
  readonly flag: string;
  readonly env: string;
  readonly type: OptionType;
  /** As the user would write it (a string, like an env value); '' means unset. */
  readonly default: string;
  readonly help: string;
  readonly group: OptionGroup;
  readonly choices?: readonly string[];
  /** Shown as a placeholder in `--help` and `.env.example`. */
  readonly placeholder?: string;
}

export type OptionGroup = 'Server' | 'Upstream' | 'Provider' | 'Cookie' | 'Headers' | 'Logging';

/** Keeps each entry's literal name, so `OptionName` is the union of every name and a typo is a compile error. */
const opt = <const T extends OptionSpec>(o: T): T => o;

const TABLE = [
  // Server
  opt({ name: 'http_address', flag: '--http-address', env: 'OAUTH2_PROXY_HTTP_ADDRESS', type: 'string', default: '127.0.0.1:4180', group: 'Server',
    help: '[http://]host:port or unix://path to listen on', placeholder: '127.0.0.1:4180' }),
  opt({ name: 'proxy_prefix', flag: '--proxy-prefix', env: 'OAUTH2_PROXY_PROXY_PREFIX', type: 'string', default: '/oauth2', group: 'Server',
    help: 'path prefix of the proxy\'s own endpoints (start, callback, sign_in, sign_out, userinfo)' }),
  opt({ name: 'ping_path', flag: '--ping-path', env: 'OAUTH2_PROXY_PING_PATH', type: 'string', default: '/ping', group: 'Server',
    help: 'liveness endpoint: always 200 while the process serves' }),
  opt({ name: 'ready_path', flag: '--ready-path', env: 'OAUTH2_PROXY_READY_PATH', type: 'string', default: '/ready', group: 'Server',
    help: 'readiness endpoint: 200 when every dependency (the issuer) is usable, else 503; JSON names each check and the failed ones' }),
  opt({ name: 'reverse_proxy', flag: '--reverse-proxy', env: 'OAUTH2_PROXY_REVERSE_PROXY', type: 'bool', default: 'false', group: 'Server',
    help: 'trust X-Forwarded-Proto/-Host from a load balancer in front (to build the callback URL)' }),
  opt({ name: 'metrics_address', flag: '--metrics-address', env: 'OAUTH2_PROXY_METRICS_ADDRESS', type: 'string', default: '', group: 'Server',
    help: 'serve Prometheus metrics at /metrics on this [http://]host:port or unix://path, a listener of its own (empty: no metrics, and no cost per request)', placeholder: '127.0.0.1:9100' }),

  // Upstream
  opt({ name: 'upstreams', flag: '--upstream', env: 'OAUTH2_PROXY_UPSTREAMS', type: 'list', default: '', group: 'Upstream',
    help: 'http(s) URL(s) to proxy to; the URL path is the route it serves (longest match wins)', placeholder: 'http://127.0.0.1:8080/' }),
  opt({ name: 'pass_host_header', flag: '--pass-host-header', env: 'OAUTH2_PROXY_PASS_HOST_HEADER', type: 'bool', default: 'true', group: 'Upstream',
    help: 'send the client\'s Host header upstream (false: the upstream\'s own host)' }),
  opt({ name: 'proxy_websockets', flag: '--proxy-websockets', env: 'OAUTH2_PROXY_PROXY_WEBSOCKETS', type: 'bool', default: 'true', group: 'Upstream',
    help: 'carry websocket (upgrade) requests to the upstream, authenticated like any request' }),

  // Provider
  opt({ name: 'provider', flag: '--provider', env: 'OAUTH2_PROXY_PROVIDER', type: 'enum', default: 'oidc', choices: ['oidc'], group: 'Provider',
    help: 'identity provider type; only oidc (any OpenID Connect issuer)' }),
  opt({ name: 'provider_display_name', flag: '--provider-display-name', env: 'OAUTH2_PROXY_PROVIDER_DISPLAY_NAME', type: 'string', default: 'OpenID Connect', group: 'Provider',
    help: 'name shown on the sign-in button' }),
  opt({ name: 'client_id', flag: '--client-id', env: 'OAUTH2_PROXY_CLIENT_ID', type: 'string', default: '', group: 'Provider',
    help: 'OAuth client ID registered at the issuer' }),
  opt({ name: 'client_secret', flag: '--client-secret', env: 'OAUTH2_PROXY_CLIENT_SECRET', type: 'secret', default: '', group: 'Provider',
    help: 'OAuth client secret' }),
  opt({ name: 'client_secret_file', flag: '--client-secret-file', env: 'OAUTH2_PROXY_CLIENT_SECRET_FILE', type: 'string', default: '', group: 'Provider',
    help: 'file holding the client secret (instead of client_secret)', placeholder: '/run/secrets/client_secret' }),
  opt({ name: 'redirect_url', flag: '--redirect-url', env: 'OAUTH2_PROXY_REDIRECT_URL', type: 'string', default: '', group: 'Provider',
    help: 'the OAuth redirect URL, e.g. https://app.example.com/oauth2/callback (default: built from the request)', placeholder: 'https://app.example.com/oauth2/callback' }),
  opt({ name: 'oidc_issuer_url', flag: '--oidc-issuer-url', env: 'OAUTH2_PROXY_OIDC_ISSUER_URL', type: 'string', default: '', group: 'Provider',
    help: 'OpenID Connect issuer URL, e.g. https://hydra.example.com/ (unset: login_url, redeem_url and validate_url are used, identity from userinfo; with none of them either, outside production: demo mode)', placeholder: 'https://issuer.example.com/' }),
  opt({ name: 'skip_oidc_discovery', flag: '--skip-oidc-discovery', env: 'OAUTH2_PROXY_SKIP_OIDC_DISCOVERY', type: 'bool', default: 'false', group: 'Provider',
    help: 'do not fetch the discovery document; use login_url, redeem_url, validate_url and oidc_jwks_url' }),
  opt({ name: 'login_url', flag: '--login-url', env: 'OAUTH2_PROXY_LOGIN_URL', type: 'string', default: '', group: 'Provider',
    help: 'authorization endpoint (its own query string, e.g. ?audience=x, is kept)' }),
  opt({ name: 'redeem_url', flag: '--redeem-url', env: 'OAUTH2_PROXY_REDEEM_URL', type: 'string', default: '', group: 'Provider',
    help: 'token endpoint (its own query string is kept)' }),
  opt({ name: 'validate_url', flag: '--validate-url', env: 'OAUTH2_PROXY_VALIDATE_URL', type: 'string', default: '', group: 'Provider',
    help: 'userinfo endpoint, called with the access token (the source of identity when no ID token can be verified)' }),
  opt({ name: 'profile_url', flag: '--profile-url', env: 'OAUTH2_PROXY_PROFILE_URL', type: 'string', default: '', group: 'Provider',
    help: 'userinfo endpoint (used when validate_url is unset)' }),
  opt({ name: 'oidc_jwks_url', flag: '--oidc-jwks-url', env: 'OAUTH2_PROXY_OIDC_JWKS_URL', type: 'string', default: '', group: 'Provider',
    help: 'JWKS URL to verify ID token signatures when discovery is skipped' }),
  opt({ name: 'scope', flag: '--scope', env: 'OAUTH2_PROXY_SCOPE', type: 'string', default: 'openid email profile', group: 'Provider',
    help: 'OAuth scope to request (must include openid)' }),
  opt({ name: 'code_challenge_method', flag: '--code-challenge-method', env: 'OAUTH2_PROXY_CODE_CHALLENGE_METHOD', type: 'enum', default: 'S256', choices: ['S256'], group: 'Provider',
    help: 'PKCE method; PKCE is always used and only S256 is accepted' }),
  opt({ name: 'email_domains', flag: '--email-domain', env: 'OAUTH2_PROXY_EMAIL_DOMAINS', type: 'list', default: '', group: 'Provider',
    help: 'allowed email domains (example.com, *.example.com), or * for any', placeholder: '*' }),
  opt({ name: 'oidc_email_claim', flag: '--oidc-email-claim', env: 'OAUTH2_PROXY_OIDC_EMAIL_CLAIM', type: 'string', default: 'email', group: 'Provider',
    help: 'claim holding the user\'s email' }),
  opt({ name: 'oidc_groups_claim', flag: '--oidc-groups-claim', env: 'OAUTH2_PROXY_OIDC_GROUPS_CLAIM', type: 'string', default: 'groups', group: 'Provider',
    help: 'claim holding the user\'s groups' }),
  opt({ name: 'user_id_claim', flag: '--user-id-claim', env: 'OAUTH2_PROXY_USER_ID_CLAIM', type: 'string', default: 'sub', group: 'Provider',
    help: 'claim sent as X-Forwarded-User (the subject by default)' }),
  opt({ name: 'insecure_oidc_allow_unverified_email', flag: '--insecure-oidc-allow-unverified-email', env: 'OAUTH2_PROXY_INSECURE_OIDC_ALLOW_UNVERIFIED_EMAIL', type: 'bool', default: 'false', group: 'Provider',
    help: 'accept an email the issuer marks email_verified=false' }),
  opt({ name: 'insecure_oidc_allow_http_issuer', flag: '--insecure-oidc-allow-http-issuer', env: 'OAUTH2_PROXY_INSECURE_OIDC_ALLOW_HTTP_ISSUER', type: 'bool', default: 'false', group: 'Provider',
    help: 'allow plain-http issuer URLs on non-loopback hosts (loopback is always allowed)' }),
  opt({ name: 'skip_provider_button', flag: '--skip-provider-button', env: 'OAUTH2_PROXY_SKIP_PROVIDER_BUTTON', type: 'bool', default: 'false', group: 'Provider',
    help: 'go straight to the issuer instead of showing the sign-in page' }),

  // Cookie
  opt({ name: 'cookie_name', flag: '--cookie-name', env: 'OAUTH2_PROXY_COOKIE_NAME', type: 'string', default: '_oauth2_proxy', group: 'Cookie',
    help: 'name of the session cookie' }),
  opt({ name: 'cookie_secret', flag: '--cookie-secret', env: 'OAUTH2_PROXY_COOKIE_SECRET', type: 'secret', default: '', group: 'Cookie',
    help: 'secret that seals the session: 16, 24 or 32 bytes, raw or base64', placeholder: '(openssl rand -base64 32 | tr -- \'+/\' \'-_\')' }),
  opt({ name: 'cookie_domains', flag: '--cookie-domain', env: 'OAUTH2_PROXY_COOKIE_DOMAINS', type: 'list', default: '', group: 'Cookie',
    help: 'cookie Domain(s); the longest one matching the request host is used' }),
  opt({ name: 'cookie_path', flag: '--cookie-path', env: 'OAUTH2_PROXY_COOKIE_PATH', type: 'string', default: '/', group: 'Cookie',
    help: 'cookie Path' }),
  opt({ name: 'cookie_expire', flag: '--cookie-expire', env: 'OAUTH2_PROXY_COOKIE_EXPIRE', type: 'duration', default: '168h', group: 'Cookie',
    help: 'session lifetime (Go duration: 168h, 30m, 1h30m)' }),
  opt({ name: 'cookie_secure', flag: '--cookie-secure', env: 'OAUTH2_PROXY_COOKIE_SECURE', type: 'bool', default: 'true', group: 'Cookie',
    help: 'mark cookies Secure (HTTPS only); set false only for plain-http development' }),
  opt({ name: 'cookie_httponly', flag: '--cookie-httponly', env: 'OAUTH2_PROXY_COOKIE_HTTPONLY', type: 'bool', default: 'true', group: 'Cookie',
    help: 'mark cookies HttpOnly' }),
  opt({ name: 'cookie_samesite', flag: '--cookie-samesite', env: 'OAUTH2_PROXY_COOKIE_SAMESITE', type: 'enum', default: 'lax', choices: ['lax', 'strict', 'none', ''], group: 'Cookie',
    help: 'cookie SameSite: lax, strict, none, or empty to omit' }),

  // Headers
  opt({ name: 'pass_user_headers', flag: '--pass-user-headers', env: 'OAUTH2_PROXY_PASS_USER_HEADERS', type: 'bool', default: 'true', group: 'Headers',
    help: 'send X-Forwarded-User, -Email, -Groups, -Preferred-Username upstream' }),
  opt({ name: 'pass_access_token', flag: '--pass-access-token', env: 'OAUTH2_PROXY_PASS_ACCESS_TOKEN', type: 'bool', default: 'false', group: 'Headers',
    help: 'send the access token upstream as X-Forwarded-Access-Token (stores it in the session)' }),
  opt({ name: 'set_xauthrequest', flag: '--set-xauthrequest', env: 'OAUTH2_PROXY_SET_XAUTHREQUEST', type: 'bool', default: 'false', group: 'Headers',
    help: 'on /oauth2/auth answers, set X-Auth-Request-User, -Email, -Groups, -Preferred-Username (and -Access-Token with pass_access_token) for nginx auth_request_set' }),

  // Logging
  opt({ name: 'request_logging', flag: '--request-logging', env: 'OAUTH2_PROXY_REQUEST_LOGGING', type: 'bool', default: 'true', group: 'Logging',
    help: 'log one JSON line per request' }),
  opt({ name: 'log_level', flag: '--log-level', env: 'OAUTH2_PROXY_LOG_LEVEL', type: 'enum', default: 'info', choices: ['debug', 'info', 'warn', 'error', 'silent'], group: 'Logging',
    help: 'minimum level of log lines' }),
  opt({ name: 'silence_ping_logging', flag: '--silence-ping-logging', env: 'OAUTH2_PROXY_SILENCE_PING_LOGGING', type: 'bool', default: 'false', group: 'Logging',
    help: 'leave requests to ping_path and ready_path out of the request log' }),
  opt({ name: 'exclude_logging_paths', flag: '--exclude-logging-path', env: 'OAUTH2_PROXY_EXCLUDE_LOGGING_PATHS', type: 'list', default: '', group: 'Logging',
    help: 'paths left out of the request log, compared exactly with the request path (e.g. /healthz,/favicon.ico)' }),
  opt({ name: 'request_id_header', flag: '--request-id-header', env: 'OAUTH2_PROXY_REQUEST_ID_HEADER', type: 'string', default: 'X-Request-Id', group: 'Logging',
    help: 'header carrying the request id: a client\'s value is kept only when it is 1-128 characters of A-Z a-z 0-9 - _ . : + / = @, else a UUID is made; logged, sent upstream and returned on the response (empty: no request ids)' }),
] as const satisfies readonly OptionSpec[];

/** Every option name: a misspelt name in the code is a compile error. */
export type OptionName = (typeof TABLE)[number]['name'];

export const OPTIONS: readonly OptionSpec[] = TABLE;

/** Options whose values must never be printed. */
export const isSecret = (spec: OptionSpec): boolean => spec.type === 'secret';

export const OPTION_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.name, o]));

/** An option's default as written in the table: the one place defaults live. */
export function defaultOf(name: OptionName): string {
  return OPTION_BY_NAME.get(name)!.default;
}
