// Dev issuer: a real OpenID Provider (oidc-provider 9), shaped like Ory Hydra or Crossid, used by the
// test suite as the issuer and by the proxy's demo mode. All state is in memory and survives
// stop()/start(), so tests can take the issuer down and bring it back on the same port.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import type { Adapter, AdapterPayload, Configuration, JWK, KoaContextWithOIDC } from 'oidc-provider';
import { BASE_CSS } from '../pages/style.js';

export type IssuerShape = 'hydra' | 'crossid';
export interface DevClient {
  /** '' for a client without a secret (private_key_jwt, mTLS: see `metadata`). */
  client_id: string; client_secret: string; redirect_uris: string[]; post_logout_redirect_uris?: string[];
  /**
   * More registered metadata, over the defaults: token_endpoint_auth_method (private_key_jwt with
   * `jwks` of its public keys, tls_client_auth with tls_client_auth_subject_dn, ...),
   * dpop_bound_access_tokens, tls_client_certificate_bound_access_tokens, ...
   */
  metadata?: Record<string, unknown>;
  /** Where the issuer POSTs logout tokens (OIDC Back-Channel Logout); with it, ID tokens carry `sid`. */
  backchannel_logout_uri?: string;
}
export interface DevAccount {
  sub: string; email: string; email_verified?: boolean; name?: string; preferred_username?: string; groups?: string[];
  /** More claims of the account (department, roles, …), released with the profile scope. */
  claims?: Record<string, unknown>;
  /** What this account may do, shown beside it on the sign-in page (the demo says what each user may reach). */
  note?: string;
}
export interface DevIssuerOptions {
  shape: IssuerShape;
  port?: number;
  /**
   * The host name in the issuer's URL (it always listens on 127.0.0.1): `localhost` keeps its
   * cookies away from an app on 127.0.0.1, since browsers share cookies across the ports of a host.
   */
  hostname?: 'localhost' | '127.0.0.1';
  /** Where its pages send a person back to (a stale sign-in step): by default the first client's redirect URI's origin. */
  appUrl?: string;
  /** What its sign-in page says it stands in for; unset: your company's identity provider. */
  standsFor?: string;
  clients: DevClient[];
  accounts?: DevAccount[];
  interactive?: boolean;
  /**
   * Where the provider is mounted and how its issuer URL ends, to stand in for other issuers' URL
   * shapes (discovery is then served under that path): `path` as Keycloak's `/realms/NAME` or Entra
   * ID's `/TENANT/v2.0` (none: the root; the crossid shape has `/oauth2`), `trailingSlash` false for
   * an issuer URL without one (Keycloak, Entra ID, Okta, Google); Hydra, Crossid and Auth0 have it.
   */
  mount?: { path?: string; trailingSlash?: boolean };
  /** Serve HTTPS with this certificate and key (PEM) instead of plain HTTP. */
  tls?: { cert: string; key: string };
  claimsInIdToken?: boolean;
  audienceParam?: string;
  /** Token lifetimes in seconds (tests of expiry and refresh set them short). */
  ttl?: { accessToken?: number; idToken?: number; refreshToken?: number };
  /** Issue a new refresh token on every refresh, the old one spent (oidc-provider's default is to rotate only near expiry). */
  rotateRefreshTokens?: boolean;
  /** Answer refresh grants without an ID token, as some issuers do (OIDC Core 12.2 makes it optional). */
  noIdTokenOnRefresh?: boolean;
  /**
   * The authentication context classes this issuer can vouch for (acr_values_supported). With them,
   * ID tokens carry `acr` (the one the login was given with loginAs), and a request whose
   * acr_values the current login does not meet asks the user to sign in again, as Keycloak and
   * Okta do for step-up.
   */
  acrValues?: string[];
  /** Every ID token says when the user signed in (auth_time), as Keycloak's do; else only when asked (max_age). */
  requireAuthTime?: boolean;
  /**
   * API clients: the client_credentials grant with `resource=<audience>` (or `resource=urn:aud:<name>`
   * for an audience that is no URI) answers a JWT access token (RS256, `sub` the client id) for that
   * audience, valid `ttlSeconds(audience)` seconds (3600 by default).
   */
  jwtAccessTokens?: { ttlSeconds?: (audience: string) => number };
  /** Pushed authorization requests (RFC 9126): served, and with `required` demanded of every client. */
  par?: { required?: boolean };
  /** DPoP (RFC 9449): off makes the issuer one that does not offer it (oidc-provider's default is on). */
  dpop?: { enabled: boolean };
  /**
   * Mutual TLS (RFC 8705), with `tls`: client certificates are asked for (checked against
   * `clientCa` for tls_client_auth), certificate-bound tokens and both mTLS client authentications
   * offered. `aliasHost`: mtls_endpoint_aliases naming this host instead of 127.0.0.1 (same server).
   */
  mtls?: { clientCa: string; aliasHost?: string };
  /** The FAPI 2.0 Security Profile as oidc-provider enforces it, with only PS256, ES256 and EdDSA, and PAR required. */
  fapi2?: boolean;
  /** token_endpoint_auth_methods_supported (oidc-provider's clientAuthMethods); unset: its defaults. */
  clientAuthMethods?: string[];
  /** token_endpoint_auth_signing_alg_values_supported (clientAuthSigningAlgValues); unset: its defaults. */
  clientAuthSigningAlgs?: string[];
}
/** How the token endpoint answers while broken on purpose (an outage, a load balancer's error page). */
export interface TokenEndpointFault { status: number; contentType: string; body: string }
export interface DevIssuer {
  issuer: string;
  port: number;
  endpoints: { discovery: string; authorization: string; token: string; userinfo: string; jwks: string; endSession: string };
  /**
   * The account the next non-interactive logins sign in as, the `acr` (and `amr`) those logins are
   * given (none by default: a login without a second factor), and when they happened (`authTime`,
   * seconds since the epoch; now by default): an old one makes a session whose sign-in is stale.
   */
  loginAs(sub: string, o?: { acr?: string; amr?: string[]; authTime?: number }): void;
  /** `signWith: 'foreign'` signs with a key the issuer never published (same kid): a forgery. */
  mangleNextIdToken(fn: (claims: Record<string, unknown>) => Record<string, unknown>, signWith?: 'issuer' | 'foreign'): void;
  /**
   * A key rotation as an issuer does it: a new signing key (new kid) published beside the old one in
   * the JWKS, and every ID token from now on signed with it.
   */
  rotateKeys(): void;
  /** Revokes every refresh token of an account (the admin ending its sessions): a refresh then gets invalid_grant. */
  revokeRefreshTokens(sub: string): number;
  /** While set, the token endpoint answers with this instead (undefined: works again). */
  breakTokenEndpoint(fault: TokenEndpointFault | undefined): void;
  /** While set, the token endpoint answers this many milliseconds late (a slow issuer; 0: at once). */
  slowTokenEndpoint(ms: number): void;
  /** Refresh-token grants the issuer completed, and refused. */
  readonly refreshGrants: { succeeded: number; failed: number };
  /** While on, every token and userinfo request must carry a DPoP proof with a fresh nonce of the issuer's (use_dpop_nonce). */
  requireDpopNonce(on: boolean): void;
  /** What reached the issuer: per endpoint path, the last request's Host, Authorization and DPoP headers, and counts. */
  readonly seen: Map<string, { host?: string; authorization?: string; dpop?: string; count: number }>;
  /** A JWT with these claims and header fields, signed with the issuer's key (or a foreign one): for crafted logout tokens. */
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>, signWith?: 'issuer' | 'foreign'): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

const DEFAULT_ACCOUNT: DevAccount = {
  sub: 'demo-user-1', email: 'demo@example.com', email_verified: true, name: 'Demo User', preferred_username: 'demo', groups: ['demo'],
};

// oidc-provider prints "Unsupported runtime" (console.warn) while its module is evaluated on Node 20.
// Import it lazily with exactly that message filtered out, so tests and demo mode stay quiet.
let providerModule: Promise<typeof import('oidc-provider')> | undefined;
function loadProvider(): Promise<typeof import('oidc-provider')> {
  if (!providerModule) {
    const warn = console.warn;
    const filtered = (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      warn.apply(console, args);
    };
    console.warn = filtered;
    providerModule = import('oidc-provider').finally(() => { if (console.warn === filtered) console.warn = warn; });
  }
  return providerModule;
}

// Per-issuer in-memory storage. Passing our own adapter also avoids oidc-provider's "development-only
// in-memory adapter" warning, and two issuers in one process never share state.
function memoryAdapter(store: Map<string, { payload: AdapterPayload; exp: number }>): (model: string) => Adapter {
  const live = (key: string): AdapterPayload | undefined => {
    const entry = store.get(key);
    if (entry && entry.exp <= Date.now()) { store.delete(key); return undefined; }
    return entry?.payload;
  };
  const findBy = (model: string, field: 'uid' | 'userCode', value: string): AdapterPayload | undefined => {
    for (const key of store.keys()) {
      if (!key.startsWith(`${model}:`)) continue;
      const payload = live(key);
      if (payload?.[field] === value) return payload;
    }
    return undefined;
  };
  return (model) => ({
    async upsert(id, payload, expiresIn) {
      store.set(`${model}:${id}`, { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    },
    async find(id) { return live(`${model}:${id}`); },
    async findByUid(uid) { return findBy(model, 'uid', uid); },
    async findByUserCode(userCode) { return findBy(model, 'userCode', userCode); },
    async consume(id) { const p = live(`${model}:${id}`); if (p) p.consumed = Math.floor(Date.now() / 1000); },
    async destroy(id) { store.delete(`${model}:${id}`); },
    async revokeByGrantId(grantId) { for (const [key, e] of store) if (e.payload.grantId === grantId) store.delete(key); },
  });
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The issuer's pages: the proxy's look, under a strip that says whose page it is. */
const ISSUER_CSS = `${BASE_CSS}
.idp{display:inline-block;font-size:.8rem;font-weight:700;letter-spacing:.04em;text-transform:uppercase;color:var(--muted);border:1px solid var(--line);border-radius:999px;padding:.15rem .7rem;margin-bottom:1rem}
.accounts{display:grid;gap:.75rem;margin:1.25rem 0 .5rem;text-align:left}
.account{min-width:0;border:1px solid var(--line);border-radius:10px;padding:.9rem 1rem}
.account p{margin:.2rem 0}.account .button{display:block;width:100%;margin-top:.6rem}
.account code{background:var(--code);border-radius:4px;padding:0 .3rem}`;

const page = (title: string, body: string, o: { script?: string } = {}): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
  + `<meta name="color-scheme" content="light dark"><meta name="robots" content="noindex"><title>${esc(title)}</title><link rel="icon" href="data:,"><style>${ISSUER_CSS}</style></head>`
  + `<body><div class="page"><main class="card"><p class="idp">Demo identity provider</p>${body}</main>`
  + `<footer>The dev issuer: a real OpenID Provider (oidc-provider) standing in for your company's identity provider in the demo and the tests.</footer></div>${o.script ?? ''}</body></html>`;

/** The sign-in page: what it stands in for, and each account with what it may do. */
function signInPage(action: string, accounts: readonly DevAccount[], clientId: string, standsFor = "your company's identity provider (Okta, Microsoft Entra ID, Google, Keycloak…)"): string {
  const forms = accounts.map((a) => `<div class="account"><form method="post" action="${esc(action)}"><input type="hidden" name="sub" value="${esc(a.sub)}">`
    + `<p><strong>${esc(a.name ?? a.preferred_username ?? a.sub)}</strong> · ${esc(a.email)}</p>`
    + `<p>Groups: ${a.groups?.length ? a.groups.map((g) => `<code>${esc(g)}</code>`).join(' ') : 'none'}</p>`
    + `${a.note ? `<p class="lead">${esc(a.note)}</p>` : ''}`
    + `<button class="button" type="submit">Sign in as ${esc(a.email)}</button></form></div>`);
  return page('Sign in: demo identity provider', `<h1>Sign in</h1>
<p class="lead">This page stands in for ${esc(standsFor)}, where you would type your password. Here there is no password: choose who you are.</p>
<div class="accounts">${forms.join('\n')}</div>
<p><small>Signing in to <code>${esc(clientId)}</code>.</small></p>`);
}

/** A sign-in step that is over (finished, or expired): say so, and lead back to the app. */
function staleInteractionPage(appUrl: string): string {
  return page('This sign-in step is over', `<h1>This sign-in step is over</h1>
<p id="stale">It was already finished, or it expired, so it cannot be used again (this happens when you go back to it after signing in).</p>
<div class="actions"><a class="button" id="back-to-app" href="${esc(appUrl)}">Back to the app</a></div>
<p><small>Error: invalid_request (no interaction in progress).</small></p>`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => { data += chunk; if (data.length > 65536) req.destroy(); });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * oidc-provider's login policy, plus step-up: acr_values are only a wish to oidc-provider (it asks
 * for a login again only for an essential acr in the claims parameter), while Keycloak, Okta and
 * Auth0 ask the user again when the current login does not meet them. A login just finished in this
 * interaction counts as the answer, whatever acr it got, so a login that cannot meet them ends
 * instead of asking for ever.
 */
function loginPolicy(policies: typeof import('oidc-provider').interactionPolicy, stepUp: boolean): ReturnType<typeof policies.base> {
  const policy = policies.base();
  if (!stepUp) return policy;
  policy.get('login')!.checks.add(new policies.Check('acr_values', 'the current login does not meet the requested acr_values', 'login_required', (ctx) => {
    const wanted = ctx.oidc.params?.acr_values;
    if (typeof wanted !== 'string' || wanted === '' || ctx.oidc.result?.login) return policies.Check.NO_NEED_TO_PROMPT;
    return wanted.split(' ').includes(String(ctx.oidc.session?.acr)) ? policies.Check.NO_NEED_TO_PROMPT : policies.Check.REQUEST_PROMPT;
  }));
  return policy;
}

export async function startDevIssuer(opts: DevIssuerOptions): Promise<DevIssuer> {
  const { default: Provider, errors, interactionPolicy } = await loadProvider();
  const accounts = opts.accounts?.length ? opts.accounts : [DEFAULT_ACCOUNT];
  const prefix = opts.shape === 'crossid' ? '/oauth2' : (opts.mount?.path ?? ''); // where the provider is mounted
  const audience = opts.shape === 'crossid' ? (opts.audienceParam ?? 'oauth2proxy') : undefined;
  let loginSub = accounts[0].sub;
  let loginAuth: { acr?: string; amr?: string[]; ts?: number } = {};
  let mangler: ((claims: Record<string, unknown>) => Record<string, unknown>) | undefined;
  let signWith: 'issuer' | 'foreign' = 'issuer';
  let tokenFault: TokenEndpointFault | undefined;
  let tokenDelayMs = 0;
  const refreshGrants = { succeeded: 0, failed: 0 };
  const stored = new Map<string, { payload: AdapterPayload; exp: number }>();
  const appUrl = opts.appUrl ?? (opts.clients[0]?.redirect_uris[0] ? `${new URL(opts.clients[0].redirect_uris[0]).origin}/` : '/');

  // The server is created first and its handler set later: oidc-provider needs the issuer URL (and
  // so the port, when ephemeral) at construction time. It listens only once the config is built.
  const sockets = new Set<Socket>();
  let handler = (_req: IncomingMessage, res: ServerResponse): void => send(res, 503, 'text/plain', 'starting');
  const server = opts.tls
    // mTLS: a certificate is asked for but not demanded (discovery and the browser come without one);
    // oidc-provider decides per client whether the one given is good enough.
    ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key, ...(opts.mtls ? { requestCert: true, rejectUnauthorized: false, ca: [opts.mtls.clientCa] } : {}) }, (req, res) => handler(req, res))
    : http.createServer((req, res) => handler(req, res));
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const listen = (p: number): Promise<void> => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } as JWK;
  const publicJwk = { ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  let rotated: { key: KeyObject; kid: string; publicJwk: Record<string, unknown> } | undefined;
  // FAPI 2.0 allows no RS256: ID tokens are then signed with an ES256 key.
  const ecKey = opts.fapi2 ? { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'ES256', use: 'sig' } as JWK : undefined;
  let dpopNonce = false;
  const seen = new Map<string, { host?: string; authorization?: string; dpop?: string; count: number }>();
  const fapiAlgs = ['PS256', 'ES256', 'EdDSA'];

  const routes = opts.shape === 'hydra'
    ? { authorization: '/oauth2/auth', token: '/oauth2/token', userinfo: '/userinfo', jwks: '/.well-known/jwks.json',
      end_session: '/oauth2/sessions/logout', revocation: '/oauth2/revoke', introspection: '/oauth2/introspect' }
    // Crossid: the provider sees paths with the /oauth2 prefix already stripped (see route() below).
    : { authorization: '/auth', token: '/token', userinfo: '/userinfo', jwks: '/.well-known/jwks.json',
      end_session: '/sessions/logout', revocation: '/revoke', introspection: '/introspect' };
  const sameClient = (_ctx: KoaContextWithOIDC, client: { clientId: string }, token: { clientId?: string }): boolean =>
    token.clientId === client.clientId;

  const config: Configuration = {
    clients: opts.clients.map((c) => ({
      client_id: c.client_id,
      ...(c.client_secret ? { client_secret: c.client_secret } : {}),
      redirect_uris: c.redirect_uris,
      // Not part of Hydra/Crossid client config here; default to each redirect URI's origin + '/'.
      // and, for a redirect URI ending in /callback, the sign_out beside it (a proxy's RP-initiated logout).
      post_logout_redirect_uris: c.post_logout_redirect_uris
        ?? [...new Set(c.redirect_uris.flatMap((u) => [`${new URL(u).origin}/`, ...(u.endsWith('/callback') ? [u.replace(/\/callback$/, '/sign_out')] : [])]))],
      grant_types: ['authorization_code', 'refresh_token', ...(opts.jwtAccessTokens ? ['client_credentials'] : [])],
      response_types: ['code'],
      // oidc-provider accepts client_secret_post as well for a client registered with basic.
      token_endpoint_auth_method: 'client_secret_basic',
      ...(opts.fapi2 ? { id_token_signed_response_alg: 'ES256' } : {}),
      ...c.metadata,
      ...(opts.requireAuthTime ? { require_auth_time: true } : {}),
      ...(c.backchannel_logout_uri ? { backchannel_logout_uri: c.backchannel_logout_uri, backchannel_logout_session_required: true } : {}),
    })),
    jwks: { keys: ecKey ? [ecKey, privateJwk] : [privateJwk] },
    ...(opts.clientAuthMethods || opts.mtls ? {
      clientAuthMethods: (opts.clientAuthMethods ?? ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'none', 'tls_client_auth', 'self_signed_tls_client_auth']) as Configuration['clientAuthMethods'],
    } : {}),
    ...(opts.fapi2 || opts.clientAuthSigningAlgs ? {
      enabledJWA: {
        ...(opts.fapi2 ? { idTokenSigningAlgValues: fapiAlgs, dPoPSigningAlgValues: fapiAlgs, requestObjectSigningAlgValues: fapiAlgs } : {}),
        clientAuthSigningAlgValues: opts.clientAuthSigningAlgs ?? fapiAlgs,
      } as Configuration['enabledJWA'],
    } : {}),
    ...(opts.mtls?.aliasHost ? {
      discovery: {
        mtls_endpoint_aliases: Object.fromEntries(['token', 'userinfo', 'pushed_authorization_request'].map((e) => [`${e}_endpoint`, `https://${opts.mtls!.aliasHost}:{PORT}${prefix}${e === 'pushed_authorization_request' ? '/request' : (routes as Record<string, string>)[e]}`])),
      },
    } : {}),
    adapter: memoryAdapter(stored),
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // Cookies are not isolated by port: keep the issuer's names clear of any proxy's cookies.
      names: { session: '_devissuer_session', interaction: '_devissuer_interaction', resume: '_devissuer_resume' },
    },
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    // With acr values, `acr` rides with openid: ID tokens then always say how the user signed in,
    // as Keycloak's and Okta's do, not only when the request named acr_values.
    claims: {
      openid: opts.acrValues?.length ? ['sub', 'acr'] : ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', ...new Set(accounts.flatMap((a) => Object.keys(a.claims ?? {})))],
      groups: ['groups'],
    },
    conformIdTokenClaims: !opts.claimsInIdToken,
    findAccount: (_ctx, sub) => {
      const account = accounts.find((a) => a.sub === sub);
      if (!account) return undefined;
      const { claims: more, ...standard } = account;
      return { accountId: sub, claims: () => ({ ...more, ...standard }) };
    },
    interactions: { url: (_ctx, interaction) => `${prefix}/interaction/${interaction.uid}`, policy: loginPolicy(interactionPolicy, !!opts.acrValues?.length) },
    ...(opts.acrValues?.length ? { acrValues: opts.acrValues } : {}),
    routes,
    features: {
      devInteractions: { enabled: false },
      // On by default in oidc-provider; neither Hydra nor Crossid shape has it unless asked.
      pushedAuthorizationRequests: opts.par || opts.fapi2 ? { enabled: true, requirePushedAuthorizationRequests: !!(opts.par?.required || opts.fapi2) } : { enabled: false },
      dPoP: opts.dpop?.enabled === false ? { enabled: false } : { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => dpopNonce },
      ...(opts.fapi2 ? { fapi: { enabled: true, profile: '2.0' } } : {}),
      ...(opts.mtls ? {
        mTLS: {
          enabled: true, certificateBoundAccessTokens: true, tlsClientAuth: true, selfSignedTlsClientAuth: true,
          getCertificate: (ctx: KoaContextWithOIDC) => {
            const cert = (ctx.socket as import('node:tls').TLSSocket).getPeerX509Certificate?.();
            return cert ?? undefined;
          },
          certificateAuthorized: (ctx: KoaContextWithOIDC) => (ctx.socket as import('node:tls').TLSSocket).authorized === true,
          // Only the subject DN is compared here, written as Node prints it with commas: CN=a,O=b.
          certificateSubjectMatches: (ctx: KoaContextWithOIDC, property: string, expected: string) => property === 'tls_client_auth_subject_dn'
            && (ctx.socket as import('node:tls').TLSSocket).getPeerX509Certificate?.()?.subject.split('\n').join(',') === expected,
        },
      } : {}),
      userinfo: { enabled: true },
      revocation: { enabled: true, allowedPolicy: sameClient },
      backchannelLogout: { enabled: true },
      clientCredentials: { enabled: !!opts.jwtAccessTokens },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (!opts.jwtAccessTokens) throw new errors.InvalidTarget();
          // A resource indicator must be an absolute URI; `urn:aud:NAME` asks for the audience NAME
          // (a client id, say).
          const audience = indicator.startsWith('urn:aud:') ? indicator.slice('urn:aud:'.length) : indicator;
          return { scope: 'api', audience, accessTokenFormat: 'jwt', accessTokenTTL: opts.jwtAccessTokens.ttlSeconds?.(audience) ?? 3600, jwt: { sign: { alg: 'RS256' } } };
        },
      },
      introspection: { enabled: true, allowedPolicy: sameClient },
      rpInitiatedLogout: {
        enabled: true,
        // Confirmation page that submits itself (a browser signs out without a click).
        logoutSource: (ctx, form) => {
          ctx.type = 'html';
          ctx.body = page('Signing out', `<h1>Signing out…</h1><p>You are being signed out of the identity provider.</p>${form}<input type="hidden" name="logout" value="yes" form="op.logoutForm">`
            + '<div class="actions"><button class="button" type="submit" form="op.logoutForm">Sign out</button></div>',
          { script: '<script>document.getElementById("op.logoutForm").submit()</script>' });
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.type = 'html';
          ctx.body = page('Signed out', `<h1>Signed out</h1><p>You are signed out of the identity provider.</p><div class="actions"><a class="button" href="${esc(appUrl)}">Back to the app</a></div>`);
        },
      },
    },
    // Explicit values and functions: oidc-provider's defaults print "you SHOULD change" notices when used.
    ttl: {
      AccessToken: opts.ttl?.accessToken ?? 3600, AuthorizationCode: 60, IdToken: opts.ttl?.idToken ?? 3600,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 3600,
      RefreshToken: opts.ttl?.refreshToken ?? 14 * 86400, Interaction: 3600, Session: 14 * 86400, Grant: 14 * 86400,
    },
    ...(opts.rotateRefreshTokens ? { rotateRefreshToken: () => true } : {}),
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((u) => new URL(u).origin === origin) ?? false,
    // Logout tokens go to clients on loopback: oidc-provider's SSRF guard (the dispatcher it sets)
    // refuses those addresses, and this issuer only ever runs on loopback for tests and the demo.
    fetch: (url, init) => {
      const { dispatcher: _guard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(url, rest);
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<h1>The identity provider cannot go on</h1><p>${esc(String(out.error_description ?? 'The request was not valid.'))}</p>`
        + `<div class="actions"><a class="button" href="${esc(appUrl)}">Back to the app</a></div><p><small>Error: ${esc(String(out.error))}</small></p>`);
    },
  };

  await listen(opts.port ?? 0);
  const port = (server.address() as { port: number }).port;
  const base = `${opts.tls ? 'https' : 'http'}://${opts.hostname ?? '127.0.0.1'}:${port}${prefix}`;
  // Hydra's issuer has the trailing slash; Crossid's is .../oauth2/; Keycloak's and Entra ID's have none.
  const issuer = opts.mount?.trailingSlash === false ? base : `${base}/`;
  const aliases = (config.discovery as { mtls_endpoint_aliases?: Record<string, string> } | undefined)?.mtls_endpoint_aliases;
  if (aliases) for (const k of Object.keys(aliases)) aliases[k] = aliases[k]!.replace('{PORT}', String(port));
  let provider: InstanceType<typeof Provider>;
  try {
    provider = new Provider(issuer, config);
    // oidc-provider validates static clients lazily, at first use; fail at start-up instead.
    for (const c of opts.clients) await provider.Client.find(c.client_id);
  } catch (err) {
    server.close(); // don't leave a listening server behind (the process would not exit)
    throw err;
  }
  provider.proxy = false; // plain http on loopback: cookies are not "secure", URLs come from the request
  // Provider errors must neither crash the process nor print (Koa logs uncaught ones to stderr
  // unless silent). DEBUG=oidc-provider:* shows them when needed.
  provider.silent = true;
  provider.on('server_error', () => {});
  provider.on('grant.success', (ctx) => { if (ctx.oidc.params?.grant_type === 'refresh_token') refreshGrants.succeeded++; });
  provider.on('grant.error', (ctx) => { if (ctx.oidc.params?.grant_type === 'refresh_token') refreshGrants.failed++; });

  // Test hook: re-sign the next ID token after fn changed its claims (same header; the issuer's own
  // key, or a foreign one to forge a signature).
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    if (opts.noIdTokenOnRefresh && ctx.oidc?.params?.grant_type === 'refresh_token' && ctx.status === 200 && typeof body?.id_token === 'string') {
      const { id_token: _dropped, ...rest } = body;
      ctx.body = rest;
      return;
    }
    if (rotated && !mangler && ctx.status === 200 && typeof body?.id_token === 'string') {
      const header = decodeProtectedHeader(body.id_token);
      const idToken = await new SignJWT({ ...decodeJwt(body.id_token) }).setProtectedHeader({ ...header, alg: 'RS256', kid: rotated.kid }).sign(rotated.key);
      ctx.body = { ...body, id_token: idToken };
      return;
    }
    if (!mangler || ctx.status !== 200 || typeof body?.id_token !== 'string') return;
    const fn = mangler;
    const key = signWith === 'foreign' ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : privateKey;
    mangler = undefined;
    const header = decodeProtectedHeader(body.id_token);
    const claims = fn({ ...decodeJwt(body.id_token) });
    const idToken = await new SignJWT(claims).setProtectedHeader({ ...header, alg: 'RS256', kid }).sign(key);
    ctx.body = { ...body, id_token: idToken };
  });

  // Login and consent without a separate UI. Consent is always granted for what was asked.
  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return send(res, 400, 'text/html; charset=utf-8', staleInteractionPage(appUrl));
    const { prompt, params, session } = details;
    if (prompt.name === 'login') {
      if (!opts.interactive) {
        return provider.interactionFinished(req, res, { login: { accountId: loginSub, ...loginAuth } }, { mergeWithLastSubmission: false });
      }
      if (req.method === 'POST') {
        const sub = new URLSearchParams(await readBody(req)).get('sub');
        const account = accounts.find((a) => a.sub === sub);
        if (!account) return send(res, 400, 'text/plain', 'unknown account');
        return provider.interactionFinished(req, res, { login: { accountId: account.sub, ...loginAuth } }, { mergeWithLastSubmission: false });
      }
      return send(res, 200, 'text/html; charset=utf-8', signInPage(`${prefix}/interaction/${uid}`, accounts, String(params.client_id), opts.standsFor));
    }
    if (prompt.name === 'consent') {
      const accountId = session?.accountId;
      if (!accountId) return send(res, 400, 'text/plain', 'no session');
      const grant = (details.grantId && await provider.Grant.find(details.grantId))
        || new provider.Grant({ accountId, clientId: String(params.client_id) });
      const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    send(res, 400, 'text/plain', `unsupported prompt ${prompt.name}`);
  }

  const callback = provider.callback();
  const interactionPath = new RegExp(`^${prefix}/interaction/([^/]+)$`);
  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const uid = interactionPath.exec(url.pathname)?.[1];
    if (uid) return interaction(req, res, decodeURIComponent(uid));
    const last = seen.get(url.pathname) ?? { count: 0 };
    // Bounded: demo mode serves this issuer to whatever paths a browser asks for.
    if (last.count > 0 || seen.size < 64) seen.set(url.pathname, {
      host: req.headers.host, authorization: req.headers.authorization,
      dpop: typeof req.headers.dpop === 'string' ? req.headers.dpop : undefined, count: last.count + 1,
    });
    if (rotated && url.pathname === `${prefix}${routes.jwks}`) {
      return send(res, 200, 'application/jwk-set+json', JSON.stringify({ keys: [rotated.publicJwk, publicJwk] }));
    }
    if (tokenDelayMs > 0 && url.pathname === `${prefix}${routes.token}`) await new Promise((r) => setTimeout(r, tokenDelayMs));
    if (tokenFault && url.pathname === `${prefix}${routes.token}`) {
      req.resume();
      return send(res, tokenFault.status, tokenFault.contentType, tokenFault.body);
    }
    if (prefix) {
      if (!url.pathname.startsWith(`${prefix}/`)) return send(res, 404, 'text/plain', 'not found');
      // Crossid wants ?audience= on the authorization and the token request (the token POST's URL).
      const guarded = audience !== undefined && (url.pathname === `${prefix}/auth` || url.pathname === `${prefix}/token`);
      if (guarded && url.searchParams.get('audience') !== audience) {
        return send(res, 400, 'application/json', JSON.stringify({
          error: 'invalid_request', error_description: `audience=${audience} query parameter is required`,
        }));
      }
      // Mount the provider like Express would: oidc-provider derives its URLs' mount path from
      // the difference between req.originalUrl and req.url.
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
      req.url = (req.url ?? '/').slice(prefix.length);
    }
    await callback(req, res);
  }
  handler = (req, res) => {
    route(req, res).catch((err: unknown) => {
      // A browser back on a sign-in step already used (or expired): oidc-provider finds no
      // interaction for it. A page that explains, rather than a bare 400.
      const stale = (err as { name?: string })?.name === 'SessionNotFound' && interactionPath.test(new URL(req.url ?? '/', 'http://x').pathname);
      if (!res.headersSent && stale) send(res, 400, 'text/html; charset=utf-8', staleInteractionPage(appUrl));
      else if (!res.headersSent) send(res, 400, 'text/plain', `dev issuer: ${(err as Error)?.message ?? String(err)}`);
      else res.destroy();
    });
  };

  return {
    issuer,
    port,
    endpoints: {
      discovery: `${base}/.well-known/openid-configuration`,
      authorization: `${base}${routes.authorization}`,
      token: `${base}${routes.token}`,
      userinfo: `${base}${routes.userinfo}`,
      jwks: `${base}${routes.jwks}`,
      endSession: `${base}${routes.end_session}`,
    },
    loginAs(sub, o = {}) {
      if (!accounts.some((a) => a.sub === sub)) throw new Error(`dev issuer: unknown account ${sub}`);
      if (o.acr !== undefined && !opts.acrValues?.includes(o.acr)) throw new Error(`dev issuer: acr ${o.acr} is not in acrValues`);
      loginSub = sub;
      loginAuth = { ...(o.acr !== undefined ? { acr: o.acr } : {}), ...(o.amr ? { amr: o.amr } : {}), ...(o.authTime !== undefined ? { ts: o.authTime } : {}) };
    },
    mangleNextIdToken(fn, how = 'issuer') { mangler = fn; signWith = how; },
    revokeRefreshTokens(sub) {
      let n = 0;
      for (const [key, e] of stored) {
        if (key.startsWith('RefreshToken:') && e.payload.accountId === sub) { stored.delete(key); n++; }
      }
      return n;
    },
    breakTokenEndpoint(fault) { tokenFault = fault; },
    requireDpopNonce(on) { dpopNonce = on; },
    seen,
    slowTokenEndpoint(ms) { tokenDelayMs = ms; },
    rotateKeys() {
      const next = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const nextKid = randomUUID();
      rotated = { key: next.privateKey, kid: nextKid, publicJwk: { ...next.publicKey.export({ format: 'jwk' }), kid: nextKid, alg: 'RS256', use: 'sig' } };
    },
    refreshGrants,
    sign(claims, header = {}, how = 'issuer') {
      const key = how === 'foreign' ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : privateKey;
      return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, ...header }).sign(key);
    },
    async stop() {
      if (!server.listening) return;
      // close() alone waits for keep-alive connections; destroy them so the port is really down.
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    async start() {
      if (!server.listening) await listen(port);
    },
  };
}
