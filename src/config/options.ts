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

export type OptionGroup = 'Server' | 'Upstream' | 'Provider' | 'Access' | 'Cookie' | 'Session store' | 'Headers' | 'Logging';

/** Keeps each entry's literal name, so `OptionName` is the union of every name and a typo is a compile error. */
const opt = <const T extends OptionSpec>(o: T): T => o;

const TABLE = [
  // Server
  opt({ name: 'http_address', flag: '--http-address', env: 'OAUTH2_PROXY_HTTP_ADDRESS', type: 'string', default: '127.0.0.1:4180', group: 'Server',
    help: '[http://]host:port or unix:///path.sock[,mode=0660] to listen on for plain HTTP (a unix socket is created mode 0660, owner and group, unless mode= says otherwise); with TLS files set and this left at its default, only HTTPS is served', placeholder: '127.0.0.1:4180' }),
  opt({ name: 'https_address', flag: '--https-address', env: 'OAUTH2_PROXY_HTTPS_ADDRESS', type: 'string', default: ':443', group: 'Server',
    help: 'host:port to listen on for HTTPS, once tls_cert_file and tls_key_file are set' }),
  opt({ name: 'tls_cert_file', flag: '--tls-cert-file', env: 'OAUTH2_PROXY_TLS_CERT_FILE', type: 'string', default: '', group: 'Server',
    help: 'PEM certificate (with its chain) for the HTTPS listener', placeholder: '/etc/portcullis/tls.crt' }),
  opt({ name: 'tls_key_file', flag: '--tls-key-file', env: 'OAUTH2_PROXY_TLS_KEY_FILE', type: 'string', default: '', group: 'Server',
    help: 'PEM private key of tls_cert_file', placeholder: '/etc/portcullis/tls.key' }),
  opt({ name: 'tls_min_version', flag: '--tls-min-version', env: 'OAUTH2_PROXY_TLS_MIN_VERSION', type: 'enum', default: 'TLS1.2', choices: ['TLS1.2', 'TLS1.3'], group: 'Server',
    help: 'lowest TLS version the HTTPS listener accepts: TLS1.2 or TLS1.3' }),
  opt({ name: 'force_https', flag: '--force-https', env: 'OAUTH2_PROXY_FORCE_HTTPS', type: 'bool', default: 'false', group: 'Server',
    help: 'answer requests that did not come over https with a 308 redirect to https (the ping and ready paths excepted); behind a trusted load balancer its X-Forwarded-Proto says which came over https' }),
  opt({ name: 'proxy_prefix', flag: '--proxy-prefix', env: 'OAUTH2_PROXY_PROXY_PREFIX', type: 'string', default: '/oauth2', group: 'Server',
    help: 'path prefix of the proxy\'s own endpoints (start, callback, sign_in, sign_out, userinfo)' }),
  opt({ name: 'ping_path', flag: '--ping-path', env: 'OAUTH2_PROXY_PING_PATH', type: 'string', default: '/ping', group: 'Server',
    help: 'liveness endpoint: always 200 while the process serves' }),
  opt({ name: 'ready_path', flag: '--ready-path', env: 'OAUTH2_PROXY_READY_PATH', type: 'string', default: '/ready', group: 'Server',
    help: 'readiness endpoint: 200 when every dependency (the issuer) is usable, else 503; JSON names each check and the failed ones' }),
  opt({ name: 'reverse_proxy', flag: '--reverse-proxy', env: 'OAUTH2_PROXY_REVERSE_PROXY', type: 'bool', default: 'false', group: 'Server',
    help: 'a load balancer is in front: believe X-Forwarded-Proto/-Host/-For and real_client_ip_header, from the peers in trusted_proxy_ips only' }),
  opt({ name: 'trusted_proxy_ips', flag: '--trusted-proxy-ip', env: 'OAUTH2_PROXY_TRUSTED_PROXY_IPS', type: 'list', default: '127.0.0.0/8,::1', group: 'Server',
    help: 'IPs or CIDR ranges of the load balancers whose forwarding headers reverse_proxy believes (peers on a unix socket always are); default loopback only, where oauth2-proxy trusts every address when this is unset', placeholder: '10.0.0.0/8,fd00::/8' }),
  opt({ name: 'real_client_ip_header', flag: '--real-client-ip-header', env: 'OAUTH2_PROXY_REAL_CLIENT_IP_HEADER', type: 'string', default: 'X-Real-IP', group: 'Server',
    help: 'header a trusted load balancer puts the client address in, for the logs: X-Real-IP, X-Forwarded-For, X-ProxyUser-IP, X-Envoy-External-Address or CF-Connecting-IP' }),
  opt({ name: 'metrics_address', flag: '--metrics-address', env: 'OAUTH2_PROXY_METRICS_ADDRESS', type: 'string', default: '', group: 'Server',
    help: 'serve Prometheus metrics at /metrics on this [http://]host:port or unix://path, a listener of its own (empty: no metrics, and no cost per request)', placeholder: '127.0.0.1:9100' }),
  opt({ name: 'workers', flag: '--workers', env: 'OAUTH2_PROXY_WORKERS', type: 'string', default: '1', group: 'Server',
    help: 'Portcullis addition (not in oauth2-proxy): processes serving the same listeners (node:cluster), each on one core; 0 or auto: one per CPU; 1: a single process, no cluster', placeholder: 'auto' }),

  // Upstream
  opt({ name: 'upstreams', flag: '--upstream', env: 'OAUTH2_PROXY_UPSTREAMS', type: 'list', default: '', group: 'Upstream',
    help: 'where requests go, longest route first: http(s)://host:port/route/, unix:///path/to.sock, file:///dir/#/route/ (static files) or static://CODE', placeholder: 'http://127.0.0.1:8080/' }),
  opt({ name: 'pass_host_header', flag: '--pass-host-header', env: 'OAUTH2_PROXY_PASS_HOST_HEADER', type: 'bool', default: 'true', group: 'Upstream',
    help: 'send the client\'s Host header upstream (false: the upstream\'s own host)' }),
  opt({ name: 'upstream_timeout', flag: '--upstream-timeout', env: 'OAUTH2_PROXY_UPSTREAM_TIMEOUT', type: 'duration', default: '30s', group: 'Upstream',
    help: 'how long an upstream may take to start answering before the client gets 504 (0: no limit)' }),
  opt({ name: 'flush_interval', flag: '--flush-interval', env: 'OAUTH2_PROXY_FLUSH_INTERVAL', type: 'duration', default: '1s', group: 'Upstream',
    help: 'oauth2-proxy\'s response flush period, accepted and checked: Portcullis never buffers a response (each chunk, server-sent events included, is passed on as it arrives)' }),
  opt({ name: 'proxy_websockets', flag: '--proxy-websockets', env: 'OAUTH2_PROXY_PROXY_WEBSOCKETS', type: 'bool', default: 'true', group: 'Upstream',
    help: 'carry websocket (upgrade) requests to the upstream, authenticated like any request' }),
  opt({ name: 'ssl_upstream_insecure_skip_verify', flag: '--ssl-upstream-insecure-skip-verify', env: 'OAUTH2_PROXY_SSL_UPSTREAM_INSECURE_SKIP_VERIFY', type: 'bool', default: 'false', group: 'Upstream',
    help: 'do not verify the certificates of https:// upstreams (trust a private CA with NODE_EXTRA_CA_CERTS instead)' }),

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
    help: 'the OAuth redirect URL, e.g. https://app.example.com/oauth2/callback; unset or the path alone (/oauth2/callback): built from each request\'s scheme and Host, or a trusted load balancer\'s X-Forwarded-Proto/-Host', placeholder: 'https://app.example.com/oauth2/callback' }),
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
    help: 'allowed email domains: example.com, .example.com or *.example.com (its subdomains), or * for any; may be left empty when authenticated_emails_file is set', placeholder: '*' }),
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
  opt({ name: 'provider_ca_files', flag: '--provider-ca-file', env: 'OAUTH2_PROXY_PROVIDER_CA_FILES', type: 'list', default: '', group: 'Provider',
    help: 'PEM files of the certificate authorities the issuer\'s TLS certificate is checked against, instead of the system\'s', placeholder: '/etc/ssl/private-ca.pem' }),
  opt({ name: 'use_system_trust_store', flag: '--use-system-trust-store', env: 'OAUTH2_PROXY_USE_SYSTEM_TRUST_STORE', type: 'bool', default: 'false', group: 'Provider',
    help: 'with provider_ca_files, trust the system\'s certificate authorities too' }),
  opt({ name: 'skip_provider_button', flag: '--skip-provider-button', env: 'OAUTH2_PROXY_SKIP_PROVIDER_BUTTON', type: 'bool', default: 'false', group: 'Provider',
    help: 'go straight to the issuer instead of showing the sign-in page' }),

  // Access: who may enter, which routes need no login, API clients, where the user may be sent
  opt({ name: 'authenticated_emails_file', flag: '--authenticated-emails-file', env: 'OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE', type: 'string', default: '', group: 'Access',
    help: 'file of email addresses (one per line, # comments) let in whatever email_domains says; re-read within a second of a change; a missing file stops start-up', placeholder: '/etc/portcullis/emails.txt' }),
  opt({ name: 'allowed_groups', flag: '--allowed-group', env: 'OAUTH2_PROXY_ALLOWED_GROUPS', type: 'list', default: '', group: 'Access',
    help: 'only members of at least one of these groups (from oidc_groups_claim, in the ID token or userinfo) get in; comma-separated (spaces belong to the name)', placeholder: 'admins,devs' }),
  opt({ name: 'skip_auth_routes', flag: '--skip-auth-route', env: 'OAUTH2_PROXY_SKIP_AUTH_ROUTES', type: 'list', default: '', group: 'Access',
    help: 'requests that need no login: METHOD=path-regex, METHOD!=path-regex, path-regex or !=path-regex, matched on the decoded path without the query', placeholder: 'GET=^/public/,^/healthz$' }),
  opt({ name: 'skip_auth_regex', flag: '--skip-auth-regex', env: 'OAUTH2_PROXY_SKIP_AUTH_REGEX', type: 'list', default: '', group: 'Access',
    help: 'legacy form of skip_auth_routes: path regexes that need no login, for any method' }),
  opt({ name: 'skip_auth_preflight', flag: '--skip-auth-preflight', env: 'OAUTH2_PROXY_SKIP_AUTH_PREFLIGHT', type: 'bool', default: 'false', group: 'Access',
    help: 'let CORS preflight (OPTIONS) requests through without login' }),
  opt({ name: 'skip_auth_strip_headers', flag: '--skip-auth-strip-headers', env: 'OAUTH2_PROXY_SKIP_AUTH_STRIP_HEADERS', type: 'bool', default: 'true', group: 'Access',
    help: 'remove client copies of the identity headers the proxy sets, on routes without login too (Portcullis always does: false only draws a warning)' }),
  opt({ name: 'api_routes', flag: '--api-route', env: 'OAUTH2_PROXY_API_ROUTES', type: 'list', default: '', group: 'Access',
    help: 'path regexes answered 401 without a session, never redirected to sign in', placeholder: '^/api/' }),
  opt({ name: 'skip_jwt_bearer_tokens', flag: '--skip-jwt-bearer-tokens', env: 'OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS', type: 'bool', default: 'false', group: 'Access',
    help: 'let in requests with Authorization: Bearer <JWT> signed by the issuer (audience client_id) or an extra_jwt_issuers pair, without a cookie' }),
  opt({ name: 'extra_jwt_issuers', flag: '--extra-jwt-issuers', env: 'OAUTH2_PROXY_EXTRA_JWT_ISSUERS', type: 'list', default: '', group: 'Access',
    help: 'more issuer=audience pairs whose JWTs skip_jwt_bearer_tokens accepts (keys from the issuer\'s discovery document, else ISSUER/.well-known/jwks.json)', placeholder: 'https://issuer.example.com/=api' }),
  opt({ name: 'bearer_token_login_fallback', flag: '--bearer-token-login-fallback', env: 'OAUTH2_PROXY_BEARER_TOKEN_LOGIN_FALLBACK', type: 'bool', default: 'true', group: 'Access',
    help: 'with skip_jwt_bearer_tokens, treat a request whose Authorization is not a valid JWT as having none (sign in or 401); false: answer 401 BEARER_TOKEN_INVALID' }),
  opt({ name: 'whitelist_domains', flag: '--whitelist-domain', env: 'OAUTH2_PROXY_WHITELIST_DOMAINS', type: 'list', default: '', group: 'Access',
    help: 'hosts that rd and the sign-out target may name besides local paths: example.com, .example.com or *.example.com (with subdomains), :8080 or :* for ports', placeholder: '.example.com' }),

  // Cookie
  opt({ name: 'cookie_name', flag: '--cookie-name', env: 'OAUTH2_PROXY_COOKIE_NAME', type: 'string', default: '_oauth2_proxy', group: 'Cookie',
    help: 'name of the session cookie' }),
  opt({ name: 'cookie_secret', flag: '--cookie-secret', env: 'OAUTH2_PROXY_COOKIE_SECRET', type: 'secret', default: '', group: 'Cookie',
    help: 'secret that seals the session: 16, 24 or 32 bytes, raw or base64; several, comma-separated, to rotate: the first seals, all unseal, and a cookie sealed with an older one is re-sealed with the first on its next use', placeholder: '(openssl rand -base64 32 | tr -- \'+/\' \'-_\')' }),
  opt({ name: 'cookie_secret_file', flag: '--cookie-secret-file', env: 'OAUTH2_PROXY_COOKIE_SECRET_FILE', type: 'string', default: '', group: 'Cookie',
    help: 'file holding the cookie secret (instead of cookie_secret); one secret per line to rotate, the first seals', placeholder: '/etc/portcullis/cookie-secret' }),
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

  // Session store
  opt({ name: 'session_store_type', flag: '--session-store-type', env: 'OAUTH2_PROXY_SESSION_STORE_TYPE', type: 'enum', default: 'cookie', choices: ['cookie', 'redis'], group: 'Session store',
    help: 'where sessions live: cookie (sealed in the browser) or redis (the cookie holds only a ticket; sign-out and revocation reach every replica)' }),
  opt({ name: 'redis_connection_url', flag: '--redis-connection-url', env: 'OAUTH2_PROXY_REDIS_CONNECTION_URL', type: 'string', default: '', group: 'Session store',
    help: 'the Redis server: redis://[user:password@]host:port[/db], rediss:// for TLS, or unix:///path/to/redis.sock; with session_store_type=cookie, Redis keeps only the revocations (back-channel logout, portcullis sessions revoke) for every replica', placeholder: 'redis://127.0.0.1:6379' }),
  opt({ name: 'redis_password', flag: '--redis-password', env: 'OAUTH2_PROXY_REDIS_PASSWORD', type: 'secret', default: '', group: 'Session store',
    help: 'Redis password (overrides one in the URLs); also used for Sentinel and Cluster nodes' }),
  opt({ name: 'redis_use_sentinel', flag: '--redis-use-sentinel', env: 'OAUTH2_PROXY_REDIS_USE_SENTINEL', type: 'bool', default: 'false', group: 'Session store',
    help: 'find the Redis master through Sentinel (redis_sentinel_master_name, redis_sentinel_connection_urls)' }),
  opt({ name: 'redis_sentinel_master_name', flag: '--redis-sentinel-master-name', env: 'OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME', type: 'string', default: '', group: 'Session store',
    help: 'the master name Sentinel monitors', placeholder: 'mymaster' }),
  opt({ name: 'redis_sentinel_connection_urls', flag: '--redis-sentinel-connection-urls', env: 'OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS', type: 'list', default: '', group: 'Session store',
    help: 'the Sentinels, redis://host:port each', placeholder: 'redis://10.0.0.1:26379,redis://10.0.0.2:26379' }),
  opt({ name: 'redis_use_cluster', flag: '--redis-use-cluster', env: 'OAUTH2_PROXY_REDIS_USE_CLUSTER', type: 'bool', default: 'false', group: 'Session store',
    help: 'talk to a Redis Cluster (redis_cluster_connection_urls)' }),
  opt({ name: 'redis_cluster_connection_urls', flag: '--redis-cluster-connection-urls', env: 'OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS', type: 'list', default: '', group: 'Session store',
    help: 'some nodes of the Redis Cluster, redis://host:port each (the others are discovered)', placeholder: 'redis://10.0.0.1:6379,redis://10.0.0.2:6379' }),
  opt({ name: 'redis_connection_idle_timeout', flag: '--redis-connection-idle-timeout', env: 'OAUTH2_PROXY_REDIS_CONNECTION_IDLE_TIMEOUT', type: 'string', default: '0', group: 'Session store',
    help: 'seconds a Redis connection may stay quiet before Portcullis sends a PING on it; set it below the server\'s timeout setting so the server never closes a connection as idle (0: no PINGs)' }),

  // Headers
  opt({ name: 'pass_user_headers', flag: '--pass-user-headers', env: 'OAUTH2_PROXY_PASS_USER_HEADERS', type: 'bool', default: 'true', group: 'Headers',
    help: 'send X-Forwarded-User, -Email, -Groups, -Preferred-Username upstream (pass_basic_auth, on by default, sends them too)' }),
  opt({ name: 'pass_access_token', flag: '--pass-access-token', env: 'OAUTH2_PROXY_PASS_ACCESS_TOKEN', type: 'bool', default: 'false', group: 'Headers',
    help: 'send the access token upstream as X-Forwarded-Access-Token (stores it in the session)' }),
  opt({ name: 'pass_identity_jwt', flag: '--pass-identity-jwt', env: 'OAUTH2_PROXY_PASS_IDENTITY_JWT', type: 'bool', default: 'false', group: 'Headers',
    help: 'send the upstream a short-lived signed JWT of the identity (verify it with the JWKS at {proxy_prefix}/jwks.json)' }),
  opt({ name: 'identity_jwt_header', flag: '--identity-jwt-header', env: 'OAUTH2_PROXY_IDENTITY_JWT_HEADER', type: 'string', default: 'Authorization', group: 'Headers',
    help: 'header carrying the identity JWT: Authorization (as "Bearer <jwt>", replacing the client\'s) or another name such as X-Forwarded-Identity-Jwt (the bare JWT)' }),
  opt({ name: 'identity_jwt_key_file', flag: '--identity-jwt-key-file', env: 'OAUTH2_PROXY_IDENTITY_JWT_KEY_FILE', type: 'string', default: '', group: 'Headers',
    help: 'PEM file of EC P-256 or Ed25519 private keys, or a JWK set; the first signs, all are published (unset: a key made at start, different on every replica)', placeholder: '/run/secrets/identity-jwt.pem' }),
  opt({ name: 'identity_jwt_algorithm', flag: '--identity-jwt-algorithm', env: 'OAUTH2_PROXY_IDENTITY_JWT_ALGORITHM', type: 'enum', default: 'ES256', choices: ['ES256', 'EdDSA'], group: 'Headers',
    help: 'algorithm of the key made at start when identity_jwt_key_file is unset' }),
  opt({ name: 'identity_jwt_lifetime', flag: '--identity-jwt-lifetime', env: 'OAUTH2_PROXY_IDENTITY_JWT_LIFETIME', type: 'duration', default: '60s', group: 'Headers',
    help: 'how long an identity JWT is valid (exp - iat); never beyond the session' }),
  opt({ name: 'identity_jwt_audience', flag: '--identity-jwt-audience', env: 'OAUTH2_PROXY_IDENTITY_JWT_AUDIENCE', type: 'string', default: '', group: 'Headers',
    help: 'the JWT\'s aud (default: the upstream\'s host:port)' }),
  opt({ name: 'identity_jwt_issuer', flag: '--identity-jwt-issuer', env: 'OAUTH2_PROXY_IDENTITY_JWT_ISSUER', type: 'string', default: '', group: 'Headers',
    help: 'the JWT\'s iss, the proxy\'s public URL (default: the scheme and host the request came to)', placeholder: 'https://app.example.com' }),
  opt({ name: 'set_xauthrequest', flag: '--set-xauthrequest', env: 'OAUTH2_PROXY_SET_XAUTHREQUEST', type: 'bool', default: 'false', group: 'Headers',
    help: 'on /oauth2/auth answers, set X-Auth-Request-User, -Email, -Groups, -Preferred-Username (and -Access-Token with pass_access_token) for nginx auth_request_set' }),
  opt({ name: 'pass_basic_auth', flag: '--pass-basic-auth', env: 'OAUTH2_PROXY_PASS_BASIC_AUTH', type: 'bool', default: 'true', group: 'Headers',
    help: 'with basic_auth_password, send Authorization: Basic user:password upstream; like pass_user_headers it also sends the user headers (as in oauth2-proxy: to send none, set both false)' }),
  opt({ name: 'basic_auth_password', flag: '--basic-auth-password', env: 'OAUTH2_PROXY_BASIC_AUTH_PASSWORD', type: 'secret', default: '', group: 'Headers',
    help: 'the password in the Authorization: Basic header pass_basic_auth sends' }),
  opt({ name: 'prefer_email_to_user', flag: '--prefer-email-to-user', env: 'OAUTH2_PROXY_PREFER_EMAIL_TO_USER', type: 'bool', default: 'false', group: 'Headers',
    help: 'send the email as X-Forwarded-User and as the Basic user (no X-Forwarded-Email then); the user when there is no email' }),
  opt({ name: 'pass_authorization_header', flag: '--pass-authorization-header', env: 'OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER', type: 'bool', default: 'false', group: 'Headers',
    help: 'send the ID token upstream as Authorization: Bearer (stores it in the session; the client\'s Authorization is removed)' }),
  opt({ name: 'set_authorization_header', flag: '--set-authorization-header', env: 'OAUTH2_PROXY_SET_AUTHORIZATION_HEADER', type: 'bool', default: 'false', group: 'Headers',
    help: 'on /oauth2/auth answers, set Authorization: Bearer <ID token> for nginx auth_request_set (stores it in the session)' }),

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
