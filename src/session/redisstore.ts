import { randomBytes } from 'node:crypto';
import { sealData, unsealData } from 'iron-session';
import type { Logger } from 'pino';
import type { SealPasswords } from '../config/secret.js';
import type { CookieConfig } from '../config/validate.js';
import type { RedisConfig } from '../config/validation/sessionstore.js';
import { digest, isSession, revocationKeys, type Session } from './codec.js';
import { cookieDomainFor, isChunkOf, serializeCookie, sessionCookieNames, type CookieAttributes } from './cookies.js';
import { RedisLink, type KeyValue, type StoreHealth } from './redis.js';
import { JTI_MEMORY_MS, type LoadedSession, type NewSession, type RevokeOutcome, type RevokeTarget, type SessionStore, type SiblingProcesses } from './contract.js';
import { SessionWatchers } from './watchers.js';

/** What the cookie carries in Redis mode: which session, and the key that opens it. */
interface Ticket {
  readonly v: 1;
  readonly id: string;
  /** The per-session key the session in Redis is sealed with: a dump of Redis alone opens nothing. */
  readonly k: string;
}

const CANONICAL_SEAL = /^Fe26\.2\*[A-Za-z0-9_\-*]+~2$/;

/** How long a replica's claim to refresh a session holds if it never lets go (it crashed mid-refresh). */
const REFRESH_CLAIM_MS = 15_000;

/**
 * Sessions in Redis (oauth2-proxy's redis store, with two differences). The cookie holds only a
 * sealed ticket: the session id and a per-session key; the session in Redis is sealed with that key.
 * Every login issues a new ticket, never the one already in the browser (oauth2-proxy reuses it, so a
 * ticket planted by an attacker ends up naming the victim's session).
 *
 * Loaded sessions are cached per process by the ticket's digest, so a signed-in request costs no
 * Redis round trip and no unseal. The cache is trusted only while the subscription to the store's
 * channel is in place: sign-out and revocation anywhere publish the ended ids, and every replica
 * drops them at once; when the subscription is lost the cache is emptied and every request asks
 * Redis (which, while it is down, means SESSION_STORE_UNAVAILABLE rather than a stale yes).
 */
export class RedisSessionStore implements SessionStore {
  readonly ttlMs: number;
  readonly shared = true;
  readonly #cookie: CookieConfig;
  readonly #passwords: SealPasswords;
  readonly #newestPrefix: string;
  readonly #kv: KeyValue;
  readonly #link: RedisLink;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #cache = new Map<string, LoadedSession>();
  readonly #maxCached: number;
  readonly #watchers = new SessionWatchers();
  /** The per-session key of each session loaded here, so that a refresh re-seals it under the same ticket. */
  readonly #keys = new WeakMap<LoadedSession, string>();
  /** Bumped whenever cached answers may have gone stale: a lookup begun before it is not cached. */
  #epoch = 0;

  readonly #siblings?: SiblingProcesses;

  constructor(cookie: CookieConfig, passwords: SealPasswords, ttlMs: number, redis: RedisConfig, log: Logger, siblings?: SiblingProcesses, maxCached = 10_000) {
    this.#cookie = cookie;
    this.#passwords = passwords;
    this.#newestPrefix = `Fe26.2*${passwords.sealId}*`;
    this.ttlMs = Math.max(1000, Math.ceil(ttlMs / 1000) * 1000);
    this.#maxCached = maxCached;
    this.#prefix = `portcullis:${cookie.name}:`;
    this.#channel = `${this.#prefix}ended`;
    this.#link = new RedisLink(redis, this.#channel, log, {
      message: (text) => this.#ended(text),
      synced: () => this.#resync(),
      lost: () => this.#forget(),
    });
    this.#kv = this.#link;
    // Sibling workers hear of ended sessions from Redis too; through the primary's relay the
    // sign-out also learns when they all have dropped their cached copies, and answers only then.
    this.#siblings = siblings;
    siblings?.subscribe((text) => this.#ended(text));
  }

  load(cookies: ReadonlyMap<string, string>, host?: string): LoadedSession | undefined | Promise<LoadedSession | undefined> {
    const ticket = cookies.get(this.#cookie.name);
    if (!ticket) return undefined;
    if (this.#link.synced) {
      const hit = this.#cache.get(digest(ticket));
      if (hit) {
        if (hit.session.expiresAt > Date.now()) return hit;
        this.#cache.delete(digest(ticket));
        return undefined;
      }
    }
    return this.#lookup(ticket, host);
  }

  async save(fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] }> {
    const now = Date.now();
    const id = randomBytes(16).toString('base64url');
    const k = randomBytes(32).toString('base64url');
    const session: Session = { v: 1, sid: id, ...fields, createdAt: now, expiresAt: now + this.ttlMs };
    await this.#kv.set(this.#sessionKey(id), await sealData(session, { password: k, ttl: this.ttlMs / 1000 }), this.ttlMs);
    const keys = revocationKeys(session);
    await this.#kv.addToSet(this.#indexKey('sub', keys.sub), id, this.ttlMs);
    if (keys.sid !== undefined) await this.#kv.addToSet(this.#indexKey('sid', keys.sid), id, this.ttlMs);
    const maxAge = this.#cookie.expireMs > 0 ? Math.floor(this.#cookie.expireMs / 1000) : undefined;
    return { session, cookies: [await this.#ticketCookie({ v: 1, id, k }, domain, maxAge), ...this.#staleChunks(cookies, domain)] };
  }

  /**
   * A refresh: the same id and ticket (so sign-out and revocation still find it, and every browser
   * tab's cookie stays good), the new contents sealed under the session's key. Other replicas drop
   * their cached copy and read the new one on the next request; its watchers stay.
   */
  async update(loaded: LoadedSession, fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] } | undefined> {
    const now = Date.now();
    const id = loaded.id;
    const k = this.#keys.get(loaded) ?? randomBytes(32).toString('base64url');
    const session: Session = { v: 1, sid: id, ...fields, createdAt: now, expiresAt: now + this.ttlMs };
    // Only over the session that is there: one signed out (or revoked) meanwhile stays ended.
    if (!await this.#kv.setIfPresent(this.#sessionKey(id), await sealData(session, { password: k, ttl: this.ttlMs / 1000 }), this.ttlMs)) return undefined;
    const keys = revocationKeys(session);
    await this.#kv.addToSet(this.#indexKey('sub', keys.sub), id, this.ttlMs);
    if (keys.sid !== undefined) await this.#kv.addToSet(this.#indexKey('sid', keys.sid), id, this.ttlMs);
    this.#changed([id], session.expiresAt);
    await this.#kv.publish(this.#channel, JSON.stringify({ changed: [id], expiresAt: session.expiresAt }));
    const maxAge = this.#cookie.expireMs > 0 ? Math.floor(this.#cookie.expireMs / 1000) : undefined;
    return { session, cookies: [await this.#ticketCookie({ v: 1, id, k }, domain, maxAge), ...this.#staleChunks(cookies, domain)] };
  }

  /** One replica refreshes a session at a time: a second refresh would present a spent refresh token. */
  async claimRefresh(loaded: LoadedSession): Promise<boolean> {
    return this.#kv.setIfAbsent(this.#refreshKey(loaded.id), '1', REFRESH_CLAIM_MS);
  }

  async releaseRefresh(loaded: LoadedSession): Promise<void> {
    await this.#kv.del([this.#refreshKey(loaded.id)]);
  }

  async clear(loaded: LoadedSession | undefined, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<string[]> {
    if (loaded) await this.#end([loaded.id]);
    const names = new Set([this.#cookie.name, ...sessionCookieNames(cookies, this.#cookie.name)]);
    return [...names].map((n) => serializeCookie(n, '', this.#attrs(domain, 0)));
  }

  async revoke(target: RevokeTarget, o: { jti?: string } = {}): Promise<RevokeOutcome> {
    if (target.sid === undefined && target.sub === undefined) throw new TypeError('revoke needs a sid or a sub');
    if (o.jti !== undefined && !await this.#kv.setIfAbsent(`${this.#prefix}jti:${digest(o.jti)}`, '1', JTI_MEMORY_MS)) return { replayed: true };
    const index = target.sid !== undefined ? this.#indexKey('sid', target.sid) : this.#indexKey('sub', target.sub!);
    const ids = await this.#kv.members(index);
    const ended = await this.#end(ids);
    await this.#kv.del([index]);
    return { ended };
  }

  watch(loaded: LoadedSession, ended: () => void): () => void {
    return this.#watchers.watch(loaded.session, loaded.id, ended);
  }

  health(): StoreHealth {
    return this.#link.health();
  }

  ownsCookie(name: string): boolean {
    return isChunkOf(name, this.#cookie.name);
  }

  async close(): Promise<void> {
    await this.#link.close();
  }

  async #lookup(ticketText: string, host: string | undefined): Promise<LoadedSession | undefined> {
    const epoch = this.#epoch;
    const ticket = await this.#unsealTicket(ticketText);
    if (!ticket) return undefined;
    const stored = await this.#kv.get(this.#sessionKey(ticket.id));
    if (stored === undefined) return undefined;
    let data: unknown;
    try {
      data = await unsealData(stored, { password: ticket.k, ttl: this.ttlMs / 1000 });
    } catch {
      return undefined;
    }
    if (!isSession(data) || data.sid !== ticket.id || data.expiresAt <= Date.now()) return undefined;
    const stale = !ticketText.startsWith(this.#newestPrefix);
    const loaded: LoadedSession = stale ? { session: data, id: ticket.id, cookies: await this.#resealed(ticket, data, host) } : { session: data, id: ticket.id };
    this.#keys.set(loaded, ticket.k);
    if (epoch === this.#epoch && this.#link.synced) this.#remember(digest(ticketText), loaded);
    return loaded;
  }

  async #unsealTicket(text: string): Promise<Ticket | undefined> {
    if (!CANONICAL_SEAL.test(text)) return undefined;
    let t: Partial<Ticket>;
    try {
      t = await unsealData<Ticket>(text, { password: this.#passwords.unseal, ttl: this.ttlMs / 1000 });
    } catch {
      return undefined;
    }
    return t.v === 1 && typeof t.id === 'string' && typeof t.k === 'string' ? (t as Ticket) : undefined;
  }

  /** A ticket sealed with an older cookie secret, sealed again with the newest (same session, same key). */
  async #resealed(ticket: Ticket, session: Session, host: string | undefined): Promise<string[]> {
    const maxAge = this.#cookie.expireMs > 0 ? Math.max(1, Math.floor((session.expiresAt - Date.now()) / 1000)) : undefined;
    return [await this.#ticketCookie(ticket, cookieDomainFor(host, this.#cookie.domains), maxAge)];
  }

  async #ticketCookie(ticket: Ticket, domain: string | undefined, maxAge: number | undefined): Promise<string> {
    const sealed = await sealData(ticket, { password: this.#passwords.seal, ttl: this.ttlMs / 1000 });
    return serializeCookie(this.#cookie.name, sealed, this.#attrs(domain, maxAge));
  }

  /** Chunks of a cookie session from before the switch to Redis: deleted, they would only weigh on every request. */
  #staleChunks(cookies: ReadonlyMap<string, string>, domain: string | undefined): string[] {
    return sessionCookieNames(cookies, this.#cookie.name).filter((n) => n !== this.#cookie.name).map((n) => serializeCookie(n, '', this.#attrs(domain, 0)));
  }

  /** Deletes sessions and tells every replica (this one included, through its own subscription). */
  async #end(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const ended = await this.#kv.del(ids.map((id) => this.#sessionKey(id)));
    this.#drop(ids); // at once here, without waiting for our own message
    const text = JSON.stringify({ ids });
    await this.#kv.publish(this.#channel, text);
    await this.#siblings?.publish(text);
    return ended;
  }

  #ended(text: string): void {
    let msg: { ids?: unknown; changed?: unknown; expiresAt?: unknown };
    try { msg = JSON.parse(text) as typeof msg; } catch { return; }
    const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((i): i is string => typeof i === 'string') : []);
    if (Array.isArray(msg.ids)) this.#drop(strings(msg.ids));
    if (Array.isArray(msg.changed)) this.#changed(strings(msg.changed), typeof msg.expiresAt === 'number' ? msg.expiresAt : undefined);
  }

  /**
   * Sessions whose contents changed (a refresh): cached copies go; the sessions stay, and their
   * watched connections live until the new expiry.
   */
  #changed(ids: readonly string[], expiresAt?: number): void {
    this.#epoch++;
    const changed = new Set(ids);
    for (const [k, l] of this.#cache) if (changed.has(l.id)) this.#cache.delete(k);
    if (expiresAt !== undefined) for (const id of ids) this.#watchers.extend(id, expiresAt);
  }

  #drop(ids: readonly string[]): void {
    this.#epoch++;
    const gone = new Set(ids);
    for (const [k, l] of this.#cache) if (gone.has(l.id)) this.#cache.delete(k);
    this.#watchers.end(ids);
  }

  #forget(): void {
    this.#epoch++;
    this.#cache.clear();
  }

  /** Back in step after an outage: sessions that ended meanwhile end their open connections now. */
  #resync(): void {
    this.#forget();
    for (const id of this.#watchers.ids()) {
      this.#kv.get(this.#sessionKey(id)).then((v) => { if (v === undefined) this.#watchers.end([id]); }, () => {});
    }
  }

  #remember(key: string, loaded: LoadedSession): void {
    if (this.#cache.size >= this.#maxCached) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(key, loaded);
  }

  #refreshKey(id: string): string {
    return `${this.#prefix}refresh:${id}`;
  }

  #sessionKey(id: string): string {
    return `${this.#prefix}session:${id}`;
  }

  /** Index keys carry a digest of the subject or issuer session id, not the value itself. */
  #indexKey(kind: 'sub' | 'sid', value: string): string {
    return `${this.#prefix}${kind}:${digest(value)}`;
  }

  #attrs(domain: string | undefined, maxAge: number | undefined): CookieAttributes {
    const c = this.#cookie;
    return { path: c.path, domain, maxAge, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite };
  }
}
