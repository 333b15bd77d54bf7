import { readFileSync } from 'node:fs';
import type { RawOptions } from './load.js';
import { OptionReader } from './reader.js';
import { validateAccess, type AccessPart } from './validation/access.js';
import { validateCookie } from './validation/cookie.js';
import { validatePages, type PagesConfig } from './validation/pages.js';
import { validateOperations, type OperationsPart } from './validation/operations.js';
import { validateHeaders, type HeadersPart } from './validation/headers.js';
import { validateProvider } from './validation/provider.js';
import { validateServer, type ServerPart } from './validation/server.js';
import { validateSessionStore, type SessionStoreConfig } from './validation/sessionstore.js';
import { validateUpstreams, type UpstreamsPart } from './validation/upstreams.js';
import { validateIdentityJwt, type IdentityJwtConfig } from './validation/identityjwt.js';
import { validateRoutesFile, type RoutesFilePart } from './validation/routesfile.js';
import { validateLogging, type LoggingPart } from './validation/logging.js';

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
export type { PagesConfig };
export type SameSite = 'lax' | 'strict' | 'none' | '';

/** One upstream as configured: `path` is the route it serves, `url` the URL as written (for logs). */
export type UpstreamSpec =
  /** Requests keep their own path when forwarded. */
  | { readonly kind: 'http'; readonly path: string; readonly url: URL }
  | { readonly kind: 'unix'; readonly path: string; readonly url: URL; readonly socketPath: string }
  /** The route prefix is removed from the request path to find the file under `dir`. */
  | { readonly kind: 'file'; readonly path: string; readonly url: URL; readonly dir: string }
  | { readonly kind: 'static'; readonly path: string; readonly url: URL; readonly code: number };

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

/**
 * Checks every option in one pass and returns every problem together, each naming what to change.
 * Each area (server, upstreams, provider, access, cookie, headers and logging) reads its own options
 * and returns its part, as oauth2-proxy's pkg/validation does per file; the messages of all areas
 * are gathered in the order of the option table.
 */
export function validateConfig(raw: RawOptions, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): Validated {
  const errors: string[] = [];
  const warnings: string[] = [];
  /** Runs one area with a reader of its own and gathers the messages it returns. */
  const area = <T>(check: (r: OptionReader) => T): T => {
    const r = new OptionReader(raw, readFile);
    const part = check(r);
    errors.push(...r.errors);
    warnings.push(...r.warnings);
    return part;
  };
  const server = area(validateServer);
  const config: Config = {
    ...server,
    ...area(validateUpstreams),
    provider: area((r) => validateProvider(r, server.proxyPrefix)),
    providers: [],
    ...area(validateAccess),
    ...area(validateRoutesFile),
    cookie: area(validateCookie),
    pages: area(validatePages),
    ...area(validateIdentityJwt),
    ...area(validateSessionStore),
    ...area(validateHeaders),
    ...area((r) => ({
      requestLogging: r.bool('request_logging'),
      logLevel: r.enumOf('log_level'),
    })),
    ...area(validateOperations),
    ...area(validateLogging),
  };
  if (config.upstreams.length === 0 && errors.length === 0) {
    warnings.push('no OAUTH2_PROXY_UPSTREAMS set: signed-in requests get 404 (only the /oauth2 endpoints answer)');
  }
  // The claims routes_file rules read are the ones a login keeps (oidc/identity.ts).
  const keptClaims = config.routePolicies?.claimNames;
  const provider = keptClaims?.length ? { ...config.provider, keptClaims } : config.provider;
  const withClaims: Config = { ...config, provider, providers: [provider] };
  return errors.length ? { ok: false, errors, warnings } : { ok: true, config: withClaims, warnings };
}

/** `host:port`, `http://host:port`, `:port`, or `unix:///path[,mode=0660]` (oauth2-proxy's socket mode syntax). */
export function parseListenAddress(v: string): ListenAddress | undefined {
  if (/^unix:\/\//i.test(v)) {
    const [p, ...opts] = v.slice('unix://'.length).split(',');
    if (!p!.startsWith('/') || opts.length > 1) return undefined;
    if (opts.length === 0) return { kind: 'unix', path: p! };
    const m = /^mode=(0?[0-7]{3})$/.exec(opts[0]!);
    return m ? { kind: 'unix', path: p!, mode: parseInt(m[1]!, 8) } : undefined;
  }
  const hostPort = v.replace(/^https?:\/\//, '');
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:/\s]*):(\d{1,5})$/.exec(hostPort);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { kind: 'tcp', host: (m[1] || '0.0.0.0').replace(/^\[|\]$/g, ''), port };
}
