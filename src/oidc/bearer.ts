// skip_jwt_bearer_tokens: API clients that send `Authorization: Bearer <JWT>` instead of a cookie.
//
// A token is accepted when it is signed by a key from its issuer's JWKS, its `iss` is the issuer
// (or one of extra_jwt_issuers) exactly, its `aud` holds that issuer's audience (client_id for the
// issuer; the pair's audience for an extra one) and it has not expired — oauth2-proxy's
// jwt_session.go and its go-oidc verifier. The algorithm comes from an allow-list of asymmetric
// ones, so `none` and HMAC signed with the issuer's public key (the classic key-confusion forgery)
// never pass; jose also refuses a key whose type does not fit the algorithm. JWKS are fetched by
// jose: cached for 10 minutes, fetched again on an unknown `kid` at most every 30 s.
//
// A verified token is cached by its SHA-256 until its `exp` (bounded, oldest out first), so a
// client sending the same token again costs a digest, not a signature check, and gets the same
// session object, whose access verdict and identity headers are cached in turn.

import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { PortcullisError } from '../errors.js';
import type { Session } from '../session/codec.js';
import type { LoadedSession } from '../session/store.js';
import { BACKCHANNEL_LOGOUT_EVENT } from './backchannel.js';
import { identityFromClaims, sessionIdentity, type ClaimNames } from './identity.js';
import { qualifiedUser } from './issuers.js';
import { verifyJwt } from './idtoken.js';
import type { JwtIssuer } from '../config/types.js';

export type { JwtIssuer };

/** Signature algorithms a bearer token may use: asymmetric only. */
export const BEARER_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** oauth2-proxy's test for "this bearer value is a JWT": three base64url parts, a signature present. */
const JWT_SHAPE = /^ey[A-Za-z0-9_-]*\.ey[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;

const MAX_CACHED = 10_000;
const DISCOVERY_TIMEOUT_MS = 5_000;
const DISCOVERY_RETRY_MS = 30_000;

export type BearerOutcome = { readonly session: LoadedSession } | { readonly error: PortcullisError };

/**
 * The token an Authorization header carries, as oauth2-proxy finds it: `Bearer <JWT>`, or a JWT as
 * the user (with an empty password or `x-oauth-basic`) or the password of `Basic` credentials, as
 * git and other tools send tokens. Undefined when the header holds no JWT.
 */
export function tokenFromAuthorization(header: string): string | undefined {
  const sp = header.indexOf(' ');
  if (sp < 0) return undefined;
  const scheme = header.slice(0, sp).toLowerCase();
  const value = header.slice(sp + 1).trim();
  if (scheme === 'bearer') return JWT_SHAPE.test(value) ? value : undefined;
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (JWT_SHAPE.test(user)) return password === '' || password === 'x-oauth-basic' ? user : undefined;
  return JWT_SHAPE.test(password) ? password : undefined;
}

interface Verifier {
  readonly issuer: string;
  /** The provider whose token this is, when it is one of the configured providers'. */
  readonly provider?: string;
  readonly audiences: readonly string[];
  readonly claims: ClaimNames;
  /** The issuer's keys; undefined until known (discovery still to do, or failed a moment ago). */
  keys(): Promise<JWTVerifyGetKey>;
}

/** A configured provider whose bearer tokens are accepted, with its own client id as the audience. */
export interface BearerProvider {
  /** The provider id; sessions of its tokens name it when `several`. */
  readonly id: string;
  /** The issuer's identifier and JWKS URL (or its keys, from oidc_public_key_files) once known, else undefined. */
  readonly issuer: () => { readonly issuer: string; readonly jwksUri?: string; readonly keys?: JWTVerifyGetKey } | undefined;
  /** oidc_issuer_url as configured: a token from it before discovery gets 503, not 401. */
  readonly configuredIssuer?: string;
  readonly clientId: string;
  readonly claims: ClaimNames;
}

export interface BearerOptions {
  /** Every provider, the first first (extra_jwt_issuers' tokens are read with its options). */
  readonly providers: readonly BearerProvider[];
  /** Several providers: a token's session names its provider, and its user is `sub@provider`. */
  readonly several?: boolean;
  readonly extraIssuers: readonly JwtIssuer[];
  readonly log: Logger;
}

/** Verifies bearer JWTs and turns them into sessions. */
export class BearerTokens {
  readonly #o: BearerOptions;
  readonly #extra: ReadonlyMap<string, Verifier>;
  readonly #cache = new Map<string, LoadedSession>();
  /** Each provider's JWKS, by provider id: fetched again only when its discovery names another URL. */
  readonly #remote = new Map<string, { readonly uri: string; readonly keys: JWTVerifyGetKey }>();

  constructor(o: BearerOptions) {
    this.#o = o;
    // Extra issuers' tokens are read with the standard claim names, as oauth2-proxy reads them.
    const first = o.providers[0]!.claims;
    const standard: ClaimNames = { emailClaim: 'email', groupsClaim: 'groups', allowUnverifiedEmail: first.allowUnverifiedEmail, keptClaims: first.keptClaims };
    this.#extra = new Map(o.extraIssuers.map((x) => [x.issuer, extraVerifier(x, standard)]));
  }

  /**
   * The session an Authorization header proves: at once from the cache of verified tokens (the hot
   * path, no promise), else after verification.
   */
  load(header: string, now = Date.now()): BearerOutcome | Promise<BearerOutcome> {
    const token = tokenFromAuthorization(header);
    if (!token) return this.#refuse('not a bearer JWT');
    const key = digest(token);
    const hit = this.#cache.get(key);
    if (hit) {
      if (hit.session.expiresAt > now) return { session: hit };
      this.#cache.delete(key);
      return this.#refuse('expired');
    }
    return this.#verify(token, key);
  }

  async #verify(token: string, key: string): Promise<BearerOutcome> {
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      return this.#refuse('not a JWT');
    }
    const verifier = typeof iss === 'string' ? this.#verifierFor(iss) : undefined;
    if (!verifier) {
      if (typeof iss === 'string' && this.#isPendingIssuer(iss)) return unavailable('issuer discovery has not succeeded yet');
      return this.#refuse(`issuer ${JSON.stringify(String(iss)).slice(0, 200)} is not accepted`);
    }
    let payload: JWTPayload;
    let typ: unknown;
    try {
      const keys = await verifier.keys();
      ({ payload, protectedHeader: { typ } } = await verifyJwt(token, keys, {
        issuer: verifier.issuer,
        audience: [...verifier.audiences],
        algorithms: BEARER_ALGORITHMS,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (isUnavailable(err)) return unavailable(`keys of ${verifier.issuer}: ${(err as Error).message}`);
      return this.#refuse(`${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`);
    }
    // A logout token has the issuer's key, iss and aud (and often exp) too: it ends a login, never makes one.
    if (isLogoutToken(typ, payload)) return this.#refuse('a logout token (OIDC Back-Channel Logout) is not an access token');
    let identity;
    try {
      identity = identityFromClaims(payload, undefined, verifier.claims);
    } catch (err) {
      return this.#refuse(err instanceof PortcullisError ? `${err.code}: ${err.detail ?? ''}` : String(err));
    }
    const now = Date.now();
    const own = this.#o.several ? verifier.provider : undefined;
    const session: Session = {
      v: 1,
      ...(own !== undefined ? { provider: own } : {}),
      // A JWT access token may say how the user signed in (RFC 9068 acr, auth_time): route step-up reads them.
      ...sessionIdentity(identity),
      ...(own !== undefined ? { user: qualifiedUser(identity.sub, own, true) } : {}),
      createdAt: now,
      expiresAt: (payload.exp as number) * 1000,
      // oauth2-proxy passes the token itself on as both (pass_access_token, pass_authorization_header).
      accessToken: token,
      idToken: token,
    };
    const loaded: LoadedSession = { session, id: `bearer:${key}` };
    this.#remember(key, loaded);
    return { session: loaded };
  }

  #verifierFor(iss: string): Verifier | undefined {
    // Each provider's tokens carry its own issuer and its own client id as audience: a token one
    // issuer made for its client is refused as another's.
    for (const p of this.#o.providers) {
      const main = p.issuer();
      if (!main || main.issuer !== iss) continue;
      const keys = main.keys ?? this.#remoteKeys(p.id, main.jwksUri!);
      // An extra_jwt_issuers pair naming the issuer itself adds an audience (oauth2-proxy tries each
      // verifier in turn; one check against all the audiences is the same decision).
      const more = this.#o.extraIssuers.filter((x) => x.issuer === iss).map((x) => x.audience);
      return { issuer: main.issuer, provider: p.id, audiences: [p.clientId, ...more], claims: p.claims, keys: async () => keys };
    }
    return this.#extra.get(iss);
  }

  /** A provider's JWKS, fetched again only when discovery names another URL. */
  #remoteKeys(id: string, uri: string): JWTVerifyGetKey {
    let held = this.#remote.get(id);
    if (held?.uri !== uri) this.#remote.set(id, (held = { uri, keys: createRemoteJWKSet(new URL(uri)) }));
    return held.keys;
  }

  /** Before discovery an issuer's identifier is not known for sure; its oidc_issuer_url is the guess. */
  #isPendingIssuer(iss: string): boolean {
    return this.#o.providers.some((p) => p.configuredIssuer === iss && !p.issuer());
  }

  #refuse(reason: string): BearerOutcome {
    this.#o.log.info({ event: 'bearer_token_refused', reason: reason.slice(0, 300) }, 'bearer token refused');
    return { error: new PortcullisError('BEARER_TOKEN_INVALID', { detail: reason }) };
  }

  #remember(key: string, loaded: LoadedSession): void {
    if (this.#cache.size >= MAX_CACHED) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, loaded);
  }
}

function unavailable(detail: string): BearerOutcome {
  return { error: new PortcullisError('ISSUER_UNAVAILABLE', { detail }) };
}

/**
 * An extra issuer: its JWKS URL from its discovery document, else ISSUER/.well-known/jwks.json
 * (oauth2-proxy's fallback). Found on first use, not at start-up, so an issuer that is down then
 * does not stop the proxy; a failed discovery is tried again after 30 s.
 */
function extraVerifier(x: JwtIssuer, claims: ClaimNames): Verifier {
  let keys: JWTVerifyGetKey | undefined;
  let pending: Promise<JWTVerifyGetKey> | undefined;
  let failedAt = -Infinity;
  const find = async (): Promise<JWTVerifyGetKey> => {
    const base = x.issuer.replace(/\/+$/, '');
    let uri = `${base}/.well-known/jwks.json`;
    const res = await fetch(`${base}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS), redirect: 'error', headers: { accept: 'application/json' } });
    if (res.ok) {
      const doc = await res.json().catch(() => undefined) as { issuer?: unknown; jwks_uri?: unknown } | undefined;
      if (doc && doc.issuer === x.issuer && typeof doc.jwks_uri === 'string') uri = doc.jwks_uri;
    } else if (res.status >= 500) {
      throw new Error(`discovery answered ${res.status}`);
    }
    return createRemoteJWKSet(new URL(uri));
  };
  return {
    issuer: x.issuer,
    audiences: [x.audience],
    claims,
    keys: () => {
      if (keys) return Promise.resolve(keys);
      if (Date.now() - failedAt < DISCOVERY_RETRY_MS) return Promise.reject(new DiscoveryFailed(`discovery of ${x.issuer} failed less than 30 s ago`));
      pending ??= find().then(
        (k) => { keys = k; return k; },
        (e: unknown) => { failedAt = Date.now(); throw new DiscoveryFailed((e as Error).message); },
      ).finally(() => { pending = undefined; });
      return pending;
    },
  };
}

class DiscoveryFailed extends Error {}

/** A logout token by its typ (logout+jwt) or its event claim, whichever the issuer sets. */
function isLogoutToken(typ: unknown, payload: JWTPayload): boolean {
  if (typeof typ === 'string' && /^(application\/)?logout\+jwt$/i.test(typ)) return true;
  const events = payload.events;
  return typeof events === 'object' && events !== null && BACKCHANNEL_LOGOUT_EVENT in events;
}

/** A failure to reach the issuer's keys, as opposed to a token that does not check out. */
function isUnavailable(err: unknown): boolean {
  if (err instanceof DiscoveryFailed || err instanceof TypeError) return true; // fetch failed
  const code = (err as { code?: string }).code;
  return code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JOSE_GENERIC' || code === 'ERR_JWKS_INVALID';
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
