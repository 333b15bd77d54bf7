import type { CookieConfig } from '../config/validate.js';
import { NOT_CACHED, SessionCodec, type Session } from './codec.js';
import { chunkValue, readChunked, serializeCookie, sessionCookieNames, type CookieAttributes } from './cookies.js';

/** A session as loaded from a request: the value and the raw seal (to revoke on sign-out). */
export interface LoadedSession {
  readonly session: Session;
  readonly sealed: string;
}

/**
 * The cookie session store: the whole session lives, sealed, in the browser's cookie (chunked when
 * large). A Redis store for many replicas will sit beside it behind the same three methods.
 */
export class CookieSessionStore {
  readonly #codec: SessionCodec;
  readonly #cookie: CookieConfig;

  constructor(codec: SessionCodec, cookie: CookieConfig) {
    this.#codec = codec;
    this.#cookie = cookie;
  }

  get ttlMs(): number { return this.#codec.ttlMs; }

  /** A synchronous answer when the cache has one (the common case), else a promise of the unseal. */
  loadFast(cookies: Map<string, string>): LoadedSession | undefined | Promise<LoadedSession | undefined> {
    const sealed = readChunked(cookies, this.#cookie.name);
    if (!sealed) return undefined;
    const hit = this.#codec.cached(sealed);
    if (hit === NOT_CACHED) return this.load(cookies);
    return hit ? { session: hit, sealed } : undefined;
  }

  async load(cookies: Map<string, string>): Promise<LoadedSession | undefined> {
    const sealed = readChunked(cookies, this.#cookie.name);
    if (!sealed) return undefined;
    const session = await this.#codec.unseal(sealed);
    return session ? { session, sealed } : undefined;
  }

  /** Set-Cookie values that store `session`, and clear any chunk the previous session had beyond. */
  async save(session: Session, cookies: Map<string, string>, domain: string | undefined): Promise<string[]> {
    const sealed = await this.#codec.seal(session);
    const parts = chunkValue(this.#cookie.name, sealed);
    const written = new Set(parts.map(([n]) => n));
    const maxAge = this.#cookie.expireMs > 0 ? Math.floor(this.#cookie.expireMs / 1000) : undefined;
    const out = parts.map(([n, v]) => serializeCookie(n, v, this.#attrs(domain, maxAge)));
    for (const stale of sessionCookieNames(cookies, this.#cookie.name)) {
      if (!written.has(stale)) out.push(serializeCookie(stale, '', this.#attrs(domain, 0)));
    }
    return out;
  }

  /** Set-Cookie values that delete the session; the seal is also refused by this process from now on. */
  clear(loaded: LoadedSession | undefined, cookies: Map<string, string>, domain: string | undefined): string[] {
    if (loaded) this.#codec.revoke(loaded.sealed, loaded.session.expiresAt);
    const names = new Set([this.#cookie.name, ...sessionCookieNames(cookies, this.#cookie.name)]);
    return [...names].map((n) => serializeCookie(n, '', this.#attrs(domain, 0)));
  }

  isSessionCookie(name: string): boolean {
    return name === this.#cookie.name || (name.startsWith(`${this.#cookie.name}_`) && /^\d+$/.test(name.slice(this.#cookie.name.length + 1)));
  }

  #attrs(domain: string | undefined, maxAge: number | undefined): CookieAttributes {
    const c = this.#cookie;
    return { path: c.path, domain, maxAge, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite };
  }
}
