import { createHash, timingSafeEqual } from 'node:crypto';
import { sealData, unsealData } from 'iron-session';
import type { StepUp } from '../access/routepolicies.js';
import type { SealPasswords } from '../config/secret.js';
import type { DpopKey } from './codec.js';
import type { CookieConfig, LoginStateCookieConfig } from '../config/validate.js';
import { isCanonicalSeal } from './codec.js';
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
  /** With dpop: the key this login's code is bound to (dpop_jkt), then its session's key. */
  readonly dpopKey?: DpopKey;
  /**
   * The provider (its id) this login was started at, with several providers: the callback redeems
   * the code there and nowhere else (the mix-up defence, RFC 9700 §4.4). None: the first provider.
   */
  readonly provider?: string;
}

/** Logins in progress one browser may have at once (tabs, retries); older ones are dropped. */
export const MAX_LOGIN_STATES = 5;

/** A slow login (password reset, MFA enrolment) must still finish: the window a login has by default. */
export const LOGIN_STATE_TTL_S = 15 * 60;
/**
 * How long the cookie itself is kept beyond the window, so that a login that comes back late is
 * told it took too long, rather than that its cookie is missing (which reads like a cookie problem).
 */
const LOGIN_STATE_GRACE_S = 45 * 60;

const DEFAULT_CSRF: LoginStateCookieConfig = { windowMs: LOGIN_STATE_TTL_S * 1000, perRequest: true, limit: MAX_LOGIN_STATES };

/**
 * Login-state cookies, one per attempt: the cookie's name carries a digest of `state`, so several
 * tabs can log in at once without overwriting each other's verifier and nonce. Scoped to the proxy
 * prefix, so they never travel with application requests.
 */
export class LoginStateCookies {
  readonly #passwords: SealPasswords;
  readonly #cookie: CookieConfig;
  readonly #path: string;
  readonly #csrf: LoginStateCookieConfig;
  /** Seconds the cookie (and its seal) lives: the window and a grace period. */
  readonly #keptS: number;

  /** `passwords`: one, or the maps of every cookie secret (a login under way survives a rotation). */
  constructor(passwords: string | SealPasswords, cookie: CookieConfig, proxyPrefix: string) {
    this.#passwords = typeof passwords === 'string' ? { seal: { 1: passwords }, unseal: { 1: passwords }, sealId: '1' } : passwords;
    this.#cookie = cookie;
    this.#path = proxyPrefix;
    this.#csrf = cookie.csrf ?? DEFAULT_CSRF;
    this.#keptS = Math.ceil(this.#csrf.windowMs / 1000) + LOGIN_STATE_GRACE_S;
  }

  /** One cookie per login attempt (cookie_csrf_per_request), rather than one for all. */
  get perRequest(): boolean { return this.#csrf.perRequest; }

  /** How long a login may take (cookie_csrf_expire), in ms. */
  get windowMs(): number { return this.#csrf.windowMs; }

  /**
   * With cookie_csrf_per_request (the default here) each attempt has its own cookie, its name
   * carrying a digest of the state; without it, as in oauth2-proxy's default, one cookie for all,
   * and a second login overwrites the first.
   */
  nameFor(state: string): string {
    if (!this.#csrf.perRequest) return `${this.#cookie.name}_csrf`;
    return `${this.#cookie.name}_csrf_${createHash('sha256').update(state).digest('base64url').slice(0, 16)}`;
  }

  isLoginStateCookie(name: string): boolean {
    return name.startsWith(`${this.#cookie.name}_csrf_`) || name === `${this.#cookie.name}_csrf`;
  }

  async setCookie(ls: LoginState, domain: string | undefined): Promise<string> {
    const sealed = await sealData(ls, { password: this.#passwords.seal, ttl: this.#keptS });
    return serializeCookie(this.nameFor(ls.state), sealed, this.#attrs(domain, this.#keptS));
  }

  /** True when the login began longer ago than its window. */
  tooLate(ls: LoginState, now = Date.now()): boolean {
    return typeof ls.startedAt === 'number' && now - ls.startedAt > this.#csrf.windowMs;
  }

  /**
   * Set-Cookie values that delete the oldest login-state cookies this browser holds, so that with
   * the one about to be added there are at most MAX_LOGIN_STATES. Abandoned logins otherwise pile
   * up (one per click, 15 minutes each) until the Cookie header of every /oauth2 request exceeds
   * the server's limit. Age is read from the seal's own expiry field (iron's sixth field, covered
   * by its HMAC); a cookie that is not a seal counts as oldest.
   */
  evictOldest(cookies: ReadonlyMap<string, string>, domain: string | undefined): string[] {
    const limit = this.#csrf.limit;
    // One shared cookie is simply overwritten; 0 is "no limit" (cookie_csrf_per_request_limit).
    if (!this.#csrf.perRequest || limit === 0) return [];
    const held: Array<[name: string, expires: number]> = [];
    for (const [name, value] of cookies) {
      if (this.isLoginStateCookie(name)) held.push([name, Number(value.split('*')[5]) || 0]);
    }
    if (held.length < limit) return [];
    held.sort((a, b) => a[1] - b[1]);
    return held.slice(0, held.length - limit + 1).map(([name]) => serializeCookie(name, '', this.#attrs(domain, 0)));
  }

  clearCookie(state: string, domain: string | undefined): string {
    return serializeCookie(this.nameFor(state), '', this.#attrs(domain, 0));
  }

  /** True when the request carries no login-state cookie at all (the browser never kept one). */
  noneIn(cookies: ReadonlyMap<string, string>): boolean {
    for (const name of cookies.keys()) if (this.isLoginStateCookie(name)) return false;
    return true;
  }


  /** The attempt this callback belongs to, or undefined (long gone, other browser, forged state). */
  async read(cookies: Map<string, string>, state: string): Promise<LoginState | undefined> {
    const sealed = cookies.get(this.nameFor(state));
    // iron-session reads `~2x` or `~2 ` as version 2: only the spelling it writes is a login state.
    if (!sealed || !isCanonicalSeal(sealed)) return undefined;
    let data: Partial<LoginState>;
    try {
      data = await unsealData<LoginState>(sealed, { password: this.#passwords.unseal, ttl: this.#keptS });
    } catch {
      return undefined;
    }
    if (typeof data.state !== 'string' || typeof data.codeVerifier !== 'string' || typeof data.nonce !== 'string') return undefined;
    const a = Buffer.from(data.state);
    const b = Buffer.from(state);
    return a.length === b.length && timingSafeEqual(a, b) ? (data as LoginState) : undefined;
  }

  #attrs(domain: string | undefined, maxAge: number): CookieAttributes {
    // SameSite=Lax at most unless cookie_csrf_samesite says so: the callback is a top-level
    // navigation from the issuer's site, which Strict would strip the cookie from.
    const sameSite = this.#csrf.sameSite ?? (this.#cookie.sameSite === 'strict' ? 'lax' : this.#cookie.sameSite);
    return { path: this.#path, domain, maxAge, secure: this.#cookie.secure, httpOnly: true, sameSite };
  }
}
