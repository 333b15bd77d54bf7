/**
 * The typed configuration: what both readers (flags, variables and the TOML file; the alpha YAML
 * file) produce and what every module reads. Types only, imported by config/validation/* and by the
 * modules above config alike, so that neither side imports the other's code.
 */
import type { KeyObject } from 'node:crypto';
import type { AddressRanges } from '../access/cidr.js';
import type { AllowedDomains } from '../access/redirect.js';
import type { RoutePolicies } from '../access/routepolicies.js';
import type { RouteRules } from '../access/routes.js';
import type { Template } from './template.js';

/** An issuer whose tokens are accepted, and the audience they must carry. */
export interface JwtIssuer {
  readonly issuer: string;
  readonly audience: string;
}

/** One signing key: the private key, its public JWK (with kid and alg) for the JWKS. */
export interface IdentityKey {
  readonly privateKey: KeyObject;
  readonly alg: 'ES256' | 'EdDSA';
  readonly kid: string;
  readonly publicJwk: Readonly<Record<string, string>>;
}

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string; mode?: number };

/** The HTTPS listener: where, the certificate and key (PEM text), the lowest TLS version. */
export interface TlsListener {
  readonly address: { kind: 'tcp'; host: string; port: number };
  readonly cert: string;
  readonly key: string;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** tls_cipher_suites as OpenSSL names, for TLS 1.2; unset: Node's defaults. */
  readonly ciphers?: string;
}
export type SameSite = 'lax' | 'strict' | 'none' | '';

/** One upstream as configured: `path` is the route it serves, `url` the URL as written (for logs). */
export type UpstreamSpec = (
  /** Requests keep their own path when forwarded. */
  | { readonly kind: 'http'; readonly path: string; readonly url: URL }
  | { readonly kind: 'unix'; readonly path: string; readonly url: URL; readonly socketPath: string }
  /** The route prefix is removed from the request path to find the file under `dir`. */
  | { readonly kind: 'file'; readonly path: string; readonly url: URL; readonly dir: string }
  | { readonly kind: 'static'; readonly path: string; readonly url: URL; readonly code: number }
) & {
  /** Alpha `rewriteTarget`: `path` is a regular expression matched against the request path, replaced by the target. */
  readonly rewrite?: UpstreamRewrite;
  /** Alpha per-upstream settings where they differ from the global ones (UpstreamsPart). */
  readonly settings?: UpstreamSettings;
};

/** An alpha upstream whose path is a regular expression: the request path is rewritten to `target` ($1, $<name>). */
export interface UpstreamRewrite {
  readonly pattern: RegExp;
  readonly target: string;
}

/** One upstream's own settings (alpha upstreamConfig), each overriding the global option of the same meaning. */
export interface UpstreamSettings {
  readonly passHostHeader?: boolean;
  readonly proxyWebSockets?: boolean;
  readonly timeoutMs?: number;
  readonly insecureSkipVerify?: boolean;
  readonly disableKeepAlives?: boolean;
}

/** One header the proxy sets (alpha injectRequestHeaders / injectResponseHeaders). */
export interface InjectedHeader {
  /** Lower case. */
  readonly name: string;
  /** True: added to the client's own value; false: the client's is removed. */
  readonly preserveRequestValue: boolean;
  readonly values: readonly InjectedValue[];
}

/**
 * A header value: a claim (a session field user, email, groups, preferred_username, sub,
 * access_token, id_token, or any claim of the ID token or userinfo), with a prefix, or as HTTP Basic
 * credentials with a password; or a secret fixed at start-up.
 */
export type InjectedValue =
  | { readonly kind: 'claim'; readonly claim: string; readonly prefix: string; readonly basicAuthPassword?: string }
  | { readonly kind: 'secret'; readonly value: string };

export interface CookieConfig {
  readonly name: string;
  /** Seals; `previousSecrets` (newest first) only unseal, so a rotation signs no one out. */
  readonly secret: Buffer;
  readonly previousSecrets: readonly Buffer[];
  readonly domains: readonly string[];
  readonly path: string;
  readonly expireMs: number;
  /** 0: sessions are never refreshed (and keep no refresh token). */
  readonly refreshMs: number;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: SameSite;
  /**
   * The login-state (CSRF) cookies, oauth2-proxy's cookie_csrf_* options; unset: one cookie per
   * login attempt, at most five kept, a 15-minute window, SameSite from the session cookie.
   */
  readonly csrf?: LoginStateCookieConfig;
}

export interface LoginStateCookieConfig {
  /** How long a login may take from /start to the callback (cookie_csrf_expire). */
  readonly windowMs: number;
  /** One cookie per attempt, named after its state (cookie_csrf_per_request); false: one for all. */
  readonly perRequest: boolean;
  /** Most cookies a browser keeps, oldest dropped first; 0: no limit (cookie_csrf_per_request_limit). */
  readonly limit: number;
  /** cookie_csrf_samesite; undefined: the session cookie's, strict taken as lax. */
  readonly sameSite?: SameSite;
}

export interface ProviderConfig {
  /**
   * Names the provider in /oauth2/start?provider=, in sessions and in logs. The alpha configuration's
   * `id`; for the legacy single provider `oidc=<client_id>`, as oauth2-proxy's converter names it.
   */
  readonly id: string;
  /** Shown on the sign-in page (alpha `name`, legacy provider_display_name). */
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
  readonly allowUnverifiedEmail: boolean;
  /** Sent with every login when set: prompt (or, without it, the legacy approval_prompt) and acr_values. */
  readonly prompt?: string;
  readonly approvalPrompt?: string;
  readonly acrValues?: string;
  /** Audiences an ID token may name besides client_id, and the claims read for them (oauth2-proxy's rule). */
  readonly extraAudiences: readonly string[];
  readonly audienceClaims: readonly string[];
  /** Called at sign-out with `{id_token}` replaced; kept as written (a URL parser would encode the braces). */
  readonly backendLogoutUrl?: string;
  /** PEM certificates the issuer's TLS is checked against (provider_ca_files), when set. */
  readonly caCertificates?: readonly string[];
  /** ssl_insecure_skip_verify: the issuer's TLS certificate is not checked. */
  readonly insecureSkipVerify?: boolean;
  /** auth_request_response_mode, sent as response_mode when set; form_post makes the callback take a POST. */
  readonly responseMode?: 'query' | 'form_post';
  /** insecure_oidc_skip_nonce: an ID token without a nonce passes (one with a nonce must still match). */
  readonly skipNonce?: boolean;
  /** insecure_oidc_skip_issuer_verification: discovery may name another issuer (its ID tokens must carry that one). */
  readonly skipIssuerVerification?: boolean;
  /** oidc_enabled_signing_algs: the only algorithms an ID token may use. */
  readonly signingAlgs?: readonly string[];
  /** oidc_public_key_files: PEM public keys verifying ID tokens (and bearer JWTs) instead of a JWKS. */
  readonly publicKeys?: readonly string[];
  /** skip_claims_from_profile_url: userinfo is not asked for claims a verified ID token lacks. */
  readonly skipClaimsFromProfileUrl?: boolean;
  /** Claims a session keeps besides the identity, because routes_file rules read them. */
  readonly keptClaims?: readonly string[];
  /** Alpha `allowedGroups`: groups a user of this provider must have one of (on top of the global allowed_groups). */
  readonly allowedGroups?: readonly string[];
  /** Portcullis addition: the email domains this provider may assert; unset: the global email_domains. */
  readonly emailDomains?: readonly string[];
  /** Portcullis addition (home-realm discovery): a login_hint or typed email at these domains goes to this provider. */
  readonly homeDomains?: readonly string[];
  /** Alpha `loginURLParameters`: extra authorization-request parameters, with defaults and what a caller may set. */
  readonly loginUrlParameters?: readonly LoginUrlParameter[];
  /**
   * Portcullis addition: how the client authenticates at the token endpoint when it is not the
   * secret (private_key_jwt, mTLS); unset: the secret, basic or post as the issuer lists them.
   */
  readonly clientAuth?: ClientCredentials;
  /** Portcullis addition: a TLS client certificate for every call to the issuer (RFC 8705), read at start-up. */
  readonly clientTls?: { readonly cert: string; readonly key: string; readonly certFile: string };
  /** Portcullis addition: push authorization requests (RFC 9126) even when the issuer does not require it. */
  readonly pushedAuthorizationRequests?: boolean;
  /** Portcullis addition: DPoP-bound tokens (RFC 9449), one key per session. */
  readonly dpop?: boolean;
  /** Portcullis addition: the FAPI 2.0 Security Profile; the issuer's metadata is checked against it at discovery. */
  readonly fapi2?: boolean;
}

/** A client authentication without a shared secret (ProviderConfig.clientAuth). */
export type ClientCredentials =
  /** RFC 7523 with a key of our own, re-read when the file changes. */
  | { readonly method: 'private_key_jwt'; readonly keyFile: string; readonly certificateFile?: string; readonly audience: 'issuer' | 'token_endpoint' }
  /** RFC 7523 with a JWT the platform writes (workload identity), read for every call. */
  | { readonly method: 'private_key_jwt'; readonly assertionFile: string }
  /** RFC 8705: the TLS client certificate (clientTls) is the credential. */
  | { readonly method: 'tls_client_auth' | 'self_signed_tls_client_auth' };

/** One of oauth2-proxy's alpha `loginURLParameters`: sent with its default, or from the /oauth2/start query when allowed. */
export interface LoginUrlParameter {
  readonly name: string;
  readonly default?: readonly string[];
  /** Values a caller may pass on /oauth2/start: exact values or anchored regexes; empty: none. */
  readonly allow?: readonly ({ readonly value: string } | { readonly pattern: RegExp })[];
}

/** Every part as its validation area returns it, plus the parts read in place. */
export interface Config extends ServerPart, UpstreamsPart, AccessPart, RoutesFilePart, HeadersPart, OperationsPart, LoggingPart {
  /** The first of `providers`: the only one with legacy options, the default one with several. */
  readonly provider: ProviderConfig;
  /** Every provider, in the order configured (one with legacy options; alpha `providers:` may list several). */
  readonly providers: readonly ProviderConfig[];
  readonly cookie: CookieConfig;
  readonly pages: PagesConfig;
  readonly sessionStore: SessionStoreConfig;
  /** Set when pass_identity_jwt is on. */
  readonly identityJwt?: IdentityJwtConfig;
  readonly requestLogging: boolean;
  readonly logLevel: string;
}

export type Validated = { ok: true; config: Config; warnings: string[] } | { ok: false; errors: string[]; warnings: string[] };

export interface AccessPart {
  readonly emailDomains: readonly string[];
  /** authenticated_emails_file: its path and its text as read at start-up. */
  readonly authenticatedEmails?: { readonly file: string; readonly text: string };
  readonly allowedGroups: readonly string[];
  readonly skipProviderButton: boolean;
  /** skip_auth_routes, skip_auth_regex, skip_auth_preflight and api_routes, compiled. */
  readonly routes: RouteRules;
  /** Set with skip_jwt_bearer_tokens. */
  readonly bearer?: { readonly extraIssuers: readonly JwtIssuer[]; readonly loginFallback: boolean };
  /** whitelist_domains: hosts that rd and the sign-out target may name. */
  readonly whitelistDomains: AllowedDomains;
  /** trusted_ips: clients let in without login; undefined when none. */
  readonly trustedIps?: AddressRanges;
}

export interface PagesConfig {
  /** As configured: '' is the default, '-' none, anything else HTML. */
  readonly banner: string;
  readonly footer: string;
  /** The sign-in logo as an <img> element, or '' for none. */
  readonly logo: string;
  readonly imageOrigins: readonly string[];
  readonly signInTemplate?: Template;
  readonly errorTemplate?: Template;
  /** force_json_errors: errors, and requests without a session, answered with JSON. */
  readonly jsonErrors?: boolean;
}

export interface OperationsPart {
  /** Where /metrics is served; undefined: no metrics (nothing subscribes, requests pay nothing). */
  readonly metricsAddress: ListenAddress | undefined;
  /** metrics_secure_address: /metrics over HTTPS as well (or instead). */
  readonly metricsTls?: TlsListener;
  /** The request id header as configured (its spelling goes on responses); undefined: no request ids. */
  readonly requestIdHeader: string | undefined;
  readonly silencePingLogging: boolean;
  readonly excludeLoggingPaths: readonly string[];
}

export interface HeadersPart {
  readonly passUserHeaders: boolean;
  readonly passAccessToken: boolean;
  readonly setXAuthRequest: boolean;
  /** pass_basic_auth: with basic_auth_password, Authorization: Basic upstream; also the user headers. */
  readonly passBasicAuth: boolean;
  readonly basicAuthPassword: string;
  readonly preferEmailToUser: boolean;
  readonly passAuthorizationHeader: boolean;
  readonly setAuthorizationHeader: boolean;
  /** set_basic_auth: Authorization: Basic on /oauth2/auth answers. */
  readonly setBasicAuth: boolean;
  /** Alpha injectRequestHeaders: set, these headers go upstream instead of the ones the flags above choose. */
  readonly injectRequestHeaders?: readonly InjectedHeader[];
  /** Alpha injectResponseHeaders: set, these go on /oauth2/auth answers instead of the ones the flags above choose. */
  readonly injectResponseHeaders?: readonly InjectedHeader[];
}

export interface ServerPart {
  readonly listen?: ListenAddress;
  readonly https?: TlsListener;
  readonly forceHttps: boolean;
  readonly proxyPrefix: string;
  readonly pingPath: string;
  readonly readyPath: string;
  readonly reverseProxy: boolean;
  readonly trustedProxies: AddressRanges;
  readonly realClientIpHeader: string;
  /** 0 for no limit. */
  readonly maxConnections: number;
  /** Answered 200 OK as health checks: ping_path, and with gcp_healthchecks /liveness_check and /readiness_check. */
  readonly healthCheckPaths: readonly string[];
  /** Non-empty: the health-check paths answer only these User-Agents (ping_user_agent, GoogleHC/1.0), as in oauth2-proxy. */
  readonly healthCheckUserAgents: readonly string[];
  /** allow_query_semicolons: `;` in a query string is read (and forwarded) as `&`. */
  readonly allowQuerySemicolons: boolean;
  /** Processes serving requests: 1 is a single process; more run under node:cluster (server/workers.ts). */
  readonly workers: number;
}

/** Where one Redis server is: host and port, or a unix socket. */
export type RedisAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/** How to reach Redis, in one of the three shapes oauth2-proxy supports. */
export type RedisConfig = {
  readonly username?: string;
  readonly password?: string;
  /** PING a connection after this many quiet seconds (0: never). */
  readonly idleTimeoutS: number;
  /**
   * TLS beyond what a rediss:// URL asks for: redis_ca_path (trusted besides the system's) and
   * redis_insecure_skip_tls_verify, either of which turns TLS on, as in oauth2-proxy.
   */
  readonly tlsOptions?: { readonly ca?: readonly string[]; readonly insecure?: boolean };
} & (
  | { readonly mode: 'standalone'; readonly address: RedisAddress; readonly tls: boolean; readonly db: number }
  | { readonly mode: 'sentinel'; readonly masterName: string; readonly sentinels: ReadonlyArray<{ host: string; port: number }>; readonly sentinelPassword?: string; readonly tls?: boolean }
  | { readonly mode: 'cluster'; readonly nodes: ReadonlyArray<{ host: string; port: number }>; readonly tls?: boolean }
);

export interface SessionStoreConfig {
  readonly type: 'cookie' | 'redis';
  /** session_cookie_minimal: cookie sessions keep no token at all. */
  readonly minimal?: boolean;
  /** Set with session_store_type=redis, or with cookie sessions when a Redis URL is given (shared revocations). */
  readonly redis?: RedisConfig;
}

export interface IdentityJwtConfig {
  readonly header: string;
  readonly keys: readonly IdentityKey[];
  /** True when no key file was given and a key was made at start-up. */
  readonly generated: boolean;
  readonly lifetimeS: number;
  readonly audience?: string;
  readonly issuer?: string;
}

export interface RoutesFilePart {
  /** routes_file, compiled; unset without one. */
  readonly routePolicies?: RoutePolicies;
}

export interface LoggingPart {
  /** auth_logging: login, sign-out, refusals and the like are logged. */
  readonly authLogging: boolean;
  /** standard_logging: what the proxy does is logged; false keeps only errors. */
  readonly standardLogging: boolean;
  /** errors_to_info_log: error lines go to stdout with the rest rather than to stderr. */
  readonly errorsToInfoLog: boolean;
}

export interface UpstreamsPart {
  readonly upstreams: readonly UpstreamSpec[];
  readonly passHostHeader: boolean;
  readonly proxyWebsockets: boolean;
  readonly upstreamTimeoutMs: number;
  readonly sslUpstreamInsecureSkipVerify: boolean;
  /** disable_keep_alives: a new upstream connection for every request. */
  readonly disableKeepAlives: boolean;
  /**
   * Alpha upstreamConfig.proxyRawPath false (oauth2-proxy's default there): upstreams are chosen by
   * the percent-decoded path. Unset: by the path as sent, the legacy options' only way.
   */
  readonly upstreamPathsDecoded?: true;
}
