import type { Session } from './codec.js';

interface Watch {
  readonly session: Session;
  readonly id: string;
  readonly ended: () => void;
  /** The session's expiry, moved on when a refresh extends it. */
  expiresAt: number;
  timer?: NodeJS.Timeout;
}

/** setTimeout's limit (about 24.8 days); a longer wait is taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Long-lived connections (upgraded websockets) that must end with their session: on sign-out,
 * revocation or back-channel logout (`end`/`endWhere`), and at the session's expiry (a timer).
 * Nothing is polled; a store tells its watchers when something ends.
 */
export class SessionWatchers {
  readonly #byId = new Map<string, Set<Watch>>();

  get size(): number { let n = 0; for (const s of this.#byId.values()) n += s.size; return n; }

  /** Calls `ended` once when the session ends; the returned function stops watching (call it when the connection closes). */
  watch(session: Session, id: string, ended: () => void): () => void {
    const w: Watch = { session, id, ended, expiresAt: session.expiresAt };
    let set = this.#byId.get(id);
    if (!set) this.#byId.set(id, (set = new Set()));
    set.add(w);
    this.#arm(w);
    return () => this.#drop(w);
  }

  /** The ids of the sessions watched now. */
  ids(): string[] { return [...this.#byId.keys()]; }

  /** A refresh gave the session a later expiry: its connections live until then. */
  extend(id: string, expiresAt: number): void {
    for (const w of this.#byId.get(id) ?? []) {
      if (expiresAt <= w.expiresAt) continue;
      w.expiresAt = expiresAt;
      if (w.timer) clearTimeout(w.timer);
      this.#arm(w);
    }
  }

  /** Ends every connection of these session ids. */
  end(ids: Iterable<string>): void {
    for (const id of ids) for (const w of [...this.#byId.get(id) ?? []]) this.#fire(w);
  }

  /** Ends every connection whose session matches (a revocation by subject or issuer session). */
  endWhere(matches: (session: Session, id: string) => boolean): void {
    for (const set of [...this.#byId.values()]) for (const w of [...set]) if (matches(w.session, w.id)) this.#fire(w);
  }

  #arm(w: Watch): void {
    const left = w.expiresAt - Date.now();
    if (left <= 0) return void queueMicrotask(() => this.#fire(w));
    w.timer = setTimeout(() => (Date.now() >= w.expiresAt ? this.#fire(w) : this.#arm(w)), Math.min(left, MAX_TIMER_MS));
    w.timer.unref();
  }

  #fire(w: Watch): void {
    if (!this.#drop(w)) return;
    try { w.ended(); } catch { /* a watcher's failure is its own */ }
  }

  #drop(w: Watch): boolean {
    const set = this.#byId.get(w.id);
    if (!set?.delete(w)) return false;
    if (set.size === 0) this.#byId.delete(w.id);
    if (w.timer) clearTimeout(w.timer);
    return true;
  }
}
