// Issue 13, drop-in completeness: every option of the issue's list is accepted under oauth2-proxy's
// flag, variable and config-file key, and each of the three sets the same parsed value. The list is
// the issue's, verbatim: an option missing from the table (or from the cases below) fails here.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { buildProgram, flagValues, foreignFlagValues } from '../src/cli.js';
import { helpAllText, optionOrigin, optionsMarkdownTable } from '../src/config/docs.js';
import { parseConfigFile } from '../src/config/file.js';
import { foreignVariableProblems, mergeSources } from '../src/config/load.js';
import { FOREIGN_OPTIONS, OAUTH2_PROXY_KEYS, foreignOptionProblems } from '../src/config/oauth2proxy.js';
import { OPTIONS, OPTION_BY_NAME, type OptionSpec } from '../src/config/options.js';
import { validateConfig, type Config } from '../src/config/validate.js';
import { BASE_ENV } from './support/config.js';
import { startProxy } from './support/proxy.js';
import { makeCertificates } from './support/tls.js';

/** The issue's option list, as filed. */
const ISSUE_13_OPTIONS = `
    acr-values allow-query-semicolons allowed-group api-route approval-prompt auth-logging 
    auth-logging-format auth-request-response-mode authenticated-emails-file backend-logout-url 
    basic-auth-password bearer-token-login-fallback client-id client-secret client-secret-file 
    code-challenge-method cookie-csrf-expire cookie-csrf-per-request cookie-csrf-per-request-limit 
    cookie-csrf-samesite cookie-domain cookie-expire cookie-httponly cookie-name cookie-path cookie-refresh 
    cookie-samesite cookie-secret cookie-secret-file cookie-secure disable-keep-alives email-domain 
    encode-state errors-to-info-log exclude-logging-path extra-jwt-issuers flush-interval 
    force-code-challenge-method force-https force-json-errors gcp-healthchecks http-address https-address 
    insecure-oidc-allow-unverified-email insecure-oidc-skip-issuer-verification insecure-oidc-skip-nonce 
    login-url metrics-address metrics-secure-address metrics-tls-cert-file metrics-tls-key-file 
    oidc-audience-claim oidc-email-claim oidc-enabled-signing-alg oidc-extra-audience oidc-groups-claim 
    oidc-issuer-url oidc-jwks-url oidc-public-key-file pass-access-token pass-authorization-header 
    pass-basic-auth pass-host-header pass-user-headers ping-path ping-user-agent prefer-email-to-user 
    profile-url prompt provider provider-ca-file provider-display-name proxy-prefix proxy-websockets 
    ready-path real-client-ip-header redeem-url redirect-url redis-ca-path redis-cluster-connection-urls 
    redis-connection-idle-timeout redis-connection-url redis-insecure-skip-tls-verify redis-password 
    redis-sentinel-connection-urls redis-sentinel-master-name redis-sentinel-password redis-use-cluster 
    redis-use-sentinel redis-username relative-redirect-url request-id-header request-logging 
    request-logging-format reverse-proxy scope session-cookie-minimal session-store-type 
    set-authorization-header set-basic-auth set-xauthrequest silence-ping-logging skip-auth-preflight 
    skip-auth-regex skip-auth-route skip-auth-strip-headers skip-claims-from-profile-url 
    skip-jwt-bearer-tokens skip-oidc-discovery skip-provider-button ssl-insecure-skip-verify 
    ssl-upstream-insecure-skip-verify standard-logging standard-logging-format tls-cert-file 
    tls-cipher-suite tls-key-file tls-min-version trusted-ip trusted-proxy-ip upstream upstream-timeout 
    use-system-trust-store user-id-claim validate-url whitelist-domain 
`.trim().split(/\s+/);

/** The issue's naming rule: the config name is the flag with _ for -, except these plural forms. */
const PLURALS: Readonly<Record<string, string>> = {
  upstream: 'upstreams', 'email-domain': 'email_domains', 'whitelist-domain': 'whitelist_domains', 'skip-auth-route': 'skip_auth_routes',
  'api-route': 'api_routes', 'allowed-group': 'allowed_groups', 'cookie-domain': 'cookie_domains', 'trusted-ip': 'trusted_ips',
  'trusted-proxy-ip': 'trusted_proxy_ips', 'exclude-logging-path': 'exclude_logging_paths', 'oidc-audience-claim': 'oidc_audience_claims',
  'oidc-extra-audience': 'oidc_extra_audiences', 'oidc-enabled-signing-alg': 'oidc_enabled_signing_algs',
  'oidc-public-key-file': 'oidc_public_key_files', 'provider-ca-file': 'provider_ca_files', 'tls-cipher-suite': 'tls_cipher_suites',
};
const configName = (flag: string): string => PLURALS[flag] ?? flag.replace(/-/g, '_');

const dir = mkdtempSync(join(tmpdir(), 'portcullis-sweep-'));
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p; };
const certs = makeCertificates(['127.0.0.1', 'localhost']);
after(() => certs.remove());
const caFile = join(certs.dir, 'ca.crt');
const SECRET_B = Buffer.alloc(32, 7).toString('base64url');
const publicKeyFile = file('issuer-key.pem', generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string);
const REDIS = { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'redis://10.0.0.5:6380/2' };
const SENTINEL = { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_SENTINEL: 'true', OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME: 'mymaster', OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS: 'redis://10.0.0.1:26379' };
const TLS = { OAUTH2_PROXY_TLS_CERT_FILE: certs.certFile, OAUTH2_PROXY_TLS_KEY_FILE: certs.keyFile };
const METRICS_TLS = { OAUTH2_PROXY_METRICS_SECURE_ADDRESS: '127.0.0.1:9443', OAUTH2_PROXY_METRICS_TLS_CERT_FILE: certs.certFile, OAUTH2_PROXY_METRICS_TLS_KEY_FILE: certs.keyFile };

/**
 * One case per option: the value set (a list for list options: repeated flags, a comma-separated
 * variable, a TOML array), other variables it needs (set in the environment for all three runs, and
 * never the option itself), and what it reads as in the validated configuration (or its warnings).
 */
interface Case {
  readonly value: string | readonly string[];
  readonly with?: Readonly<Record<string, string>>;
  readonly read: (c: Config, warnings: readonly string[]) => unknown;
  readonly expect: unknown;
}
const warned = (env: string) => (_c: Config, w: readonly string[]): boolean => w.some((x) => x.startsWith(env));

const CASES: Readonly<Record<string, Case>> = {
  'acr-values': { value: 'urn:acr:silver', read: (c) => c.provider.acrValues, expect: 'urn:acr:silver' },
  'allow-query-semicolons': { value: 'true', read: (c) => c.allowQuerySemicolons, expect: true },
  'allowed-group': { value: ['admins', 'Domain Admins'], read: (c) => c.allowedGroups, expect: ['admins', 'Domain Admins'] },
  'api-route': { value: ['^/api/', '^/v2/'], read: (c) => [c.routes.isApi('/api/x'), c.routes.isApi('/v2/y'), c.routes.isApi('/app')], expect: [true, true, false] },
  'approval-prompt': { value: 'force', read: (c) => c.provider.approvalPrompt, expect: 'force' },
  'auth-logging': { value: 'false', read: (c) => c.authLogging, expect: false },
  'auth-logging-format': { value: '{{.Username}} {{.Status}}', read: warned('OAUTH2_PROXY_AUTH_LOGGING_FORMAT is not used'), expect: true },
  'auth-request-response-mode': { value: 'query', read: (c) => c.provider.responseMode, expect: 'query' },
  'authenticated-emails-file': { value: file('emails.txt', 'alice@example.com\n'), read: (c) => c.authenticatedEmails?.text, expect: 'alice@example.com\n' },
  'backend-logout-url': { value: 'https://issuer.example.com/logout?id_token_hint={id_token}', read: (c) => c.provider.backendLogoutUrl, expect: 'https://issuer.example.com/logout?id_token_hint={id_token}' },
  'basic-auth-password': { value: 'app-password', read: (c) => c.basicAuthPassword, expect: 'app-password' },
  'bearer-token-login-fallback': { value: 'false', with: { OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true' }, read: (c) => c.bearer?.loginFallback, expect: false },
  'client-id': { value: 'wiki', read: (c) => c.provider.clientId, expect: 'wiki' },
  'client-secret': { value: 'another-client-secret', read: (c) => c.provider.clientSecret, expect: 'another-client-secret' },
  'client-secret-file': { value: file('client-secret', 'secret-from-a-file\n'), with: { OAUTH2_PROXY_CLIENT_SECRET: '' }, read: (c) => c.provider.clientSecret, expect: 'secret-from-a-file' },
  'code-challenge-method': { value: 'S256', read: (_c, w) => w.filter((x) => /CODE_CHALLENGE/.test(x)), expect: [] },
  'cookie-csrf-expire': { value: '5m', read: (c) => c.cookie.csrf?.windowMs, expect: 300_000 },
  'cookie-csrf-per-request': { value: 'false', read: (c) => c.cookie.csrf?.perRequest, expect: false },
  'cookie-csrf-per-request-limit': { value: '3', read: (c) => c.cookie.csrf?.limit, expect: 3 },
  'cookie-csrf-samesite': { value: 'none', read: (c) => c.cookie.csrf?.sameSite, expect: 'none' },
  'cookie-domain': { value: ['.example.com', 'example.org'], read: (c) => c.cookie.domains, expect: ['.example.com', 'example.org'] },
  'cookie-expire': { value: '12h', read: (c) => c.cookie.expireMs, expect: 12 * 3_600_000 },
  'cookie-httponly': { value: 'false', read: (c) => c.cookie.httpOnly, expect: false },
  'cookie-name': { value: '_wiki_auth', read: (c) => c.cookie.name, expect: '_wiki_auth' },
  'cookie-path': { value: '/wiki', read: (c) => c.cookie.path, expect: '/wiki' },
  'cookie-refresh': { value: '1h', read: (c) => c.cookie.refreshMs, expect: 3_600_000 },
  'cookie-samesite': { value: 'strict', read: (c) => c.cookie.sameSite, expect: 'strict' },
  'cookie-secret': { value: SECRET_B, read: (c) => c.cookie.secret.toString('base64url'), expect: SECRET_B },
  'cookie-secret-file': { value: file('cookie-secret', `${SECRET_B}\n`), with: { OAUTH2_PROXY_COOKIE_SECRET: '' }, read: (c) => c.cookie.secret.toString('base64url'), expect: SECRET_B },
  'cookie-secure': { value: 'false', read: (c) => c.cookie.secure, expect: false },
  'disable-keep-alives': { value: 'true', read: (c) => c.disableKeepAlives, expect: true },
  'email-domain': { value: ['example.com', '.example.org'], read: (c) => c.emailDomains, expect: ['example.com', '.example.org'] },
  'encode-state': { value: 'true', read: (_c, w) => w.filter((x) => /ENCODE_STATE/.test(x)), expect: [] },
  'errors-to-info-log': { value: 'true', read: (c) => c.errorsToInfoLog, expect: true },
  'exclude-logging-path': { value: ['/healthz', '/favicon.ico'], read: (c) => c.excludeLoggingPaths, expect: ['/healthz', '/favicon.ico'] },
  'extra-jwt-issuers': { value: ['https://other.example.com/=api'], with: { OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true' }, read: (c) => c.bearer?.extraIssuers, expect: [{ issuer: 'https://other.example.com/', audience: 'api' }] },
  'flush-interval': { value: '2s', read: (_c, w) => w.filter((x) => /FLUSH/.test(x)), expect: [] },
  'force-code-challenge-method': { value: 'S256', read: warned('OAUTH2_PROXY_FORCE_CODE_CHALLENGE_METHOD is oauth2-proxy\'s deprecated name'), expect: true },
  'force-https': { value: 'true', read: (c) => c.forceHttps, expect: true },
  'force-json-errors': { value: 'true', read: (c) => c.pages.jsonErrors, expect: true },
  'gcp-healthchecks': { value: 'true', read: (c) => [c.healthCheckPaths, c.healthCheckUserAgents], expect: [['/ping', '/liveness_check', '/readiness_check'], ['GoogleHC/1.0']] },
  'http-address': { value: '127.0.0.1:9999', read: (c) => c.listen, expect: { kind: 'tcp', host: '127.0.0.1', port: 9999 } },
  'https-address': { value: '127.0.0.1:8443', with: TLS, read: (c) => c.https?.address, expect: { kind: 'tcp', host: '127.0.0.1', port: 8443 } },
  'insecure-oidc-allow-unverified-email': { value: 'true', read: (c) => c.provider.allowUnverifiedEmail, expect: true },
  'insecure-oidc-skip-issuer-verification': { value: 'true', read: (c) => c.provider.skipIssuerVerification, expect: true },
  'insecure-oidc-skip-nonce': { value: 'true', read: (c) => c.provider.skipNonce, expect: true },
  'login-url': { value: 'https://hydra.example.com/oauth2/auth?audience=x', read: (c) => c.provider.loginUrl?.href, expect: 'https://hydra.example.com/oauth2/auth?audience=x' },
  'metrics-address': { value: '127.0.0.1:9100', read: (c) => c.metricsAddress, expect: { kind: 'tcp', host: '127.0.0.1', port: 9100 } },
  'metrics-secure-address': { value: '127.0.0.1:9444', with: { ...METRICS_TLS, OAUTH2_PROXY_METRICS_SECURE_ADDRESS: '' }, read: (c) => c.metricsTls?.address, expect: { kind: 'tcp', host: '127.0.0.1', port: 9444 } },
  'metrics-tls-cert-file': { value: certs.certFile, with: { ...METRICS_TLS, OAUTH2_PROXY_METRICS_TLS_CERT_FILE: '' }, read: (c) => c.metricsTls?.cert, expect: readFileSync(certs.certFile, 'utf8') },
  'metrics-tls-key-file': { value: certs.keyFile, with: { ...METRICS_TLS, OAUTH2_PROXY_METRICS_TLS_KEY_FILE: '' }, read: (c) => c.metricsTls?.key, expect: readFileSync(certs.keyFile, 'utf8') },
  'oidc-audience-claim': { value: ['aud', 'azp'], read: (c) => c.provider.audienceClaims, expect: ['aud', 'azp'] },
  'oidc-email-claim': { value: 'mail', read: (c) => c.provider.emailClaim, expect: 'mail' },
  'oidc-enabled-signing-alg': { value: ['RS256', 'ES256'], read: (c) => c.provider.signingAlgs, expect: ['RS256', 'ES256'] },
  'oidc-extra-audience': { value: ['api', 'other'], read: (c) => c.provider.extraAudiences, expect: ['api', 'other'] },
  'oidc-groups-claim': { value: 'roles', read: (c) => c.provider.groupsClaim, expect: 'roles' },
  'oidc-issuer-url': { value: 'https://sso.example.org/realms/staff', read: (c) => c.provider.issuerUrl?.href, expect: 'https://sso.example.org/realms/staff' },
  'oidc-jwks-url': { value: 'https://hydra.example.com/.well-known/jwks.json', read: (c) => c.provider.jwksUrl?.href, expect: 'https://hydra.example.com/.well-known/jwks.json' },
  'oidc-public-key-file': { value: [publicKeyFile], read: (c) => c.provider.publicKeys?.map((k) => k.trim()), expect: [readFileSync(publicKeyFile, 'utf8').trim()] },
  'pass-access-token': { value: 'true', read: (c) => c.passAccessToken, expect: true },
  'pass-authorization-header': { value: 'true', read: (c) => c.passAuthorizationHeader, expect: true },
  'pass-basic-auth': { value: 'false', read: (c) => c.passBasicAuth, expect: false },
  'pass-host-header': { value: 'false', read: (c) => c.passHostHeader, expect: false },
  'pass-user-headers': { value: 'false', read: (c) => c.passUserHeaders, expect: false },
  'ping-path': { value: '/healthz', read: (c) => [c.pingPath, c.healthCheckPaths], expect: ['/healthz', ['/healthz']] },
  'ping-user-agent': { value: 'kube-probe/1.29', read: (c) => c.healthCheckUserAgents, expect: ['kube-probe/1.29'] },
  'prefer-email-to-user': { value: 'true', read: (c) => c.preferEmailToUser, expect: true },
  'profile-url': { value: 'https://hydra.example.com/userinfo', read: (c) => c.provider.userinfoUrl?.href, expect: 'https://hydra.example.com/userinfo' },
  prompt: { value: 'select_account', read: (c) => c.provider.prompt, expect: 'select_account' },
  provider: { value: 'oidc', read: (_c, w) => w.filter((x) => /PROVIDER/.test(x)), expect: [] },
  'provider-ca-file': { value: [caFile], read: (c) => c.provider.caCertificates?.length, expect: 1 },
  'provider-display-name': { value: 'Acme SSO', read: (c) => c.provider.displayName, expect: 'Acme SSO' },
  'proxy-prefix': { value: '/auth', read: (c) => c.proxyPrefix, expect: '/auth' },
  'proxy-websockets': { value: 'false', read: (c) => c.proxyWebsockets, expect: false },
  'ready-path': { value: '/readyz', read: (c) => c.readyPath, expect: '/readyz' },
  'real-client-ip-header': { value: 'X-Forwarded-For', read: (c) => c.realClientIpHeader, expect: 'x-forwarded-for' },
  'redeem-url': { value: 'https://hydra.example.com/oauth2/token', read: (c) => c.provider.redeemUrl?.href, expect: 'https://hydra.example.com/oauth2/token' },
  'redirect-url': { value: 'https://wiki.example.com/oauth2/callback', read: (c) => c.provider.redirectUrl?.href, expect: 'https://wiki.example.com/oauth2/callback' },
  'redis-ca-path': { value: caFile, with: REDIS, read: (c) => (c.sessionStore.redis?.tlsOptions?.ca ?? []).some((pem) => pem.trim() === readFileSync(caFile, 'utf8').trim()), expect: true },
  'redis-cluster-connection-urls': { value: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7001'], with: { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_CLUSTER: 'true' }, read: (c) => (c.sessionStore.redis?.mode === 'cluster' ? c.sessionStore.redis.nodes : undefined), expect: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }] },
  'redis-connection-idle-timeout': { value: '240', with: REDIS, read: (c) => c.sessionStore.redis?.idleTimeoutS, expect: 240 },
  'redis-connection-url': { value: 'rediss://redis.example.com:6380/3', with: { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis' }, read: (c) => (c.sessionStore.redis?.mode === 'standalone' ? [c.sessionStore.redis.address, c.sessionStore.redis.tls, c.sessionStore.redis.db] : undefined), expect: [{ host: 'redis.example.com', port: 6380 }, true, 3] },
  'redis-insecure-skip-tls-verify': { value: 'true', with: REDIS, read: (c) => c.sessionStore.redis?.tlsOptions, expect: { insecure: true } },
  'redis-password': { value: 'redis-pw', with: REDIS, read: (c) => c.sessionStore.redis?.password, expect: 'redis-pw' },
  'redis-sentinel-connection-urls': { value: ['redis://10.0.0.1:26379', 'redis://10.0.0.2:26380'], with: { ...SENTINEL, OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS: '' }, read: (c) => (c.sessionStore.redis?.mode === 'sentinel' ? c.sessionStore.redis.sentinels : undefined), expect: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26380 }] },
  'redis-sentinel-master-name': { value: 'sessions', with: { ...SENTINEL, OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME: '' }, read: (c) => (c.sessionStore.redis?.mode === 'sentinel' ? c.sessionStore.redis.masterName : undefined), expect: 'sessions' },
  'redis-sentinel-password': { value: 'sentinel-pw', with: SENTINEL, read: (c) => (c.sessionStore.redis?.mode === 'sentinel' ? c.sessionStore.redis.sentinelPassword : undefined), expect: 'sentinel-pw' },
  'redis-use-cluster': { value: 'true', with: { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS: 'redis://10.0.0.1:7000' }, read: (c) => c.sessionStore.redis?.mode, expect: 'cluster' },
  'redis-use-sentinel': { value: 'true', with: { ...SENTINEL, OAUTH2_PROXY_REDIS_USE_SENTINEL: '' }, read: (c) => c.sessionStore.redis?.mode, expect: 'sentinel' },
  'redis-username': { value: 'portcullis', with: REDIS, read: (c) => c.sessionStore.redis?.username, expect: 'portcullis' },
  'relative-redirect-url': { value: 'false', read: (c) => c.provider.redirectUrl, expect: undefined },
  'request-id-header': { value: 'X-Trace-Id', read: (c) => c.requestIdHeader, expect: 'X-Trace-Id' },
  'request-logging': { value: 'false', read: (c) => c.requestLogging, expect: false },
  'request-logging-format': { value: '{{.Client}} {{.StatusCode}}', read: warned('OAUTH2_PROXY_REQUEST_LOGGING_FORMAT is not used'), expect: true },
  'reverse-proxy': { value: 'true', read: (c) => c.reverseProxy, expect: true },
  scope: { value: 'openid email', read: (c) => c.provider.scope, expect: 'openid email' },
  'session-cookie-minimal': { value: 'true', read: (c) => c.sessionStore.minimal, expect: true },
  'session-store-type': { value: 'redis', with: { OAUTH2_PROXY_REDIS_CONNECTION_URL: 'redis://10.0.0.5' }, read: (c) => c.sessionStore.type, expect: 'redis' },
  'set-authorization-header': { value: 'true', read: (c) => c.setAuthorizationHeader, expect: true },
  'set-basic-auth': { value: 'true', with: { OAUTH2_PROXY_BASIC_AUTH_PASSWORD: 'pw' }, read: (c) => c.setBasicAuth, expect: true },
  'set-xauthrequest': { value: 'true', read: (c) => c.setXAuthRequest, expect: true },
  'silence-ping-logging': { value: 'true', read: (c) => c.silencePingLogging, expect: true },
  'skip-auth-preflight': { value: 'true', read: (c) => [c.routes.skips('OPTIONS', '/x'), c.routes.skips('GET', '/x')], expect: [true, false] },
  'skip-auth-regex': { value: ['^/public/', '^/static/'], read: (c) => [c.routes.skips('GET', '/public/a'), c.routes.skips('POST', '/static/b'), c.routes.skips('GET', '/app')], expect: [true, true, false] },
  'skip-auth-route': { value: ['GET=^/healthz$', 'POST!=^/private/'], read: (c) => [c.routes.skips('GET', '/healthz'), c.routes.skips('PUT', '/healthz'), c.routes.skips('POST', '/private/x'), c.routes.skips('POST', '/other'), c.routes.skips('GET', '/other')], expect: [true, false, false, true, false] },
  'skip-auth-strip-headers': { value: 'false', read: warned('OAUTH2_PROXY_SKIP_AUTH_STRIP_HEADERS=false has no effect'), expect: true },
  'skip-claims-from-profile-url': { value: 'true', read: (c) => c.provider.skipClaimsFromProfileUrl, expect: true },
  'skip-jwt-bearer-tokens': { value: 'true', read: (c) => c.bearer, expect: { extraIssuers: [], loginFallback: true } },
  'skip-oidc-discovery': { value: 'true', with: { OAUTH2_PROXY_LOGIN_URL: 'https://hydra.example.com/oauth2/auth', OAUTH2_PROXY_REDEEM_URL: 'https://hydra.example.com/oauth2/token', OAUTH2_PROXY_OIDC_JWKS_URL: 'https://hydra.example.com/jwks' }, read: (c) => c.provider.skipDiscovery, expect: true },
  'skip-provider-button': { value: 'true', read: (c) => c.skipProviderButton, expect: true },
  'ssl-insecure-skip-verify': { value: 'true', read: (c) => c.provider.insecureSkipVerify, expect: true },
  'ssl-upstream-insecure-skip-verify': { value: 'true', read: (c) => c.sslUpstreamInsecureSkipVerify, expect: true },
  'standard-logging': { value: 'false', read: (c) => c.standardLogging, expect: false },
  'standard-logging-format': { value: '{{.Message}}', read: warned('OAUTH2_PROXY_STANDARD_LOGGING_FORMAT is not used'), expect: true },
  'tls-cert-file': { value: certs.certFile, with: { ...TLS, OAUTH2_PROXY_TLS_CERT_FILE: '' }, read: (c) => c.https?.cert, expect: readFileSync(certs.certFile, 'utf8') },
  'tls-cipher-suite': { value: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256'], with: TLS, read: (c) => c.https?.ciphers, expect: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384' },
  'tls-key-file': { value: certs.keyFile, with: { ...TLS, OAUTH2_PROXY_TLS_KEY_FILE: '' }, read: (c) => c.https?.key, expect: readFileSync(certs.keyFile, 'utf8') },
  'tls-min-version': { value: 'TLS1.3', with: TLS, read: (c) => c.https?.minVersion, expect: 'TLSv1.3' },
  'trusted-ip': { value: ['10.1.2.0/24', '192.168.7.7'], read: (c) => [c.trustedIps?.has('10.1.2.3'), c.trustedIps?.has('192.168.7.7'), c.trustedIps?.has('10.1.3.1')], expect: [true, true, false] },
  'trusted-proxy-ip': { value: ['10.0.0.0/8', 'fd00::/8'], with: { OAUTH2_PROXY_REVERSE_PROXY: 'true' }, read: (c) => [c.trustedProxies.has('10.2.3.4'), c.trustedProxies.has('fd00::1'), c.trustedProxies.has('127.0.0.1')], expect: [true, true, false] },
  upstream: { value: ['http://127.0.0.1:8081/', 'http://127.0.0.1:8082/api/'], read: (c) => c.upstreams.map((u) => [u.path, u.url.href]), expect: [['/', 'http://127.0.0.1:8081/'], ['/api/', 'http://127.0.0.1:8082/api/']] },
  'upstream-timeout': { value: '5s', read: (c) => c.upstreamTimeoutMs, expect: 5000 },
  'use-system-trust-store': { value: 'true', with: { OAUTH2_PROXY_PROVIDER_CA_FILES: caFile }, read: (c) => (c.provider.caCertificates?.length ?? 0) > 1, expect: true },
  'user-id-claim': { value: 'upn', read: (c) => c.provider.emailClaim, expect: 'upn' },
  'validate-url': { value: 'https://hydra.example.com/userinfo', read: (c) => c.provider.userinfoUrl?.href, expect: 'https://hydra.example.com/userinfo' },
  'whitelist-domain': { value: ['.example.com', 'other.example.org:8443'], read: (c) => [c.whitelistDomains.allows('app.example.com', ''), c.whitelistDomains.allows('other.example.org', '8443'), c.whitelistDomains.allows('evil.example.net', '')], expect: [true, true, false] },
};

/** A value as an oauth2-proxy TOML file writes it: booleans and whole numbers bare, lists as arrays. */
function tomlValue(spec: OptionSpec, v: string | readonly string[]): string {
  if (typeof v !== 'string') return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  if (spec.type === 'bool' && (v === 'true' || v === 'false')) return v;
  if (/^\d+$/.test(v) && ['cookie_csrf_per_request_limit', 'redis_connection_idle_timeout'].includes(spec.name)) return v;
  return JSON.stringify(v);
}

type Source = 'flag' | 'env' | 'config';

/** Validates BASE_ENV plus the case's variables, with the option itself set through `source`. */
function through(source: Source, spec: OptionSpec, value: string | readonly string[], extra: Readonly<Record<string, string>> = {}) {
  const env: Record<string, string> = { ...BASE_ENV, ...extra };
  let flags: Record<string, string | string[]> = {};
  let config: Record<string, string | string[]> = {};
  if (source === 'flag') {
    const args = typeof value === 'string' ? [`${spec.flag}=${value}`] : value.flatMap((v) => [spec.flag, v]);
    const program = buildProgram().exitOverride();
    program.parse(['node', 'portcullis', ...args]);
    flags = flagValues(program);
  } else if (source === 'env') {
    env[spec.env] = typeof value === 'string' ? value : value.join(',');
  } else {
    // The environment wins over the file: the base configuration's own copy gives way.
    delete env[spec.env];
    const f = parseConfigFile(`# oauth2-proxy.cfg\n${spec.name} = ${tomlValue(spec, value)}\n`, 'oauth2-proxy.cfg');
    assert.deepEqual(f.errors, [], `${spec.name} in a config file`);
    config = f.values;
  }
  return validateConfig(mergeSources({ flags, env, config, dotenv: {} }));
}

test('every option of the issue is in the table with oauth2-proxy\'s flag, variable and config-file name', () => {
  assert.equal(ISSUE_13_OPTIONS.length, 126);
  const problems: string[] = [];
  for (const flag of ISSUE_13_OPTIONS) {
    const name = configName(flag);
    const spec = OPTION_BY_NAME.get(name);
    if (!spec) { problems.push(`--${flag}: no option ${name} in src/config/options.ts`); continue; }
    if (spec.flag !== `--${flag}`) problems.push(`${name}: flag ${spec.flag}, expected --${flag}`);
    if (spec.env !== `OAUTH2_PROXY_${name.toUpperCase()}`) problems.push(`${name}: variable ${spec.env}, expected OAUTH2_PROXY_${name.toUpperCase()}`);
    if (!OAUTH2_PROXY_KEYS.has(name)) problems.push(`${name}: not listed among oauth2-proxy's configuration names`);
    if (optionOrigin(spec) !== 'oauth2-proxy') problems.push(`${name}: the README would mark it as Portcullis's own`);
    if (!CASES[flag]) problems.push(`--${flag}: no case in this test`);
  }
  assert.deepEqual(problems, []);
});

for (const source of ['flag', 'env', 'config'] as const) {
  test(`each option of the issue set through its ${source === 'flag' ? 'flag' : source === 'env' ? 'environment variable' : 'config-file key'} reads as oauth2-proxy means it`, () => {
    const failures: string[] = [];
    for (const flag of ISSUE_13_OPTIONS) {
      const spec = OPTION_BY_NAME.get(configName(flag));
      const c = CASES[flag];
      if (!spec || !c) { failures.push(`--${flag}: no option or no case`); continue; }
      assert.ok(!(spec.env in (c.with ?? {})) || c.with![spec.env] === '', `${flag}: a case must not set its own option`);
      const v = through(source, spec, c.value, Object.fromEntries(Object.entries(c.with ?? {}).filter(([k]) => k !== spec.env)));
      if (!v.ok) { failures.push(`${flag} via ${source}: ${v.errors.join('; ')}`); continue; }
      try {
        assert.deepEqual(c.read(v.config, v.warnings), c.expect);
      } catch {
        failures.push(`${flag} via ${source}: read ${JSON.stringify(c.read(v.config, v.warnings))}, expected ${JSON.stringify(c.expect)}`);
      }
    }
    assert.deepEqual(failures, []);
  });
}

test('the defaults: an option left unset reads as its default, which --help states (the safer ones say why)', () => {
  const v = validateConfig(mergeSources({ flags: {}, env: { ...BASE_ENV }, dotenv: {} }));
  assert.ok(v.ok, v.ok ? '' : v.errors.join('\n'));
  const c = v.config;
  assert.deepEqual(
    [c.authLogging, c.standardLogging, c.errorsToInfoLog, c.allowQuerySemicolons, c.disableKeepAlives, c.setBasicAuth, c.pages.jsonErrors,
      c.provider.skipNonce, c.provider.skipIssuerVerification, c.provider.insecureSkipVerify, c.provider.responseMode, c.trustedIps, c.sessionStore.minimal,
      c.cookie.csrf, c.healthCheckPaths, c.healthCheckUserAgents, c.metricsTls],
    [true, true, false, false, false, false, undefined,
      undefined, undefined, undefined, undefined, undefined, undefined,
      { windowMs: 15 * 60_000, perRequest: true, limit: 5 }, ['/ping'], [], undefined],
  );
  // --help lists every flag; --help-all names its variable and default.
  const help = buildProgram().helpInformation().replace(/\s+/g, ' ');
  const helpAll = helpAllText(80).replace(/\s+/g, ' ');
  for (const flag of ISSUE_13_OPTIONS) {
    const spec = OPTION_BY_NAME.get(configName(flag))!;
    assert.ok(help.includes(`${spec.flag} `), `--help lists ${spec.flag}`);
    assert.ok(helpAll.includes(spec.env), `--help-all names ${spec.env}`);
  }
  // Where Portcullis's default differs from oauth2-proxy's, the help says so.
  for (const name of ['insecure_oidc_skip_nonce', 'cookie_csrf_per_request', 'cookie_csrf_per_request_limit', 'trusted_proxy_ips']) {
    assert.match(OPTION_BY_NAME.get(name)!.help, /oauth2-proxy/, `${name}'s help names oauth2-proxy's default`);
  }
});

test('a bad value is reported under the spelling it came in: the flag, the variable or the key in the file', () => {
  const bad: Array<[string, string | string[], RegExp]> = [
    ['cookie-csrf-expire', 'soon', /expected a duration of at least 1s/],
    ['cookie-csrf-per-request-limit', 'many', /expected a whole number of cookies/],
    ['cookie-csrf-samesite', 'sometimes', /expected one of "", lax, strict, none/],
    ['auth-request-response-mode', 'fragment', /expected query or form_post \(a fragment never reaches the server/],
    ['oidc-enabled-signing-alg', ['HS256'], /asymmetric algorithms only \(HS256 is refused/],
    ['tls-cipher-suite', ['TLS_RSA_WITH_RC4_128_SHA'], /RC4 and 3DES are disabled/],
    ['trusted-ip', ['10.0.0.0/33'], /IP addresses or CIDR ranges/],
    ['relative-redirect-url', 'true', /expected false: sending the issuer a redirect URI without scheme and host is not supported, because OAuth 2.0 wants it absolute/],
    ['force-code-challenge-method', 'plain', /expected one of "", S256/],
    ['encode-state', 'maybe', /expected true or false/],
    ['flush-interval', 'often', /expected a duration/],
    ['provider', 'github', /expected one of oidc/],
    ['oidc-public-key-file', [join(dir, 'missing.pem')], /readable PEM files .*ENOENT/],
  ];
  const spelled: Record<Source, (s: OptionSpec) => string> = { flag: (s) => `${s.flag}:`, env: (s) => `${s.env}:`, config: (s) => `${s.name} (in the --config file):` };
  const failures: string[] = [];
  for (const [flag, value, why] of bad) {
    const spec = OPTION_BY_NAME.get(configName(flag))!;
    for (const source of ['flag', 'env', 'config'] as const) {
      const v = through(source, spec, value);
      const line = v.ok ? undefined : v.errors.find((e) => e.startsWith(spelled[source](spec)));
      if (!line || !why.test(line)) failures.push(`${flag} via ${source}: ${v.ok ? 'accepted' : v.errors.join(' | ')}`);
    }
  }
  assert.deepEqual(failures, []);
});

test('the README\'s option table marks oauth2-proxy\'s names and Portcullis\'s own additions', () => {
  const rows = optionsMarkdownTable().trimEnd().split('\n');
  assert.equal(rows[0], '| Variable | Flag | Default | Origin | Description |');
  for (const spec of OPTIONS) {
    const row = rows.find((r) => r.startsWith(`| \`${spec.env}\` |`))!;
    const origin = OAUTH2_PROXY_KEYS.has(spec.name) ? 'oauth2-proxy' : '**Portcullis**';
    assert.ok(row.includes(` | ${origin} | `), `${spec.name}: ${row.slice(0, 120)}`);
  }
  for (const own of ['log_level', 'pass_identity_jwt', 'insecure_oidc_allow_http_issuer', 'identity_jwt_key_file']) {
    assert.equal(optionOrigin(OPTION_BY_NAME.get(own)!), 'Portcullis', own);
  }
  // Every oauth2-proxy name is either an option here or one Portcullis knows it does not have.
  const unaccounted = [...OAUTH2_PROXY_KEYS].filter((k) => !OPTION_BY_NAME.has(k) && !FOREIGN_OPTIONS.some((f) => f.name === k));
  assert.deepEqual(unaccounted, []);
});

test('provider-specific and log-file options are refused with "not supported, because …" from a flag, a variable and the file; others are warned about', () => {
  const program = buildProgram().exitOverride();
  program.parse(['node', 'portcullis', '--github-org', 'acme', '--azure-tenant', 'contoso', '--logging-filename=/var/log/oauth2-proxy.log', '--logging-compress', '--jwt-key-file', '/k.pem', '--keycloak-group', '/admins', '--google-admin-email', 'a@example.com', '--entra-id-allowed-tenant', 't1', '--bitbucket-team', 'acme', '--gitlab-group', 'g', '--htpasswd-file', '/etc/htpasswd', '--logging-max-size', '100']);
  const fromFlags = foreignOptionProblems(foreignFlagValues(program), { from: 'flag' });
  const expectRefused = (errors: string[], who: string, because: RegExp): void => {
    assert.ok(errors.some((e) => e.startsWith(who) && because.test(e)), `${who}: ${errors.join('\n')}`);
  };
  expectRefused(fromFlags.errors, '--github-org restricts who may sign in in oauth2-proxy and is not supported, because GitHub is not an OpenID Connect issuer', /refuses to start/);
  expectRefused(fromFlags.errors, '--azure-tenant is not supported, because it is read by oauth2-proxy\'s azure and entra-id providers', /login\.microsoftonline\.com/);
  expectRefused(fromFlags.errors, '--logging-filename is not supported, because Portcullis writes its logs to stdout and stderr', /rotation/);
  expectRefused(fromFlags.errors, '--logging-compress is not supported', /stdout/);
  expectRefused(fromFlags.errors, '--jwt-key-file is not supported, because it belongs to oauth2-proxy\'s login.gov provider', /OAUTH2_PROXY_CLIENT_PRIVATE_KEY_FILE/);
  expectRefused(fromFlags.errors, '--keycloak-group restricts who may sign in', /keycloak provider/);
  expectRefused(fromFlags.errors, '--google-admin-email is not supported, because it is read by oauth2-proxy\'s google provider', /accounts\.google\.com/);
  expectRefused(fromFlags.errors, '--entra-id-allowed-tenant restricts who may sign in', /entra-id/);
  expectRefused(fromFlags.errors, '--bitbucket-team restricts who may sign in', /Bitbucket/);
  expectRefused(fromFlags.errors, '--gitlab-group restricts who may sign in', /gitlab provider/);
  assert.equal(fromFlags.errors.length, 10, fromFlags.errors.join('\n'));
  assert.deepEqual(fromFlags.warnings.map((w) => w.split(' ')[0]).sort(), ['--htpasswd-file', '--logging-max-size'], 'htpasswd is ignored with a warning; a rotation size at its default does nothing');

  const fromEnv = foreignVariableProblems({ OAUTH2_PROXY_GITHUB_TOKEN: 'ghp_x', OAUTH2_PROXY_LOGGING_MAX_AGE: '30', OAUTH2_PROXY_RESOURCE: 'api://x', OAUTH2_PROXY_AZURE_TENANT: 'common', OAUTH2_PROXY_SIGNATURE_KEY: 'sha256:x', OAUTH2_PROXY_PUBJWK_URL: '' }, 'environment');
  expectRefused(fromEnv.errors, 'OAUTH2_PROXY_GITHUB_TOKEN (environment) is not supported, because GitHub', /remove it/);
  expectRefused(fromEnv.errors, 'OAUTH2_PROXY_LOGGING_MAX_AGE (environment) is not supported', /rotation/);
  expectRefused(fromEnv.errors, 'OAUTH2_PROXY_RESOURCE (environment) is not supported', /entra-id/);
  assert.equal(fromEnv.errors.length, 3, 'azure_tenant at its default (common) and an empty variable stop nothing');
  assert.ok(fromEnv.warnings.some((w) => /^OAUTH2_PROXY_SIGNATURE_KEY \(environment\) is an oauth2-proxy option Portcullis does not support; it is ignored: no GAP-Signature/.test(w)));

  const fromFile = parseConfigFile('github_users = ["alice"]\nlogging_filename = "/var/log/o2p.log"\ngoogle_service_account_json = "/sa.json"\nshow_debug_on_error = true\nlogging_local_time = true\n', 'o2p.cfg');
  expectRefused(fromFile.errors, 'github_users (o2p.cfg) restricts who may sign in', /GitHub/);
  expectRefused(fromFile.errors, 'logging_filename (o2p.cfg) is not supported, because Portcullis writes its logs to stdout', /rotatelogs/);
  expectRefused(fromFile.errors, 'google_service_account_json (o2p.cfg) is not supported', /google provider/);
  assert.equal(fromFile.errors.length, 3, fromFile.errors.join('\n'));
  assert.deepEqual(fromFile.warnings.map((w) => w.split(' ')[0]), ['show_debug_on_error', 'logging_local_time']);
});

test('bin/portcullis stops at a provider-specific flag, naming it and why, with the other problems (exit 2)', async () => {
  const p = await startProxy({ ...BASE_ENV, OAUTH2_PROXY_LOGGING_FILENAME: '/var/log/oauth2-proxy.log' }, { args: ['--github-team', 'ops', '--cookie-csrf-expire', 'soon'], waitFor: 'exit' });
  const out = p.lines.join('\n');
  assert.equal(p.child.exitCode, 2, out);
  assert.match(out, /- --github-team restricts who may sign in in oauth2-proxy and is not supported, because GitHub is not an OpenID Connect issuer/);
  assert.match(out, /- OAUTH2_PROXY_LOGGING_FILENAME \(environment\) is not supported, because Portcullis writes its logs to stdout and stderr/);
  assert.match(out, /- --cookie-csrf-expire: got "soon", expected a duration of at least 1s/);
  assert.doesNotMatch(out, /unknown option/);
});
