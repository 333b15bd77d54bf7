import { createHash, timingSafeEqual } from 'node:crypto';
import { sealData, unsealData } from 'iron-session';
import type { StepUp } from '../access/routepolicies.js';
import type { SealPasswords } from '../config/secret.js';
import type { CookieConfig } from '../config/validate.js';
import { serializeCookie, type CookieAttributes } from './cookies.js';

/** One login attempt's secrets, kept in the browser (sealed) between /start and /callback. */
export interface LoginState {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** Where to go after login: already checked to be a local path. */
  readonly rd: string;
  /** The redirect_uri sent to the issuer, which the code redemption must repeat exactly. */
  readonly redirectUri: string;
  /** When /start sent the browser off: a login has LOGIN_WINDOW_S to come back. */
  readonly startedAt: number;
  /** The step-up (acr_values, max_age) asked of the issuer for the route at rd: the callback checks it was met. */
  readonly stepUp?: StepUp;
}

/** Logins in progress one browser may have at once (tabs, retries); older ones are dropped. */
export const MAX_LOGIN_STATES = 5;

/** A slow login (password reset, MFA enrolment) must still finish: the window a login has. */
export const LOGIN_STATE_TTL_S = 15 * 60;
/**
 * How long the cookie itself is kept: longer than the window, so that a login that comes back late
 * is told it took too long, rather than that its cookie is missing (which reads like a cookie problem).
 */
const LOGIN_STATE_KEPT_S = 60 * 60;

/**
 * Login-state cookies, one per attempt: the cookie's name carries a digest of `state`, so several
 * tabs can log in at once without overwriting each other's verifier and nonce. Scoped to the proxy
 * prefix, so they never travel with application requests.
 */
export class LoginStateCookies {
  readonly #passwords: SealPasswords;
  readonly #cookie: CookieConfig;
  readonly #path: string;

  /** `passwords`: one, or the maps of every cookie secret (a login under way survives a rotation). */
  constructor(passwords: string | SealPasswords, cookie: CookieConfig, proxyPrefix: string) {
    this.#passwords = typeof passwords === 'string' ? { seal: { 1: passwords }, unseal: { 1: passwords }, sealId: '1' } : passwords;
    this.#cookie = cookie;
    this.#path = proxyPrefix;
  }

  nameFor(state: string): string {
    return `${this.#cookie.name}_csrf_${createHash('sha256').update(state).digest('base64url').slice(0, 16)}`;
  }

  isLoginStateCookie(name: string): boolean {
    return name.startsWith(`${this.#cookie.name}_csrf_`);
  }

  async setCookie(ls: LoginState, domain: string | undefined): Promise<string> {
    const sealed = await sealData(ls, { password: this.#passwords.seal, ttl: LOGIN_STATE_KEPT_S });
    return serializeCookie(this.nameFor(ls.state), sealed, this.#attrs(domain, LOGIN_STATE_KEPT_S));
  }

  /**
   * Set-Cookie values that delete the oldest login-state cookies this browser holds, so that with
   * the one about to be added there are at most MAX_LOGIN_STATES. Abandoned logins otherwise pile
   * up (one per click, 15 minutes each) until the Cookie header of every /oauth2 request exceeds
   * the server's limit. Age is read from the seal's own expiry field (iron's sixth field, covered
   * by its HMAC); a cookie that is not a seal counts as oldest.
   */
  evictOldest(cookies: ReadonlyMap<string, string>, domain: string | undefined): string[] {
    const held: Array<[name: string, expires: number]> = [];
    for (const [name, value] of cookies) {
      if (this.isLoginStateCookie(name)) held.push([name, Number(value.split('*')[5]) || 0]);
    }
    if (held.length < MAX_LOGIN_STATES) return [];
    held.sort((a, b) => a[1] - b[1]);
    return held.slice(0, held.length - MAX_LOGIN_STATES + 1).map(([name]) => serializeCookie(name, '', this.#attrs(domain, 0)));
  }

  clearCookie(state: string, domain: string | undefined): string {
    return serializeCookie(this.nameFor(state), '', this.#attrs(domain, 0));
  }

  /** True when the request carries no login-state cookie at all (the browser never kept one). */
  noneIn(cookies: ReadonlyMap<string, string>): boolean {
    for (const name of cookies.keys()) if (this.isLoginStateCookie(name)) return false;
    return true;
  }

  /** True when the login began longer ago than its window. */
  static tooLate(ls: LoginState, now = Date.now()): boolean {
    return typeof ls.startedAt === 'number' && now - ls.startedAt > LOGIN_STATE_TTL_S * 1000;
  }

  /** The attempt this callback belongs to, or undefined (long gone, other browser, forged state). */
  async read(cookies: Map<string, string>, state: string): Promise<LoginState | undefined> {
    const sealed = cookies.get(this.nameFor(state));
    if (!sealed) return undefined;
    let data: Partial<LoginState>;
    try {
      data = await unsealData<LoginState>(sealed, { password: this.#passwords.unseal, ttl: LOGIN_STATE_KEPT_S });
    } catch {
      return undefined;
    }
    if (typeof data.state !== 'string' || typeof data.codeVerifier !== 'string' || typeof data.nonce !== 'string') return undefined;
    const a = Buffer.from(data.state);
    const b = Buffer.from(state);
    return a.length === b.length && timingSafeEqual(a, b) ? (data as LoginState) : undefined;
  }

  #attrs(domain: string | undefined, maxAge: number): CookieAttributes {
    // SameSite=Lax at most: the callback is a top-level navigation from the issuer's site, which
    // Strict would strip the cookie from.
    const sameSite = this.#cookie.sameSite === 'strict' ? 'lax' : this.#cookie.sameSite;
    return { path: this.#path, domain, maxAge, secure: this.#cookie.secure, httpOnly: true, sameSite };
  }
}
