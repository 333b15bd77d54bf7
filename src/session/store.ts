import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import type { CookieConfig } from '../config/validate.js';
import type { RedisConfig } from '../config/validation/sessionstore.js';
import { defaultOf } from '../config/options.js';
import { deriveSealPasswords } from '../config/secret.js';
import { parseDuration } from '../config/values.js';
import { PortcullisError } from '../errors.js';
import { NOT_CACHED, SessionCodec, digest, type Session } from './codec.js';
import { chunkValue, cookieDomainFor, isChunkOf, readChunked, serializeCookie, sessionCookieNames, type CookieAttributes } from './cookies.js';
import { RedisLink, type StoreHealth } from './redis.js';
import { RedisSessionStore } from './redisstore.js';
import { Revocations, keyOf, type Revocation, type RevocationEntry } from './revocations.js';
import { SessionWatchers } from './watchers.js';
import { JTI_MEMORY_MS, type LoadedSession, type NewSession, type RevokeOutcome, type RevokeTarget, type SessionEnd, type SessionStore, type SiblingProcesses, type StoreOptions } from './contract.js';

export { JTI_MEMORY_MS, type LoadedSession, type NewSession, type RevokeOutcome, type RevokeTarget, type SessionEnd, type SessionStore, type SiblingProcesses, type StoreOptions } from './contract.js';

/**
 * At most this many cookies of 3,800 characters for one session (about 11 KB of Cookie header). A
 * larger one would reach Node's 16 KiB header limit, or nginx's 8 KiB line, together with the
 * application's own cookies, and then every request, sign-out included, would fail for as long as
 * the cookie lives: the login is refused instead, with a page that says why.
 */
export const MAX_CHUNKS = 3;

/** The one place that knows which session stores exist. */
export function createSessionStore(cookie: CookieConfig, o: StoreOptions = {}): SessionStore {
  const log = o.log ?? pino({ level: 'silent' });
  const redis = o.sessionStore?.redis;
  const ttlMs = sessionTtlMs(cookie);
  const secrets = [cookie.secret, ...cookie.previousSecrets ?? []];
  if (o.sessionStore?.type === 'redis' && redis) {
    return new RedisSessionStore(cookie, deriveSealPasswords(secrets, 'session-ticket'), ttlMs, redis, log, o.siblings);
  }
  return new CookieSessionStore(new SessionCodec(deriveSealPasswords(secrets, 'session'), ttlMs), cookie, redis ? { redis, log } : undefined, o.siblings);
}

/**
 * The store as a /ready check (`{ name, check() }`, the shape of server/health.ts's ReadinessCheck):
 * synchronous, since the store tracks its own connection state.
 */
export function sessionStoreReadiness(store: Pick<SessionStore, 'health'>): { name: string; check(): { ok: true } | { ok: false; detail: string } } {
  return {
    name: 'session_store',
    check: () => {
      const h = store.health();
      return h.ready ? { ok: true } : { ok: false, detail: h.detail };
    },
  };
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
 * The whole session lives, sealed, in the browser's cookie (chunked when large). Sign-out and
 * revocations are remembered, keyed on what is inside the seal, until the sessions they cover would
 * have expired anyway: in this process only, or, with Redis configured, in Redis for every replica
 * (then a session is honoured only while this process is in step with that list).
 */
class CookieSessionStore implements SessionStore {
  readonly #codec: SessionCodec;
  readonly #cookie: CookieConfig;
  readonly #revoked = new Revocations();
  readonly #watchers = new SessionWatchers();
  readonly #seenJti = new Map<string, number>();
  readonly #link?: RedisLink;
  readonly #listKey: string;
  readonly #channel: string;
  readonly #siblings?: SiblingProcesses;

  constructor(codec: SessionCodec, cookie: CookieConfig, shared?: { redis: RedisConfig; log: Logger }, siblings?: SiblingProcesses) {
    this.#codec = codec;
    this.#cookie = cookie;
    this.#listKey = `portcullis:${cookie.name}:revocations`;
    this.#channel = `portcullis:${cookie.name}:revoked`;
    if (shared) {
      this.#link = new RedisLink(shared.redis, this.#channel, shared.log, {
        message: (text) => this.#received(text),
        synced: () => void this.#reloadShared(),
        lost: () => { this.#inStepSince = 0; },
      });
    }
    if (siblings) {
      // The workers tell each other, with Redis too: its message reaches every worker, but only
      // the primary's relay says when they all have it, and the sign-out waits for that.
      this.#siblings = siblings;
      siblings.subscribe((text) => this.#received(text));
    }
  }

  get ttlMs(): number { return this.#codec.ttlMs; }
  get shared(): boolean { return this.#link !== undefined; }

  load(cookies: ReadonlyMap<string, string>, host?: string): LoadedSession | undefined | Promise<LoadedSession | undefined> {
    const sealed = readChunked(cookies, this.#cookie.name);
    if (!sealed) return undefined;
    // Revocations shared through Redis: while out of step with them, no session is believed.
    if (this.#link && !this.#inStep) return Promise.reject(new PortcullisError('SESSION_STORE_UNAVAILABLE', { detail: this.#link.health().detail }));
    const hit = this.#codec.cachedSeal(sealed);
    if (hit === NOT_CACHED) return this.#codec.unseal(sealed).then((s) => this.#checked(s, s !== undefined && this.#codec.isStale(sealed), sealed, cookies, host));
    return hit && this.#checked(hit.session, hit.stale, sealed, cookies, host);
  }

  save(fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] }> {
    return this.#write(randomBytes(16).toString('base64url'), fields, cookies, domain);
  }

  async update(loaded: LoadedSession, fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] } | undefined> {
    // A session sealed before ids existed is known by its digest: that becomes its id from now on.
    const written = await this.#write(loaded.id, fields, cookies, domain);
    // This process's connections of the session live on with it (another replica's keep the old expiry).
    this.#watchers.extend(loaded.id, written.session.expiresAt);
    return written;
  }

  async #write(sid: string, fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] }> {
    const now = Date.now();
    const session: Session = { v: 1, sid, ...fields, createdAt: now, expiresAt: now + this.ttlMs };
    const sealed = await this.#codec.seal(session);
    const maxAge = this.#cookie.expireMs > 0 ? Math.floor(this.#cookie.expireMs / 1000) : undefined;
    return { session, cookies: this.#sessionCookies(sealed, cookies, domain, maxAge, fields.groups.length) };
  }

  async clear(loaded: LoadedSession | undefined, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<string[]> {
    if (loaded) await this.#revoke({ revocation: { kind: 'id', value: loaded.id }, until: loaded.session.expiresAt });
    const names = new Set([this.#cookie.name, ...sessionCookieNames(cookies, this.#cookie.name)]);
    return [...names].map((n) => serializeCookie(n, '', this.#attrs(domain, 0)));
  }

  async revoke(target: RevokeTarget, o: { jti?: string } = {}): Promise<RevokeOutcome> {
    if (target.sid === undefined && target.sub === undefined) throw new TypeError('revoke needs a sid or a sub');
    const now = Date.now();
    if (o.jti !== undefined && !await this.#firstSighting(o.jti, now)) return { replayed: true };
    const revocation: Revocation = target.sid !== undefined ? { kind: 'sid', value: target.sid } : { kind: 'sub', value: target.sub!, before: now };
    // A session started just now (createdAt = now) is covered by `before: now`; one started later is not.
    await this.#revoke({ revocation, until: now + this.ttlMs });
    return {};
  }

  watch(loaded: LoadedSession, ended: () => void): () => void {
    return this.#watchers.watch(loaded.session, loaded.id, ended);
  }

  health(): StoreHealth {
    if (!this.#link) return { ready: true, detail: 'cookie sessions' };
    const h = this.#link.health();
    return h.ready && !this.#inStep ? { ready: false, detail: 'redis: reading the revocation list' } : h;
  }

  ownsCookie(name: string): boolean {
    return isChunkOf(name, this.#cookie.name);
  }

  async whyEnded(cookies: ReadonlyMap<string, string>): Promise<SessionEnd | undefined> {
    const sealed = readChunked(cookies, this.#cookie.name);
    if (!sealed) return undefined;
    const session = await this.#codec.unseal(sealed);
    if (session) return this.#revoked.covers(session, session.sid ?? digest(sealed)) ? 'signed_out' : 'ended';
    return SessionCodec.sealExpired(sealed) ? 'expired' : 'ended';
  }

  async close(): Promise<void> {
    await this.#link?.close();
  }

  #inStepSince = 0;
  get #inStep(): boolean { return this.#link!.synced && this.#inStepSince > 0; }

  #checked(session: Session | undefined, stale: boolean, sealed: string, cookies: ReadonlyMap<string, string>, host: string | undefined): LoadedSession | undefined | Promise<LoadedSession | undefined> {
    if (!session) return undefined;
    const id = session.sid ?? digest(sealed);
    if (this.#revoked.covers(session, id)) return undefined;
    if (stale) return this.#reseal(session, id, cookies, host);
    return { session, id };
  }

  /** A session sealed with an older secret, sealed again with the newest: the answer carries the new cookie. */
  async #reseal(session: Session, id: string, cookies: ReadonlyMap<string, string>, host: string | undefined): Promise<LoadedSession> {
    const sealed = await this.#codec.seal(session);
    this.#codec.prime(sealed, session);
    const maxAge = this.#cookie.expireMs > 0 ? Math.max(1, Math.floor((session.expiresAt - Date.now()) / 1000)) : undefined;
    let out: string[];
    try {
      out = this.#sessionCookies(sealed, cookies, cookieDomainFor(host, this.#cookie.domains), maxAge, session.groups.length);
    } catch {
      return { session, id }; // it fitted once; should it not now, the old seal serves until it expires
    }
    return { session, id, cookies: out };
  }

  #sessionCookies(sealed: string, cookies: ReadonlyMap<string, string>, domain: string | undefined, maxAge: number | undefined, groups: number): string[] {
    const parts = chunkValue(this.#cookie.name, sealed);
    if (parts.length > MAX_CHUNKS) {
      throw new PortcullisError('SESSION_TOO_LARGE', { detail: `sealed session of ${sealed.length} characters (${groups} groups) needs ${parts.length} cookies; at most ${MAX_CHUNKS}` });
    }
    const written = new Set(parts.map(([n]) => n));
    const out = parts.map(([n, v]) => serializeCookie(n, v, this.#attrs(domain, maxAge)));
    for (const stale of sessionCookieNames(cookies, this.#cookie.name)) {
      if (!written.has(stale)) out.push(serializeCookie(stale, '', this.#attrs(domain, 0)));
    }
    return out;
  }

  async #firstSighting(jti: string, now: number): Promise<boolean> {
    if (this.#link) return this.#link.setIfAbsent(`portcullis:${this.#cookie.name}:jti:${digest(jti)}`, '1', JTI_MEMORY_MS);
    for (const [k, t] of this.#seenJti) if (t <= now) this.#seenJti.delete(k);
    if (this.#seenJti.has(jti)) return false;
    this.#seenJti.set(jti, now + JTI_MEMORY_MS);
    return true;
  }

  /**
   * Remembers a revocation (here, and in Redis for every replica) and ends the connections it
   * covers. The sign-out is answered once this process's sibling workers have it too, since the
   * replayed cookie's next connection may go to any of them; other replicas hear it from Redis.
   */
  async #revoke(entry: RevocationEntry): Promise<void> {
    const text = JSON.stringify(entry);
    if (this.#link) {
      await this.#link.putField(this.#listKey, keyOf(entry.revocation), text, entry.until);
      await this.#link.publish(this.#channel, text);
    }
    this.#apply(entry);
    await this.#siblings?.publish(text);
  }

  #apply(entry: RevocationEntry): void {
    if (!this.#revoked.add(entry)) return;
    this.#watchers.endWhere((s, id) => this.#revoked.covers(s, id));
  }

  #received(text: string): void {
    const entry = parseEntry(text);
    if (entry) this.#apply(entry);
  }

  /** After (re)subscribing: read the whole shared list, so nothing published meanwhile is missed. */
  async #reloadShared(): Promise<void> {
    const link = this.#link!;
    try {
      const all = await link.fields(this.#listKey);
      const now = Date.now();
      const expired: string[] = [];
      for (const [field, text] of Object.entries(all)) {
        const entry = parseEntry(text);
        if (!entry || entry.until <= now) expired.push(field);
        else this.#apply(entry);
      }
      await link.dropFields(this.#listKey, expired);
      this.#inStepSince = now;
    } catch {
      // A failed read while still connected (a command timeout under load) would leave this replica
      // out of step, refusing every session, until the next reconnection: try again shortly. If
      // Redis went away, the next subscription retries instead.
      if (link.synced) setTimeout(() => void this.#reloadShared(), 250).unref();
    }
  }

  #attrs(domain: string | undefined, maxAge: number | undefined): CookieAttributes {
    const c = this.#cookie;
    return { path: c.path, domain, maxAge, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite };
  }
}

function parseEntry(text: string): RevocationEntry | undefined {
  let e: unknown;
  try { e = JSON.parse(text); } catch { return undefined; }
  const x = e as { revocation?: { kind?: unknown; value?: unknown; before?: unknown }; until?: unknown } | null;
  const r = x?.revocation;
  if (!r || typeof r.value !== 'string' || typeof x.until !== 'number') return undefined;
  if (r.kind === 'id' || r.kind === 'sid') return { revocation: { kind: r.kind, value: r.value }, until: x.until };
  if (r.kind === 'sub' && typeof r.before === 'number') return { revocation: { kind: 'sub', value: r.value, before: r.before }, until: x.until };
  return undefined;
}
