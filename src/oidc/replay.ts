import { AsyncLocalStorage } from 'node:async_hooks';
import type * as client from 'openid-client';

interface Recorded {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Array<[string, string]>;
  readonly body: string;
}

/** One login's slot: what the token endpoint answered, or the answer to hand back instead of asking again. */
export interface TokenSlot {
  recorded?: Recorded;
  replay?: Recorded;
}

/**
 * The token endpoint's answer to one login, kept so that openid-client can check the same answer a
 * second time. An authorization code is good for one redemption only, yet openid-client fetches an
 * issuer's JWKS at most once a minute: an ID token signed with a key the issuer published seconds
 * ago (a rotation) fails the first check, and only a check of the same answer after a refetch can
 * let that login through. Nothing is kept outside the login that recorded it.
 */
export class TokenReplay {
  readonly #slots = new AsyncLocalStorage<TokenSlot>();

  /** The fetch openid-client is given: records (or replays) answers of `tokenEndpoint` inside run(). */
  wrap(tokenEndpoint: string, base: client.CustomFetch): client.CustomFetch {
    const target = new URL(tokenEndpoint).href;
    return async (url, options) => {
      const slot = this.#slots.getStore();
      if (!slot || url !== target) return base(url, options);
      if (slot.replay) return toResponse(slot.replay);
      const res = await base(url, options);
      const body = await res.text();
      const headers: Array<[string, string]> = [];
      // The body is kept decoded: its length and encoding headers no longer describe it.
      res.headers.forEach((value, name) => { if (name !== 'content-length' && name !== 'content-encoding') headers.push([name, value]); });
      slot.recorded = { status: res.status, statusText: res.statusText, headers, body };
      return toResponse(slot.recorded);
    };
  }

  /** Logins inside run() now. */
  #running = 0;

  /**
   * Runs one login with its slot. The storage is switched off again when no login is running: on
   * Node 20 and 22 an enabled AsyncLocalStorage installs async_hooks that run for every promise,
   * nextTick and socket write of the whole process, which measured 3–9 µs on every request
   * (/oauth2/auth, proxied GETs) for as long as the process lived after its first login.
   */
  async run<T>(slot: TokenSlot, fn: () => Promise<T>): Promise<T> {
    this.#running++;
    try {
      return await this.#slots.run(slot, fn);
    } finally {
      if (--this.#running === 0) this.#slots.disable();
    }
  }
}

function toResponse(r: Recorded): Response {
  return new Response(r.body, { status: r.status, statusText: r.statusText, headers: r.headers });
}
