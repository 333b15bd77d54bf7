import type { Logger } from 'pino';
import { PortcullisError } from '../errors.js';
import { refreshEndsSession as endsSession } from '../oidc/classify.js';
import type { Session } from './codec.js';
import type { LoadedSession, NewSession, SessionStore } from './store.js';

/**
 * Asks the issuer to vouch for a session again: the fields of the refreshed session, or a
 * PortcullisError that `endsSession` sorts into "the session is over" and "try again later".
 */
export type RefreshGrant = (s: Session) => Promise<NewSession>;

export interface RefreshOutcome {
  /** The session to go on with: refreshed, as it was, or undefined once it has ended. */
  readonly loaded: LoadedSession | undefined;
  /** Set-Cookie values for the answer: the refreshed session's cookies, or those deleting an ended one. */
  readonly cookies: readonly string[];
}

/** What this process knows about one session id's refresh. */
interface Flight {
  pending?: Promise<RefreshOutcome>;
  /** The newest session made here for this id, and its cookies. */
  latest?: { loaded: LoadedSession; cookies: readonly string[] };
  ended?: true;
  /** After a failure the issuer could not answer: no new attempt before then. */
  retryAt?: number;
  /** When the entry can go: the expiry of the newest session it knows of. */
  until: number;
}

const ENDED: unique symbol = Symbol('ended meanwhile');

/** How soon a process asks again when another replica had claimed the refresh. */
const CLAIMED_ELSEWHERE_RETRY_MS = 1_000;

/** Longest wait before a failed refresh is tried again (shorter when cookie_refresh is shorter). */
const MAX_RETRY_MS = 60_000;
const MAX_FLIGHTS = 10_000;

/**
 * cookie_refresh: a session older than `afterMs` is refreshed with its refresh token before the
 * request goes on, once per session id however many requests arrive together (single flight).
 * Requests that still carry the older cookie afterwards get the newer session and its cookies, not
 * a second refresh: with rotating refresh tokens that second refresh would present a spent token,
 * which issuers answer by revoking the whole grant.
 *
 * - The issuer refuses (invalid_grant, or an answer that fails verification): the session ends
 *   everywhere (store.clear), and the request goes on without one: browsers to sign in, APIs 401.
 * - The issuer cannot answer (down, timeout, 5xx): the session is kept until its own expiry and
 *   the refresh is tried again after min(cookie_refresh, 60 s); meanwhile requests are not held up.
 * - A session without a refresh token (the issuer issued none) lives until it expires.
 */
export class SessionRefresher {
  readonly #store: SessionStore;
  readonly #afterMs: number;
  readonly #retryMs: number;
  readonly #grant: RefreshGrant;
  readonly #log: Logger;
  readonly #flights = new Map<string, Flight>();

  constructor(o: { store: SessionStore; afterMs: number; grant: RefreshGrant; log: Logger }) {
    this.#store = o.store;
    this.#afterMs = o.afterMs;
    this.#retryMs = Math.min(o.afterMs, MAX_RETRY_MS);
    this.#grant = o.grant;
    this.#log = o.log;
  }

  /** True when sessions are refreshed at all (cookie_refresh > 0): they then keep a refresh token. */
  get enabled(): boolean { return this.#afterMs > 0; }

  /** True when the session is older than cookie_refresh: the one test on the hot path. */
  isDue(loaded: LoadedSession, now = Date.now()): boolean {
    return this.#afterMs !== 0 && now - loaded.session.createdAt >= this.#afterMs;
  }

  /**
   * undefined when the session needs nothing (no promise); else the outcome, once the refresh
   * (this request's or one already under way) has settled.
   */
  check(loaded: LoadedSession, cookies: ReadonlyMap<string, string>, domain: string | undefined, now = Date.now()): Promise<RefreshOutcome> | undefined {
    if (!this.isDue(loaded, now)) return undefined;
    const f = this.#flights.get(loaded.id);
    if (f?.ended) return this.#end(loaded, cookies, domain);
    if (f?.latest && f.latest.loaded.session.createdAt > loaded.session.createdAt) return Promise.resolve(f.latest);
    if (f?.pending) return f.pending;
    if (!loaded.session.refreshToken || (f?.retryAt !== undefined && f.retryAt > now)) return undefined;
    const flight: Flight = f ?? { until: loaded.session.expiresAt };
    flight.pending = this.#refresh(loaded, cookies, domain, flight).finally(() => { flight.pending = undefined; });
    this.#keep(loaded.id, flight, now);
    return flight.pending;
  }

  async #refresh(loaded: LoadedSession, cookies: ReadonlyMap<string, string>, domain: string | undefined, flight: Flight): Promise<RefreshOutcome> {
    const store = this.#store;
    // Another replica is refreshing it: go on with the session as it is; the refreshed one reaches
    // this process through the store, and its refresh token is not spent twice.
    if (store.claimRefresh && !await store.claimRefresh(loaded)) {
      flight.retryAt = Date.now() + CLAIMED_ELSEWHERE_RETRY_MS;
      return { loaded, cookies: [] };
    }
    try {
      return await this.#refreshClaimed(loaded, cookies, domain, flight);
    } finally {
      await store.releaseRefresh?.(loaded).catch(() => {});
    }
  }

  async #refreshClaimed(loaded: LoadedSession, cookies: ReadonlyMap<string, string>, domain: string | undefined, flight: Flight): Promise<RefreshOutcome> {
    const s = loaded.session;
    let fields: NewSession;
    try {
      fields = await this.#grant(s);
    } catch (err) {
      const e = err instanceof PortcullisError ? err : new PortcullisError('INTERNAL', { cause: err });
      if (e.code === 'INTERNAL') this.#log.error({ err: (err as Error)?.message, stack: (err as Error)?.stack }, 'unexpected error refreshing a session');
      if (endsSession(e)) {
        flight.ended = true;
        this.#log.info({ event: 'session_refresh_refused', user: s.user, code: e.code, detail: e.detail?.slice(0, 300) }, 'the issuer refused to refresh the session; it has ended');
        return this.#end(loaded, cookies, domain);
      }
      flight.retryAt = Date.now() + this.#retryMs;
      this.#log.warn({ event: 'session_refresh_failed', user: s.user, code: e.code, detail: e.detail?.slice(0, 300), retryInMs: this.#retryMs, expiresAt: new Date(s.expiresAt).toISOString() },
        'the issuer could not refresh the session; keeping it until it expires and trying again later');
      return { loaded, cookies: [] };
    }
    let saved = await this.#update(loaded, fields, cookies, domain);
    if (saved === ENDED) return this.#endedMeanwhile(loaded, cookies, domain, flight);
    if (!saved && fields.idToken) {
      // Too large for the cookie with its ID token: keep the refresh, lose only the id_token_hint at sign-out.
      this.#log.warn({ event: 'session_id_token_dropped', user: s.user }, 'the refreshed session is too large with its ID token; keeping it without');
      saved = await this.#update(loaded, { ...fields, idToken: undefined }, cookies, domain);
      if (saved === ENDED) return this.#endedMeanwhile(loaded, cookies, domain, flight);
    }
    if (!saved) {
      flight.retryAt = Date.now() + this.#retryMs;
      return { loaded, cookies: [] };
    }
    const next = { loaded: { session: saved.session, id: loaded.id }, cookies: saved.cookies };
    flight.latest = next;
    flight.retryAt = undefined;
    flight.until = saved.session.expiresAt;
    this.#log.info({ event: 'session_refreshed', user: saved.session.user }, 'session refreshed');
    return next;
  }

  /** Signed out (or revoked) while the issuer was asked: it stays ended, and this answer deletes it. */
  async #endedMeanwhile(loaded: LoadedSession, cookies: ReadonlyMap<string, string>, domain: string | undefined, flight: Flight): Promise<RefreshOutcome> {
    flight.ended = true;
    this.#log.info({ event: 'session_refresh_dropped', user: loaded.session.user }, 'the session ended while it was being refreshed; it stays ended');
    return this.#end(loaded, cookies, domain);
  }

  /** The refreshed session; undefined when it does not fit (the old one is kept); ENDED when it ended meanwhile. */
  async #update(loaded: LoadedSession, fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] } | typeof ENDED | undefined> {
    try {
      return (await this.#store.update(loaded, fields, cookies, domain)) ?? ENDED;
    } catch (err) {
      if (err instanceof PortcullisError && err.code === 'SESSION_TOO_LARGE') {
        this.#log.warn({ event: 'session_refresh_too_large', user: loaded.session.user, detail: err.detail }, 'the refreshed session does not fit the session cookie; keeping the old one');
        return undefined;
      }
      throw err;
    }
  }

  async #end(loaded: LoadedSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<RefreshOutcome> {
    return { loaded: undefined, cookies: await this.#store.clear(loaded, cookies, domain) };
  }

  /** Remembers a flight until the newest session it knows of expires; bounded, oldest out first. */
  #keep(id: string, flight: Flight, now: number): void {
    if (!this.#flights.has(id)) {
      for (const [k, f] of this.#flights) {
        if (this.#flights.size < MAX_FLIGHTS && f.until > now) break;
        if (!f.pending) this.#flights.delete(k);
      }
    }
    this.#flights.set(id, flight);
  }
}
