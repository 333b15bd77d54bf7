/** What a session store is, apart from which one: the contract the cookie and Redis stores keep (store.ts, redisstore.ts). */
import type { Logger } from 'pino';
import type { SessionStoreConfig } from '../config/types.js';
import type { Session } from './codec.js';
import type { StoreHealth } from './redis.js';

/** A session as loaded from a request, with the id sign-out revokes. */
export interface LoadedSession {
  readonly session: Session;
  readonly id: string;
  /** Set-Cookie values the answer must carry: the session cookie re-sealed with the newest cookie secret. */
  readonly cookies?: readonly string[];
}

/**
 * How a session that a browser still carries ended, in the words the sign-in page may use: past its
 * lifetime, ended by a sign-out elsewhere or a back-channel logout, or no longer readable (a cookie
 * secret since removed, or a damaged cookie). Nothing more is told.
 */
export type SessionEnd = 'expired' | 'signed_out' | 'ended';

/** The fields of a new session; the store adds its id and lifetime. */
export type NewSession = Omit<Session, 'v' | 'sid' | 'createdAt' | 'expiresAt'>;

/** Whose sessions to end: an issuer session (`sid`, back-channel logout) or else every session of a subject. */
export interface RevokeTarget {
  readonly sid?: string;
  readonly sub?: string;
}

export interface RevokeOutcome {
  /** Sessions ended, when the store can count them (server-side sessions). */
  readonly ended?: number;
  /** The `jti` was seen before: nothing was done. */
  readonly replayed?: boolean;
}

/**
 * Where sessions live (oauth2-proxy's `sessions.SessionStore`: Save, Load, Clear). The cookie store
 * keeps the whole session sealed in the browser; the Redis store keeps a ticket in the cookie and the
 * session server-side. Nothing outside `createSessionStore` asks which one it is.
 */
export interface SessionStore {
  /** How long a new session lasts. */
  readonly ttlMs: number;
  /** True when sign-out and revocation reach every replica that shares the store, and other processes (the CLI). */
  readonly shared: boolean;
  /**
   * The request's session: a value when known at once (the hot path), a promise when it must be
   * looked up. `host` (the Host header) places a re-sealed cookie under the right cookie domain.
   * Rejects with SESSION_STORE_UNAVAILABLE when the store cannot tell.
   */
  load(cookies: ReadonlyMap<string, string>, host?: string): LoadedSession | undefined | Promise<LoadedSession | undefined>;
  /** Starts a session; returns the Set-Cookie values that carry it (and clear stale chunks). */
  save(fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] }>;
  /**
   * Replaces a session's contents after a refresh, keeping its id (so a sign-out, or a refused
   * refresh, ends every copy of it) and starting a new lifetime from now; returns the Set-Cookie
   * values that carry it, or undefined when the session ended meanwhile (a sign-out during the
   * refresh must not be undone). Throws SESSION_TOO_LARGE like save().
   */
  update(loaded: LoadedSession, fields: NewSession, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<{ session: Session; cookies: string[] } | undefined>;
  /**
   * Stores shared by replicas: true when this process may refresh the session now, false while
   * another one is at it (its result reaches this one through the store). Absent: always true.
   */
  claimRefresh?(loaded: LoadedSession): Promise<boolean>;
  /** Lets the next refresh of the session be claimed (after update, or a failed grant). */
  releaseRefresh?(loaded: LoadedSession): Promise<void>;
  /** Ends a session everywhere this store can reach; returns the Set-Cookie values that delete it. */
  clear(loaded: LoadedSession | undefined, cookies: ReadonlyMap<string, string>, domain: string | undefined): Promise<string[]>;
  /** Ends every session of an issuer session or a subject (back-channel logout, `portcullis sessions revoke`); a `jti` is honoured once. */
  revoke(target: RevokeTarget, o?: { jti?: string }): Promise<RevokeOutcome>;
  /** Calls `ended` once when this session ends (sign-out, revocation, expiry); returns a function that stops watching. */
  watch(loaded: LoadedSession, ended: () => void): () => void;
  /** Whether sessions can be served now (for /ready). */
  health(): StoreHealth;
  /** True for every cookie name the store writes: those never reach an upstream. */
  ownsCookie(name: string): boolean;
  /**
   * Why a session cookie that loads no session no longer does, for the sign-in page only (never on
   * the proxied path). Absent, or undefined when there is no such cookie: the page tells no reason.
   */
  whyEnded?(cookies: ReadonlyMap<string, string>): Promise<SessionEnd | undefined>;
  close(): Promise<void>;
}

export interface StoreOptions {
  readonly sessionStore?: SessionStoreConfig;
  readonly log?: Logger;
  /** The other workers of this instance (server/workers.ts), for cookie sessions without Redis. */
  readonly siblings?: SiblingProcesses;
}

/**
 * Processes that serve the same cookie sessions from memory of their own (cluster workers): a
 * revocation made in one (sign-out, back-channel logout) is passed to the others as the JSON of
 * its entry, and a worker that starts late is given those still in force when it subscribes.
 */
export interface SiblingProcesses {
  /** Settles once every sibling has taken the entry in (or could not be told): only then is a sign-out answered. */
  publish(entry: string): Promise<void>;
  subscribe(receive: (entry: string) => void): void;
}


/** How long a back-channel logout's `jti` is remembered: longer than a logout token is accepted (backchannel.ts). */
export const JTI_MEMORY_MS = 15 * 60_000;
