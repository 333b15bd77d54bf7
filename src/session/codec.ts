import { createHash } from 'node:crypto';
import { sealData, unsealData } from 'iron-session';

/** What a signed-in user's session holds. Tokens only when a feature needs them (pass_access_token). */
export interface Session {
  readonly v: 1;
  /** The value sent as X-Forwarded-User (the subject unless user_id_claim says otherwise). */
  readonly user: string;
  readonly sub: string;
  readonly email?: string;
  readonly groups: readonly string[];
  readonly preferredUsername?: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly accessToken?: string;
}

function isSession(x: unknown): x is Session {
  const s = x as Partial<Session> | null;
  return !!s && s.v === 1 && typeof s.user === 'string' && typeof s.sub === 'string' &&
    typeof s.expiresAt === 'number' && Array.isArray(s.groups);
}

export const NOT_CACHED: unique symbol = Symbol('not cached');

interface CacheEntry { session: Session | undefined; revokedUntil?: number }

/**
 * Seals and unseals sessions with iron (iron-session's sealData/unsealData).
 *
 * An unseal costs about four proxied hops of CPU (two WebCrypto key derivations), so unsealed
 * sessions are cached by the SHA-256 of the cookie value (≈2 µs): the seal cost is paid once per
 * session per process, not once per request. The cache is bounded (oldest out first), honours each
 * session's expiry, and remembers cookies signed out here so a replayed copy is refused.
 */
export class SessionCodec {
  readonly #password: string;
  readonly #ttlSeconds: number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #max: number;

  constructor(password: string, ttlMs: number, maxCached = 10_000) {
    this.#password = password;
    this.#ttlSeconds = Math.max(1, Math.ceil(ttlMs / 1000));
    this.#max = maxCached;
  }

  get ttlMs(): number { return this.#ttlSeconds * 1000; }

  async seal(session: Session): Promise<string> {
    return sealData(session, { password: this.#password, ttl: this.#ttlSeconds });
  }

  /**
   * The cached answer for a cookie value, without a promise on the hot path: the session, undefined
   * (revoked or expired), or NOT_CACHED when only unseal() can tell.
   */
  cached(sealed: string, now = Date.now()): Session | undefined | typeof NOT_CACHED {
    const key = digest(sealed);
    const hit = this.#cache.get(key);
    if (!hit) return NOT_CACHED;
    if (hit.revokedUntil !== undefined) return hit.revokedUntil > now ? undefined : this.#forget(key, NOT_CACHED);
    if (hit.session && hit.session.expiresAt > now) return hit.session;
    return this.#forget(key, undefined);
  }

  /** The session in a cookie value, or undefined for anything tampered, foreign, expired or revoked. */
  async unseal(sealed: string, now = Date.now()): Promise<Session | undefined> {
    const hit = this.cached(sealed, now);
    if (hit !== NOT_CACHED) return hit;
    let data: unknown;
    try {
      data = await unsealData(sealed, { password: this.#password, ttl: this.#ttlSeconds });
    } catch {
      return undefined; // malformed seal: no session, never an error page
    }
    if (!isSession(data) || data.expiresAt <= now) return undefined;
    this.#remember(digest(sealed), { session: data });
    return data;
  }

  /** Refuses this cookie value in this process until it would have expired anyway. */
  revoke(sealed: string, until: number): void {
    this.#remember(digest(sealed), { session: undefined, revokedUntil: until });
  }

  #forget<T>(key: string, answer: T): T {
    this.#cache.delete(key);
    return answer;
  }

  #remember(key: string, entry: CacheEntry): void {
    if (this.#cache.size >= this.#max) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, entry);
  }
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}
