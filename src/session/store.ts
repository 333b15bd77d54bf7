import { randomBytes } from 'node:crypto';
import type { CookieConfig } from '../config/validate.js';
import { defaultOf } from '../config/options.js';
import { deriveSealPassword } from '../config/secret.js';
import { parseDuration } from '../config/values.js';
import { PortcullisError } from '../errors.js';
import { NOT_CACHED, SessionCodec, digest, type Session } from './codec.js';
import { chunkValue, isChunkOf, readChunked, serializeCookie, sessionCookieNames, type CookieAttributes } from './cookies.js';

/**
 * At most this many cookies of 3,800 characters for one session (about 11 KB of Cookie header). A
 * larger one would reach Node's 16 KiB header limit, or nginx's 8 KiB line, together with the
 * application's own cookies, and then every request, sign-out included, would fail for as long as
 * the cookie lives: the login is refused instead, with a page that says why.
 */
export const MAX_CHUNKS = 3;

/** A session as loaded from a request, with the id sign-out revokes. */
export interface LoadedSession {
  readonly session: Session;
  readonly id: string;
}

/** The fields of a new session; the store adds its id and lifetime. */
export type NewSession = Omit<Session, 'v' | 'sid' | 'createdAt' | 'expiresAt'>;

/**
 * Where sessions live (oauth2-proxy's `sessions.SessionStore`: Save, Load, Clear). The cookie store
 * keeps the whole session sealed in the browser; a Redis store keeps a ticket in the cookie and the
 * session server-side. Nothing outside `createSessionStore` asks which one it is.
 */
export interface SessionStore {
  /** How long a new session lasts. */
  readonly ttlMs: number;
  /** The request's session: a value when known at once (the hot path), a promise when it must be looked up. */
  load(cookies: ReadonlyMap<string, string>): LoadedSession | undefined | Promise<LoadedSession | undefined>;
  /** Starts a session; returns the Set-Cookie values that carry it (and clear stale chunks). */
  save(fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] }>;
  /**
   * Replaces a session's contents after a refresh, keeping its id (so a sign-out, or a refused
   * refresh, ends every copy of it) and starting a new lifetime from now; returns the Set-Cookie
   * values that carry it. Throws SESSION_TOO_LARGE like save().
   */
  update(loaded: LoadedSession, fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] }>;
  /** Ends a session everywhere this store can reach; returns the Set-Cookie values that delete it. */
  clear(loaded: LoadedSession | undefined, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<string[]>;
  /** True for every cookie name the store writes: those never reach an upstream. */
  ownsCookie(name: string): boolean;
}

/** The one place that knows which session stores exist. */
export function createSessionStore(cookie: CookieConfig): SessionStore {
  return new CookieSessionStore(new SessionCodec(deriveSealPassword(cookie.secret, 'session'), sessionTtlMs(cookie)), cookie);
}

/**
 * cookie_expire=0 makes the cookie last for the browser session (oauth2-proxy's meaning); the
 * session inside still needs an end, and gets the default lifetime.
 */
function sessionTtlMs(cookie: CookieConfig): number {
  if (cookie.expireMs > 0) return cookie.expireMs;
  const d = parseDuration(defaultOf('cookie_expire'));
  return d.ok ? d.value : 0;
}

/**
 * The whole session lives, sealed, in the browser's cookie (chunked when large). Sign-out revokes
 * the session's id in this process, until the session would have expired anyway.
 */
class CookieSessionStore implements SessionStore {
  readonly #codec: SessionCodec;
  readonly #cookie: CookieConfig;
  readonly #revoked = new Map<string, number>();

  constructor(codec: SessionCodec, cookie: CookieConfig) {
    this.#codec = codec;
    this.#cookie = cookie;
  }

  get ttlMs(): number { return this.#codec.ttlMs; }

  load(cookies: ReadonlyMap<string, string>): LoadedSession | undefined | Promise<LoadedSession | undefined> {
    const sealed = readChunked(cookies, this.#cookie.name);
    if (!sealed) return undefined;
    const hit = this.#codec.cached(sealed);
    if (hit === NOT_CACHED) return this.#codec.unseal(sealed).then((s) => this.#checked(s, sealed));
    return this.#checked(hit, sealed);
  }

  save(fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] }> {
    return this.#write(randomBytes(16).toString('base64url'), fields, cookies, domain);
  }

  update(loaded: LoadedSession, fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] }> {
    // A session sealed before ids existed is known by its digest: that becomes its id from now on.
    return this.#write(loaded.id, fields, cookies, domain);
  }

  async #write(sid: string, fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] }> {
    const now = Date.now();
    const session: Session = { v: 1, sid, ...fields, createdAt: now, expiresAt: now + this.ttlMs };
    const sealed = await this.#codec.seal(session);
    const parts = chunkValue(this.#cookie.name, sealed);
    if (parts.length > MAX_CHUNKS) {
      throw new PortcullisError('SESSION_TOO_LARGE', { detail: `sealed session of ${sealed.length} characters (${fields.groups.length} groups) needs ${parts.length} cookies; at most ${MAX_CHUNKS}` });
    }
    const written = new Set(parts.map(([n]) => n));
    const maxAge = this.#cookie.expireMs > 0 ? Math.floor(this.#cookie.expireMs / 1000) : undefined;
    const out = parts.map(([n, v]) => serializeCookie(n, v, this.#attrs(domain, maxAge)));
    for (const stale of sessionCookieNames(cookies, this.#cookie.name)) {
      if (!written.has(stale)) out.push(serializeCookie(stale, '', this.#attrs(domain, 0)));
    }
    return { session, cookies: out };
  }

  async clear(loaded: LoadedSession | undefined, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<string[]> {
    if (loaded) this.#revoke(loaded.id, loaded.session.expiresAt);
    const names = new Set([this.#cookie.name, ...sessionCookieNames(cookies, this.#cookie.name)]);
    return [...names].map((n) => serializeCookie(n, '', this.#attrs(domain, 0)));
  }

  ownsCookie(name: string): boolean {
    return isChunkOf(name, this.#cookie.name);
  }

  #checked(session: Session | undefined, sealed: string): LoadedSession | undefined {
    if (!session) return undefined;
    const id = session.sid ?? digest(sealed);
    const until = this.#revoked.size ? this.#revoked.get(id) : undefined;
    return until !== undefined && until > Date.now() ? undefined : { session, id };
  }

  #revoke(id: string, until: number): void {
    // Revocations come only from signed-in users signing out; dropping the expired ones on the way
    // keeps the list as long as the sessions still alive, with no timer.
    const now = Date.now();
    for (const [k, t] of this.#revoked) if (t <= now) this.#revoked.delete(k);
    this.#revoked.set(id, until);
  }

  #attrs(domain: string | undefined, maxAge: number | undefined): CookieAttributes {
    const c = this.#cookie;
    return { path: c.path, domain, maxAge, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite };
  }
}
