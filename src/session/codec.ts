import { hash } from 'node:crypto';
import { sealData, unsealData } from 'iron-session';
import type { SealPasswords } from '../config/secret.js';

/**
 * What a signed-in user's session holds. Tokens only when a feature needs them: the access token
 * for pass_access_token, the refresh token for cookie_refresh, the ID token for sign-out at the
 * issuer (end_session_endpoint or a backend_logout_url with {id_token}).
 */
export interface Session {
  readonly v: 1;
  /** Random id of this login, the handle sign-out revokes. Sessions sealed before it existed lack it. */
  readonly sid?: string;
  /**
   * The provider (its id) the user signed in with; set only with several providers. A session
   * without one belongs to the first provider (one made before a second provider was added).
   */
  readonly provider?: string;
  /**
   * The value sent as X-Forwarded-User: the subject, `sub@provider` with several providers
   * (sessions sealed before that may hold another claim's value).
   */
  readonly user: string;
  readonly sub: string;
  /** The issuer's session id (the ID token's `sid`), the handle of back-channel logout. */
  readonly issuerSid?: string;
  readonly email?: string;
  readonly groups: readonly string[];
  readonly preferredUsername?: string;
  /** The ID token's `acr` and `auth_time` (seconds since the epoch): how and when the user signed in, for step-up. */
  readonly acr?: string;
  readonly authTime?: number;
  /** Claims routes_file rules read, as strings; only those (oidc/identity.ts). */
  readonly claims?: Readonly<Record<string, readonly string[]>>;
  /** When the issuer last vouched for it: the login, or the last refresh (cookie_refresh counts from here). */
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly accessToken?: string;
  readonly refreshToken?: string;
  /** Only when pass_authorization_header or set_authorization_header sends it on, or sign-out at the issuer needs it. */
  readonly idToken?: string;
  /**
   * With dpop: this session's own DPoP private key (RFC 9449), which its tokens are bound to; made
   * at login, kept through refreshes, never in another session.
   */
  readonly dpopKey?: DpopKey;
}

/** A P-256 private key as JWK members (ES256 proofs): what a session keeps of its DPoP key. */
export interface DpopKey {
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly d: string;
}

export function isDpopKey(k: unknown): k is DpopKey {
  const d = k as Partial<DpopKey> | null;
  return typeof d === 'object' && d !== null && d.crv === 'P-256' && typeof d.x === 'string' && typeof d.y === 'string' && typeof d.d === 'string';
}

export function isSession(x: unknown): x is Session {
  const s = x as Partial<Session> | null;
  return !!s && s.v === 1 && typeof s.user === 'string' && typeof s.sub === 'string' &&
    typeof s.expiresAt === 'number' && typeof s.createdAt === 'number' && Array.isArray(s.groups) && optionalString(s.sid)
    && optionalString(s.issuerSid) && optionalString(s.provider) && optionalString(s.accessToken) && optionalString(s.refreshToken) && optionalString(s.idToken)
    && optionalString(s.acr) && (s.authTime === undefined || typeof s.authTime === 'number') && (s.claims === undefined || isClaims(s.claims))
    && (s.dpopKey === undefined || isDpopKey(s.dpopKey));
}

/**
 * The subject and issuer session id as revocation (back-channel logout) knows them: qualified by
 * the provider when the session names one, since the same `sub` (or `sid`) at two issuers is
 * two people (or sessions). A session without a provider keeps the bare values, as before.
 */
export function revocationKeys(s: Pick<Session, 'sub' | 'issuerSid' | 'provider'>): { readonly sub: string; readonly sid?: string } {
  if (s.provider === undefined) return { sub: s.sub, sid: s.issuerSid };
  return { sub: providerScoped(s.provider, s.sub), sid: s.issuerSid === undefined ? undefined : providerScoped(s.provider, s.issuerSid) };
}

/** A subject or sid of one provider, as revocation keys it: `provider` NUL `value` (no id or value is confused with another). */
export function providerScoped(provider: string, value: string): string {
  return `${provider}\u0000${value}`;
}

function isClaims(c: unknown): boolean {
  return typeof c === 'object' && c !== null && !Array.isArray(c)
    && Object.values(c).every((v) => Array.isArray(v) && v.every((x) => typeof x === 'string'));
}

function optionalString(v: unknown): boolean {
  return v === undefined || typeof v === 'string';
}

/**
 * The only seal text accepted: iron's `Fe26.2*…` followed by iron-session's `~2`. iron-session
 * ignores anything after `~2` (`~2x` parses as version 2), so without this check one session has
 * endless spellings, each a new cache key that a sign-out of another spelling would not cover.
 */
const CANONICAL_SEAL = /^Fe26\.2\*[A-Za-z0-9_\-*]+~2$/;

/** True for a seal in the one spelling iron-session writes (see CANONICAL_SEAL): anything else is not ours. */
export function isCanonicalSeal(sealed: string): boolean {
  return CANONICAL_SEAL.test(sealed);
}

export const NOT_CACHED: unique symbol = Symbol('not cached');

/**
 * A cached session, and whether its seal is by an older secret (isStale). Both follow from the
 * cookie's bytes, which the cache is keyed on, so the prefix is read once per seal, not per
 * request: reading it from the cookie (a slice of each request's Cookie header) cost 1.4 % of a
 * forward-auth answer's instructions (bench/callgrind.ts).
 */
export interface CachedSeal { readonly session: Session; readonly stale: boolean }

/**
 * Seals and unseals sessions with iron (iron-session's sealData/unsealData).
 *
 * An unseal costs about four proxied hops of CPU (two WebCrypto key derivations), so unsealed
 * sessions are cached by the SHA-256 of the cookie value (≈2 µs): the seal cost is paid once per
 * session per process, not once per request. The cache is bounded (oldest out first) and honours
 * each session's expiry. Revocation is not the codec's business: the store decides which ids are
 * still good.
 */
export class SessionCodec {
  readonly #passwords: SealPasswords;
  /** How a seal by the newest secret starts; any other is re-sealed on use (secret rotation). */
  readonly #newestPrefix: string;
  readonly #ttlSeconds: number;
  readonly #cache = new Map<string, CachedSeal>();
  readonly #max: number;

  constructor(passwords: string | SealPasswords, ttlMs: number, maxCached = 10_000) {
    this.#passwords = typeof passwords === 'string' ? { seal: { 1: passwords }, unseal: { 1: passwords }, sealId: '1' } : passwords;
    this.#newestPrefix = `Fe26.2*${this.#passwords.sealId}*`;
    this.#ttlSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
    this.#max = maxCached;
  }

  get ttlMs(): number { return this.#ttlSeconds * 1000; }

  async seal(session: Session): Promise<string> {
    return sealData(session, { password: this.#passwords.seal, ttl: this.#ttlSeconds });
  }

  /** True when a seal was made with an older secret than the newest (cheap: no digest, no crypto). */
  isStale(sealed: string): boolean {
    return !sealed.startsWith(this.#newestPrefix);
  }

  /**
   * The cached answer for a cookie value, without a promise on the hot path: the session, undefined
   * (expired), or NOT_CACHED when only unseal() can tell.
   */
  cached(sealed: string, now = Date.now()): Session | undefined | typeof NOT_CACHED {
    const hit = this.cachedSeal(sealed, now);
    return typeof hit === 'object' ? hit.session : hit;
  }

  /** As cached(), with whether the seal is stale beside the session. */
  cachedSeal(sealed: string, now = Date.now()): CachedSeal | undefined | typeof NOT_CACHED {
    const key = digest(sealed);
    const hit = this.#cache.get(key);
    if (!hit) return NOT_CACHED;
    if (hit.session.expiresAt > now) return hit;
    this.#cache.delete(key);
    return undefined;
  }

  /** The session in a cookie value, or undefined for anything tampered, non-canonical, foreign or expired. */
  async unseal(sealed: string, now = Date.now()): Promise<Session | undefined> {
    const hit = this.cached(sealed, now);
    if (hit !== NOT_CACHED) return hit;
    if (!isCanonicalSeal(sealed)) return undefined;
    let data: unknown;
    try {
      data = await unsealData(sealed, { password: this.#passwords.unseal, ttl: this.#ttlSeconds });
    } catch {
      return undefined; // malformed seal: no session, never an error page
    }
    if (!isSession(data) || data.expiresAt <= now) return undefined;
    this.#remember(sealed, data);
    return data;
  }

  /**
   * True when a cookie value's seal is past its end, read from iron's plain expiration field
   * (index 5 of Fe26.2*id*salt*iv*data*expiration*hmacSalt*hmac) without checking it: it only picks
   * the sign-in page's words, never lets anyone in.
   */
  static sealExpired(sealed: string, now = Date.now()): boolean {
    const exp = Number(sealed.split('~')[0]!.split('*')[5]);
    return Number.isFinite(exp) && exp > 0 && exp <= now;
  }

  /** Caches a seal this process just made, so its first use costs no unseal. */
  prime(sealed: string, session: Session): void {
    this.#remember(sealed, session);
  }

  #remember(sealed: string, session: Session): void {
    if (this.#cache.size >= this.#max) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(digest(sealed), { session, stale: this.isStale(sealed) });
  }
}

/**
 * SHA-256 of a cookie value, base64url: the cache key, and the id of a session sealed without `sid`.
 * The one-shot crypto.hash takes about half the time of a Hash object (≈1 µs for a 500-byte cookie here).
 */
export function digest(value: string): string {
  return hash('sha256', value, 'base64url');
}
