import { revocationKeys, type Session } from './codec.js';

/** What a revocation names: one login (`id`), one issuer session (`sid`), or a subject's sessions so far (`sub`). */
export type Revocation =
  | { readonly kind: 'id'; readonly value: string }
  | { readonly kind: 'sid'; readonly value: string }
  /** Every session of the subject that started at or before `before` (ms): later logins are untouched. */
  | { readonly kind: 'sub'; readonly value: string; readonly before: number };

/** A revocation and when it may be forgotten (no session it covers can still be alive then). */
export interface RevocationEntry {
  readonly revocation: Revocation;
  readonly until: number;
}

/**
 * Revoked sessions of a store that keeps no session server-side (cookie sessions): keyed on what
 * is inside the seal (session id, the issuer's sid, the subject), never on the cookie's bytes. An
 * entry lives until the longest session it can cover has expired, so the list stays as long as the
 * revocations of live sessions.
 */
export class Revocations {
  readonly #entries = new Map<string, RevocationEntry>();

  get size(): number { return this.#entries.size; }

  /** Adds (or widens) a revocation; returns false when it changes nothing. */
  add(entry: RevocationEntry, now = Date.now()): boolean {
    this.#prune(now);
    if (entry.until <= now) return false;
    const key = keyOf(entry.revocation);
    const had = this.#entries.get(key);
    if (had && had.until >= entry.until && before(had.revocation) >= before(entry.revocation)) return false;
    const merged: RevocationEntry = had && entry.revocation.kind === 'sub' && before(had.revocation) > entry.revocation.before
      ? { revocation: had.revocation, until: Math.max(had.until, entry.until) }
      : { revocation: entry.revocation, until: Math.max(had?.until ?? 0, entry.until) };
    this.#entries.set(key, merged);
    return true;
  }

  /** True when the session (with its id) is covered by a revocation still in force. */
  covers(session: Session, id: string, now = Date.now()): boolean {
    if (this.#entries.size === 0) return false;
    if (this.#hit(`id:${id}`, now)) return true;
    const keys = revocationKeys(session);
    if (keys.sid !== undefined && this.#hit(`sid:${keys.sid}`, now)) return true;
    const bySub = this.#hit(`sub:${keys.sub}`, now)?.revocation;
    return bySub?.kind === 'sub' && bySub.before >= session.createdAt;
  }

  entries(now = Date.now()): RevocationEntry[] {
    this.#prune(now);
    return [...this.#entries.values()];
  }

  #hit(key: string, now: number): RevocationEntry | undefined {
    const e = this.#entries.get(key);
    return e && e.until > now ? e : undefined;
  }

  #prune(now: number): void {
    for (const [k, e] of this.#entries) if (e.until <= now) this.#entries.delete(k);
  }
}

export function keyOf(r: Revocation): string {
  return `${r.kind}:${r.value}`;
}

function before(r: Revocation): number {
  return r.kind === 'sub' ? r.before : 0;
}
