import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { checkAuthQuery, parseAuthQuery } from '../access/authquery.js';
import type { AccessPolicy } from '../access/policy.js';
import { checkRoute, stepUpChallenge, stepUpMet, stepUpShortfall, type RoutePolicies, type StepUp } from '../access/routepolicies.js';
import { isSafeRedirect, safeRedirectPath, splitHostPort, type AllowedDomains } from '../access/redirect.js';
import type { Config, ProviderConfig } from '../config/validate.js';
import { isLoopbackHost } from '../config/values.js';
import { PortcullisError } from '../errors.js';
import { LogoutTokenRefused, LogoutTokenVerifier, readLogoutToken, unverifiedIssuer } from '../oidc/backchannel.js';
import { beginLogin, completeLogin, loginRequestFrom, sessionFields, tokenNeeds, type LoginResult } from '../oidc/flow.js';
import type { Issuer } from '../oidc/issuer.js';
import { qualifiedUser, type Issuers } from '../oidc/issuers.js';
import { homeProvider, providerChoices } from '../oidc/choice.js';
import { ID_TOKEN_PLACEHOLDER, backendLogout, endSessionUrl, withIdToken } from '../oidc/logout.js';
import { cookieDomainFor } from '../session/cookies.js';
import { LoginStateCookies } from '../session/loginstate.js';
import type { NewSession, RevokeTarget, SessionEnd, SessionStore } from '../session/store.js';
import { providerScoped } from '../session/codec.js';
import { applyToResponse, type IdentityHeaders } from '../upstream/identity.js';
import type { IdentityJwt } from '../upstream/identityjwt.js';
import { answer, pagesFor, redirect, refusalFor, sendError, sendHtml, sendJson, type Refused } from './answer.js';
import { splitTarget, type RequestContext } from './context.js';
import { firstValue, forwardedTargets, isUnderPrefix, requestHost, requestScheme } from './forwarded.js';
import { observe } from './observe.js';

export interface EndpointDeps {
  readonly config: Config;
  readonly log: Logger;
  /** Sign-in events (auth_logging); the main log when unset. */
  readonly authLog?: Logger;
  /** Every provider's issuer; a login, a session and a logout token each follow their own. */
  readonly issuers: Issuers;
  readonly sessions: SessionStore;
  readonly loginStates: LoginStateCookies;
  readonly access: AccessPolicy;
  /** The X-Auth-Request-* headers of a forward-auth answer (empty unless set_xauthrequest). */
  readonly answerIdentity: IdentityHeaders;
  /** Set with pass_identity_jwt: its JWKS is served at {proxy_prefix}/jwks.json. */
  readonly identityJwt?: IdentityJwt;
}

/**
 * One of the proxy's own endpoints; `session` says whether the road loads the session first, and
 * `asLoaded` that it wants it as the cookie has it, never refreshed first (sign-out).
 */
export interface Endpoint {
  readonly session: boolean;
  readonly asLoaded?: true;
  /** Answers the request; forward-auth answers synchronously (no promise on its hot path). */
  readonly run: (ctx: RequestContext) => void | Promise<void>;
}

/** The proxy's own endpoints under proxy_prefix (oauth2-proxy's names and behaviour). */
export class AuthEndpoints {
  readonly #d: EndpointDeps;
  readonly #routes: Map<string, Endpoint>;
  readonly #logoutTokens = new LogoutTokenVerifier();
  get #authLog(): Logger { return this.#d.authLog ?? this.#d.log; }

  constructor(deps: EndpointDeps) {
    this.#d = deps;
    const p = deps.config.proxyPrefix;
    this.#routes = new Map<string, Endpoint>([
      [`${p}/start`, { session: false, run: (c) => this.start(c) }],
      [`${p}/callback`, { session: false, run: (c) => this.callback(c) }],
      [`${p}/sign_in`, { session: true, asLoaded: true, run: (c) => this.signIn(c) }],
      [`${p}/sign_out`, { session: true, asLoaded: true, run: (c) => this.signOut(c) }],
      [`${p}/userinfo`, { session: true, run: (c) => this.userinfo(c) }],
      [`${p}/auth`, { session: true, run: (c) => this.auth(c) }],
      [`${p}/backchannel_logout`, { session: false, run: (c) => this.backchannelLogout(c) }],
    ]);
    const jwt = deps.identityJwt;
    if (jwt) {
      // Public keys only; upstreams cache it for a while and refetch on an unknown kid.
      const body = JSON.stringify(jwt.jwks());
      this.#routes.set(`${p}/jwks.json`, { session: false, run: async (c) => answer(c.out, 200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' }, body) });
    }
  }

  route(pathname: string): Endpoint | undefined {
    return this.#routes.get(pathname);
  }

  /** Why the request's session cookie no longer gives a session; undefined without one. */
  async #sessionEnd(cookies: ReadonlyMap<string, string>): Promise<SessionEnd | undefined> {
    const store = this.#d.sessions;
    let carried = false;
    for (const name of cookies.keys()) if (store.ownsCookie(name)) { carried = true; break; }
    if (!carried) return undefined;
    return (await store.whyEnded?.(cookies).catch(() => undefined)) ?? 'ended';
  }

  /** Where an unauthenticated browser is sent: the sign-in page, or straight to the issuer. */
  signInLocation(rd: string): string {
    const p = this.#d.config.proxyPrefix;
    // With several providers there is a choice to make: the sign-in page, whatever skip_provider_button says.
    return `${p}/${this.#d.config.skipProviderButton && !this.#d.issuers.several ? 'start' : 'sign_in'}?rd=${encodeURIComponent(rd)}`;
  }

  async signIn(ctx: RequestContext): Promise<void> {
    const rd = appRedirect(ctx, this.#d.config.whitelistDomains);
    // login_hint and prompt (select_account, to switch user) ride along to /start, checked there.
    const passOn = new URLSearchParams({ rd });
    for (const name of ['login_hint', 'prompt']) {
      const v = ctx.query.get(name);
      if (v !== null) passOn.set(name, v);
    }
    const prefix = this.#d.config.proxyPrefix;
    const start = `${prefix}/start?${passOn.toString().replace(/\+/g, '%20')}`;
    const issuers = this.#d.issuers;
    // Someone already signed in (and still let in) is told who, and offered to continue, switch or sign out.
    const s = ctx.session?.session;
    const signedInAs = s && this.#d.access.forSession(s).allowed ? refusalFor(s, prefix).signedInAs : undefined;
    const signedOut = ctx.query.has('signed_out');
    // A session cookie that brought no session: the page says the session ended, and why when known.
    // Worked out here only, never on the proxied path that sent the browser here.
    const ended = s || signedOut ? undefined : await this.#sessionEnd(ctx.cookies);
    if (!issuers.several) {
      if (this.#d.config.skipProviderButton && !signedInAs) return redirect(ctx.out, start);
      const pages = pagesFor(ctx.req);
      return sendHtml(ctx.out, 200, pages.signIn({ startUrl: start, redirect: rd, signedInAs, signedOut, ended }), [], pages.headers);
    }
    // Home-realm discovery: a login_hint at a provider's home domain goes straight there.
    const home = signedInAs ? undefined : homeProvider(issuers.all.map((i) => i.provider), ctx.query.get('login_hint'));
    if (home) return redirect(ctx.out, `${start}&provider=${encodeURIComponent(home.id)}`);
    const pages = pagesFor(ctx.req);
    const choices = providerChoices(issuers.all.map((i) => i.provider), prefix, passOn);
    sendHtml(ctx.out, 200, pages.signIn({ startUrl: start, redirect: rd, signedInAs, signedOut, ended, providers: choices.providers, emailForm: choices.emailForm }), [], pages.headers);
  }

  /**
   * The provider a login starts at: the one named by `provider` (an unknown id is refused, never
   * sent elsewhere), else the home provider of the login_hint's domain, else (one provider) the
   * only one. With several and no choice made, undefined: the sign-in page lets the user choose.
   */
  #chosenIssuer(ctx: RequestContext): Issuer | PortcullisError | undefined {
    const issuers = this.#d.issuers;
    const asked = ctx.query.get('provider');
    if (asked !== null) return issuers.get(asked) ?? new PortcullisError('PROVIDER_UNKNOWN', { detail: `provider=${JSON.stringify(asked.slice(0, 100))}` });
    if (!issuers.several) return issuers.first;
    const home = homeProvider(issuers.all.map((i) => i.provider), ctx.query.get('login_hint'));
    return home && issuers.get(home.id);
  }

  /** The known providers, for the page that refuses an unknown one: operator text only, never the id asked for. */
  #knownProviders(): string {
    return `The providers here are: ${this.#d.issuers.all.map((i) => `${i.provider.displayName} (${i.provider.id})`).join(', ')}.`;
  }

  async start(ctx: RequestContext): Promise<void> {
    const chosen = this.#chosenIssuer(ctx);
    if (chosen instanceof PortcullisError) {
      const known = this.#d.issuers.all.map((i) => i.provider.id);
      return sendError(ctx.req, ctx.out, chosen, { note: this.#knownProviders(), retryUrl: `${this.#d.config.proxyPrefix}/sign_in`, extra: { providers: known.join(' ') } });
    }
    if (!chosen) {
      // Several providers and nothing chose one: the sign-in page, with what the link carried.
      const passOn = new URLSearchParams();
      for (const name of ['rd', 'login_hint', 'prompt']) {
        const v = ctx.query.get(name);
        if (v !== null) passOn.set(name, v);
      }
      return redirect(ctx.out, `${this.#d.config.proxyPrefix}/sign_in${passOn.size ? `?${passOn.toString().replace(/\+/g, '%20')}` : ''}`);
    }
    const provider = chosen.provider;
    const several = this.#d.issuers.several;
    const clients = chosen.clients;
    // A provider whose issuer is down fails at once, and only its own logins.
    if (!clients) return sendError(ctx.req, ctx.out, new PortcullisError('ISSUER_UNAVAILABLE', { detail: `issuer discovery has not succeeded yet${several ? ` (provider ${provider.id})` : ''}` }));
    const redirectUri = this.#redirectUri(ctx.req, provider);
    if (!redirectUri) return sendError(ctx.req, ctx.out, new PortcullisError('BAD_REQUEST', { detail: 'no usable Host header to build the redirect URL' }));
    const rd = appRedirect(ctx, this.#d.config.whitelistDomains);
    const { url, loginState } = await beginLogin(clients, provider, redirectUri, rd, {
      bindProvider: several,
      request: loginRequestFrom(ctx.query),
      wantsRefreshToken: this.#d.config.cookie.refreshMs > 0,
      // The step-up comes from the operator's rules for rd, never from the query (rd_method only
      // picks among those rules; the road checks again whatever a login brings back).
      stepUp: this.#d.config.routePolicies && stepUpForRedirect(rd, ctx.query.get('rd_method'), this.#d.config.routePolicies),
    });
    const domain = this.#domain(ctx.req);
    const cookie = await this.#d.loginStates.setCookie(loginState, domain);
    if (observe.login.hasSubscribers) observe.login.publish({ outcome: 'started', provider: provider.id });
    redirect(ctx.out, url.href, [...this.#d.loginStates.evictOldest(ctx.cookies, domain), cookie]);
  }

  async callback(ctx: RequestContext): Promise<void> {
    // response_mode=form_post: the issuer's page POSTs the answer as a form instead of a query.
    let form: URLSearchParams | undefined;
    if (this.#formPost && ctx.req.method === 'POST') {
      form = await readCallbackForm(ctx.req);
      if (!form) return sendError(ctx.req, ctx.out, new PortcullisError('LOGIN_BAD_REQUEST', { detail: 'form_post callback without an application/x-www-form-urlencoded body of at most 64 KiB' }));
    }
    const q = form ?? ctx.query;
    const state = q.get('state');
    const domain = this.#domain(ctx.req);
    const loginState = state ? await this.#d.loginStates.read(ctx.cookies, state) : undefined;
    // With one shared login-state cookie (cookie_csrf_per_request=false) a callback that is not its
    // login's must leave it to the login it belongs to.
    const clearState = state && (loginState || this.#d.loginStates.perRequest) ? [this.#d.loginStates.clearCookie(state, domain)] : [];
    const retryUrl = `${this.#d.config.proxyPrefix}/sign_in`;
    // The provider this login was started at (bound in its state); the first for a state that names none.
    const issuer = loginState && this.#d.issuers.of(loginState);
    const providerId = issuer ? issuer.provider.id : undefined;
    const fail = (err: PortcullisError, note?: string, refused?: Refused): void => {
      this.#authLog.warn({ event: 'login_failed', code: err.code, detail: err.detail?.slice(0, 300), ...(this.#d.issuers.several && providerId ? { provider: providerId } : {}) }, 'login failed');
      if (observe.login.hasSubscribers) observe.login.publish({ outcome: 'failed', code: err.code, provider: providerId });
      sendError(ctx.req, ctx.out, err, { retryUrl, cookies: clearState, note, refused });
    };

    const issuerError = q.get('error');
    if (issuerError) {
      const error = issuerError.slice(0, 60);
      const description = (q.get('error_description') ?? '').slice(0, 200);
      // The issuer's words are shown only on a callback for a login this browser started: anyone
      // can craft a link to the callback, and the proxy's page must not carry their text.
      const note = loginState ? `The identity provider said: ${error}${description ? ` (${description})` : ''}` : undefined;
      return fail(new PortcullisError('LOGIN_DENIED', { detail: `${error}: ${description}` }), note);
    }
    if (!state) return fail(new PortcullisError('LOGIN_BAD_REQUEST', { detail: 'callback without state' }));
    if (!loginState) return fail(this.#whyNoLoginState(ctx));
    if (this.#d.loginStates.tooLate(loginState)) {
      return fail(new PortcullisError('LOGIN_EXPIRED', { detail: `login started ${Math.round((Date.now() - loginState.startedAt) / 60_000)} minutes ago` }), `It took longer than ${inWords(this.#d.loginStates.windowMs)}.`);
    }
    if (!q.get('code')) return fail(new PortcullisError('LOGIN_BAD_REQUEST', { detail: 'callback without code' }));
    if (!issuer) return fail(new PortcullisError('LOGIN_STATE_MISSING', { detail: `the login's provider ${JSON.stringify(loginState.provider)} is no longer configured` }));
    const provider = issuer.provider;
    if (form && provider.responseMode !== 'form_post') return fail(new PortcullisError('LOGIN_BAD_REQUEST', { detail: `a form_post callback for provider ${provider.id}, which does not use response_mode=form_post` }));
    const clients = issuer.clients;
    if (!clients) return fail(new PortcullisError('ISSUER_UNAVAILABLE', { detail: 'issuer discovery has not succeeded yet' }));

    const callbackUrl = new URL(loginState.redirectUri);
    callbackUrl.search = form ? `?${form.toString()}` : ctx.search;
    let login;
    try {
      // Redeemed at the login's own provider only, and its answer checked against that issuer
      // (RFC 9207 iss when it advertises it, the ID token's iss always): a code or token from another
      // provider fails here (the mix-up attack, RFC 9700 §4.4).
      login = await completeLogin(clients, provider, loginState, callbackUrl);
    } catch (err) {
      if (err instanceof PortcullisError) return fail(err);
      throw err;
    }
    const several = this.#d.issuers.several;
    // The same sub at two issuers is two people: with several providers the user is sub@provider.
    const identity = several ? { ...login.identity, user: qualifiedUser(login.identity.sub, provider.id, true) } : login.identity;
    const verdict = this.#d.access.decide(identity, provider.id);
    // Signed in at the issuer, refused here: the page says as whom, and how to switch account.
    if (!verdict.allowed) return fail(new PortcullisError(verdict.code, { detail: verdict.detail }), undefined, refusalFor(identity, this.#d.config.proxyPrefix));
    const needs = tokenNeeds(this.#d.config, clients, provider);
    if (needs.refreshToken && !login.refreshToken) this.#noRefreshTokenWarning();
    let saved;
    try {
      saved = await this.#saveLogin(login, sessionFields(identity, login, needs, several ? provider.id : undefined), ctx, domain);
    } catch (err) {
      if (err instanceof PortcullisError) return fail(err);
      throw err;
    }
    const s = saved.session;
    ctx.user = s.user;
    this.#authLog.info({ event: 'login', user: s.user, email: s.email, groups: s.groups.length, ...(s.acr !== undefined ? { acr: s.acr } : {}), ...(several ? { provider: provider.id } : {}) }, 'login');
    if (observe.login.hasSubscribers) observe.login.publish({ outcome: 'completed', provider: provider.id });
    // A step-up the issuer did not meet ends here, with the new session kept (it is a good login,
    // only not strong enough for rd): sending the browser on to rd would only send it back.
    const up = loginState.stepUp;
    const nowS = Math.floor(Date.now() / 1000);
    if (up && !stepUpMet(s, up, nowS)) {
      const detail = stepUpShortfall(s, up, nowS);
      this.#d.log.warn({ event: 'step_up_unmet', user: s.user, detail }, 'the issuer did not meet the step-up asked for');
      const retryUrl = `${this.#d.config.proxyPrefix}/start?rd=${encodeURIComponent(loginState.rd)}${several ? `&provider=${encodeURIComponent(provider.id)}` : ''}`;
      return sendError(ctx.req, ctx.out, new PortcullisError('STEP_UP_FAILED', { detail }), { cookies: [...saved.cookies, ...clearState], retryUrl, refused: refusalFor(s, this.#d.config.proxyPrefix) });
    }
    redirect(ctx.out, loginState.rd, [...saved.cookies, ...clearState]);
  }

  /**
   * Ends the session here and, when the issuer has an end_session_endpoint, there too
   * (RP-Initiated Logout): the browser goes to the issuer with id_token_hint and comes back to this
   * endpoint, whose `state` then says where to land. backend_logout_url is called first, by the proxy.
   */
  async signOut(ctx: RequestContext): Promise<void> {
    const loaded = ctx.session;
    // Back from the issuer, `state` is the rd sent with it; as untrusted as any rd.
    const returning = ctx.query.get('state');
    // The first allowed of rd, X-Auth-Request-Redirect and (back from the issuer) state, as
    // oauth2-proxy tries its sources. nginx sets the header to the request's own URI on every
    // /oauth2/ path; pointing into the proxy's own paths, it names no page to land on, only a loop.
    const header = ctx.req.headers['x-auth-request-redirect'];
    const fromHeader = typeof header === 'string' && !isOwnPath(header, this.#d.config.proxyPrefix, [ctx.req.headers.host, requestHost(ctx.req, this.#d.config)]) ? header : undefined;
    const allowed = this.#d.config.whitelistDomains;
    const asked = [ctx.query.get('rd'), fromHeader].find((t) => t != null && isSafeRedirect(t, allowed)) ?? undefined;
    // With nowhere asked for, the sign-out ends on a page that says so (the sign-in page's signed-out
    // state), rather than on the app's "/", which would only show "sign in to continue" again.
    const rd = asked ?? safeRedirectPath(returning, `${this.#d.config.proxyPrefix}/sign_in?signed_out=1`, allowed);
    const cookies = await this.#d.sessions.clear(loaded, ctx.cookies, this.#domain(ctx.req));
    if (!loaded) return redirect(ctx.out, rd, cookies);
    const s = loaded.session;
    ctx.user = s.user;
    this.#authLog.info({ event: 'sign_out', user: s.user }, 'sign out');
    // Sign-out continues at the provider the session came from, and only there.
    const issuer = this.#d.issuers.of(s);
    const backendLogoutUrl = issuer?.provider.backendLogoutUrl;
    if (backendLogoutUrl) await backendLogout(backendLogoutUrl, s.idToken, this.#d.log, s.user);
    const clients = issuer?.clients;
    // oauth2-proxy's own way to sign out at the issuer: an rd with `{id_token}` in it, filled with
    // the session's ID token. Only an rd the user asked for (never the state coming back) and only
    // on the issuer's own origin (or its end_session_endpoint's): anywhere else, a link could carry
    // the token off (a local path through an app's open redirect, a whitelisted page).
    if (issuer && asked?.includes(ID_TOKEN_PLACEHOLDER) && this.#isIssuerOrigin(asked, issuer.provider, clients?.endSessionEndpoint)) {
      return redirect(ctx.out, withIdToken(asked, s.idToken), cookies);
    }
    const callback = this.#redirectUri(ctx.req, issuer?.provider);
    // Never to the issuer twice: a browser that comes back with a session still on (a cookie this
    // request could not delete) lands on rd rather than looping.
    const atIssuer = clients && callback && returning === null
      ? endSessionUrl(clients, { idToken: s.idToken, postLogoutRedirectUri: `${new URL(callback).origin}${this.#d.config.proxyPrefix}/sign_out`, state: rd })
      : undefined;
    redirect(ctx.out, atIssuer?.href ?? rd, cookies);
  }

  #isIssuerOrigin(target: string, p: ProviderConfig, endSession: string | undefined): boolean {
    let origin: string;
    try { origin = new URL(target).origin; } catch { return false; }
    const issuer = p.issuerUrl;
    return [issuer?.href, endSession].some((u) => {
      try { return u !== undefined && new URL(u).origin === origin; } catch { return false; }
    });
  }

  async userinfo(ctx: RequestContext): Promise<void> {
    const loaded = ctx.session;
    if (!loaded) return sendError(ctx.req, ctx.out, new PortcullisError('UNAUTHENTICATED'));
    const s = loaded.session;
    ctx.user = s.user;
    // A session the rules refuse now (a stricter configuration since it began) is not shown as signed in.
    const verdict = this.#d.access.forSession(s);
    if (!verdict.allowed) return sendError(ctx.req, ctx.out, new PortcullisError(verdict.code, { detail: verdict.detail }));
    // oauth2-proxy's shape: email always a string, groups and preferredUsername only when there are some.
    sendJson(ctx.out, 200, {
      user: s.user,
      // With several providers, which one signed the user in (its id and name).
      ...(this.#d.issuers.several ? this.#providerOf(s) : {}),
      email: s.email ?? '',
      ...(s.groups.length ? { groups: s.groups } : {}),
      ...(s.preferredUsername ? { preferredUsername: s.preferredUsername } : {}),
    }, loaded.cookies);
  }

  /**
   * Forward-auth for nginx `auth_request` and Traefik `forwardAuth`: 202 with a session that passes
   * the rules, 401 without one, 403 when the rules refuse it; never a redirect (the reverse proxy
   * in front decides where to send the browser). Nothing to clear here: the answer's cookies would
   * not reach the browser through `auth_request`.
   */
  auth(ctx: RequestContext): void {
    const loaded = ctx.session;
    if (!loaded) return ctx.trustedClient ? letIn(ctx) : sendError(ctx.req, ctx.out, new PortcullisError('UNAUTHENTICATED'));
    ctx.user = loaded.session.user;
    const verdict = this.#d.access.forSession(loaded.session);
    if (!verdict.allowed) return ctx.trustedClient ? letIn(ctx) : sendError(ctx.req, ctx.out, new PortcullisError(verdict.code, { detail: verdict.detail }));
    // The reverse proxy's own further conditions for this location (?allowed_groups=…), as oauth2-proxy reads them.
    const asked = ctx.search === '' ? undefined : parseAuthQuery(ctx.search);
    const further = asked && checkAuthQuery(asked, loaded.session);
    if (further && !further.allowed) {
      if (ctx.trustedClient) return letIn(ctx);
      this.#authLog.info({ event: 'forward_auth_denied', user: ctx.user, code: further.code, detail: further.detail }, 'refused by the /oauth2/auth query');
      return sendError(ctx.req, ctx.out, new PortcullisError(further.code, { detail: further.detail }));
    }
    const policies = this.#d.config.routePolicies;
    // A trusted client is let in anyway; with route rules, which may refuse this session, without
    // its identity (as when the global rules refuse it), never with an identity the rule would not pass.
    if (policies && ctx.trustedClient) return letIn(ctx);
    if (policies && !this.#routesAllow(ctx, policies, loaded.session)) return;
    if ('setHeader' in ctx.out) applyToResponse(ctx.out, this.#d.answerIdentity.forResponse(loaded.session));
    answer(ctx.out, 202, ACCEPTED_HEADERS, '', loaded.cookies);
  }

  /**
   * routes_file at forward-auth: the rules for the request the proxy in front asks about, when a
   * trusted peer names it (forwarded.ts). Only ever more requirements on a session that is already
   * there: an anonymous rule does not make /oauth2/auth answer 202 without one (nginx and Traefik
   * let such paths through by not asking). False when it has answered.
   */
  #routesAllow(ctx: RequestContext, policies: RoutePolicies, session: Parameters<typeof checkRoute>[1]): boolean {
    const targets = forwardedTargets(ctx.req, this.#d.config);
    if (!targets) {
      sendError(ctx.req, ctx.out, new PortcullisError('BAD_REQUEST', { detail: 'X-Forwarded-Uri / X-Original-URI is not an origin-form path without dot segments' }));
      return false;
    }
    if (targets.length === 0) this.#rulesSkippedWarning(ctx);
    const nowS = Math.floor(Date.now() / 1000);
    for (const t of targets) {
      const d = policies.decide(t.method, t.path);
      if (!d || d.anonymous) continue;
      const v = checkRoute(d.rules, session, nowS, this.#d.issuers.first.provider.id);
      if (v.allowed) continue;
      this.#d.log.info({ event: v.code === 'ROUTE_NOT_ALLOWED' ? 'route_denied' : 'step_up_required', user: ctx.user, detail: v.detail }, 'route check at forward-auth');
      const headers = v.code === 'STEP_UP_REQUIRED' ? { 'www-authenticate': stepUpChallenge(v.stepUp) } : undefined;
      sendError(ctx.req, ctx.out, new PortcullisError(v.code, { detail: v.detail }), { headers });
      return false;
    }
    return true;
  }

  /**
   * OIDC Back-Channel Logout 1.0: the issuer POSTs a signed logout token, and every session of its
   * `sid` (or else its `sub`) ends, in every replica the store reaches. 200 when done, 400 for a
   * token that fails a check (as §2.8 asks), 503 when the issuer's keys or the store are unavailable.
   */
  async backchannelLogout(ctx: RequestContext): Promise<void> {
    const issuers = this.#d.issuers;
    let token;
    let issuer: Issuer | undefined;
    try {
      const text = await readLogoutToken(ctx.req);
      // One endpoint for every provider: the token's (unverified) `iss` picks the provider, whose
      // own keys, issuer and client id then verify it. A token no provider's issuer made is refused.
      issuer = issuers.several ? issuers.byIssuerIdentifier(unverifiedIssuer(text) ?? '') : issuers.first;
      if (!issuer && issuers.all.some((i) => !i.clients)) return sendError(ctx.req, ctx.out, new PortcullisError('ISSUER_UNAVAILABLE', { detail: 'issuer discovery has not succeeded yet' }));
      if (!issuer) throw new LogoutTokenRefused('iss is not the issuer of any provider');
      const clients = issuer.clients;
      if (!clients) return sendError(ctx.req, ctx.out, new PortcullisError('ISSUER_UNAVAILABLE', { detail: 'issuer discovery has not succeeded yet' }));
      token = await this.#logoutTokens.verify(text, clients, issuer.provider.clientId);
    } catch (err) {
      if (!(err instanceof LogoutTokenRefused)) throw err;
      return this.#refuseLogout(ctx, err.message);
    }
    // With several providers, only that provider's sessions end (the same sub or sid elsewhere is
    // someone else's); the first provider's also reach sessions made before they named a provider.
    const targets: RevokeTarget[] = [];
    if (issuers.several) {
      const id = issuer.provider.id;
      targets.push({ sid: token.sid === undefined ? undefined : providerScoped(id, token.sid), sub: token.sub === undefined ? undefined : providerScoped(id, token.sub) });
      if (issuer === issuers.first) targets.push({ sid: token.sid, sub: token.sub });
    } else {
      targets.push({ sid: token.sid, sub: token.sub });
    }
    let ended: number | undefined;
    for (const [n, target] of targets.entries()) {
      const outcome = await this.#d.sessions.revoke(target, n === 0 ? { jti: token.jti } : {});
      if (outcome.replayed) return this.#refuseLogout(ctx, 'jti seen before (a replayed logout token)');
      if (outcome.ended !== undefined) ended = (ended ?? 0) + outcome.ended;
    }
    this.#authLog.info({ event: 'backchannel_logout', sub: token.sub, sid: token.sid, ended, ...(issuers.several ? { provider: issuer.provider.id } : {}) }, 'back-channel logout');
    answer(ctx.out, 200, { 'cache-control': 'no-store' });
  }

  #refuseLogout(ctx: RequestContext, reason: string): void {
    this.#authLog.warn({ event: 'backchannel_logout_refused', reason }, 'back-channel logout refused');
    sendError(ctx.req, ctx.out, new PortcullisError('BACKCHANNEL_LOGOUT_INVALID', { detail: reason }));
  }

  /**
   * Saves a new session. A session too large for the cookie with its ID token is saved without it:
   * sign-out then reaches the issuer without id_token_hint (which may ask the user to confirm).
   */
  async #saveLogin(login: LoginResult, fields: NewSession, ctx: RequestContext, domain: string | undefined): ReturnType<SessionStore['save']> {
    try {
      return await this.#d.sessions.save(fields, ctx.cookies, domain);
    } catch (err) {
      if (!(err instanceof PortcullisError) || err.code !== 'SESSION_TOO_LARGE' || !fields.idToken) throw err;
      this.#d.log.warn({ event: 'session_id_token_dropped', user: login.identity.user }, 'the session is too large with its ID token; keeping it without (sign-out at the issuer goes without id_token_hint)');
      return this.#d.sessions.save({ ...fields, idToken: undefined }, ctx.cookies, domain);
    }
  }

  /** Why a callback has no login state, in words the user can act on (see the error catalog). */
  #whyNoLoginState(ctx: RequestContext): PortcullisError {
    const c = this.#d.config;
    if (this.#d.loginStates.noneIn(ctx.cookies) && c.cookie.secure && requestScheme(ctx.req, c) === 'http') {
      return new PortcullisError('LOGIN_COOKIE_BLOCKED', { detail: 'no login-state cookie: cookie_secure=true on a plain-http request' });
    }
    return new PortcullisError('LOGIN_STATE_MISSING', { detail: 'no login-state cookie matches the state' });
  }

  readonly #warnedRulesSkipped = new Set<string>();

  /**
   * Once per process and reason: /oauth2/auth could not apply routes_file, because the proxy in
   * front did not name the request, or is not trusted to. Left unsaid, a forgotten reverse_proxy
   * would quietly leave every route to the global rules.
   */
  #rulesSkippedWarning(ctx: RequestContext): void {
    const h = ctx.req.headers;
    const named = h['x-forwarded-uri'] !== undefined || h['x-original-uri'] !== undefined;
    const reason = named ? 'untrusted_peer' : 'no_uri';
    if (this.#warnedRulesSkipped.has(reason)) return;
    this.#warnedRulesSkipped.add(reason);
    this.#d.log.warn({ event: 'forward_auth_rules_skipped', reason }, named
      ? 'routes_file rules are not applied at /oauth2/auth: X-Forwarded-Uri came from a peer that is not trusted; set OAUTH2_PROXY_REVERSE_PROXY=true and list the proxy in OAUTH2_PROXY_TRUSTED_PROXY_IPS'
      : 'routes_file rules are not applied at /oauth2/auth: the request names no X-Forwarded-Uri or X-Original-URI; set it to the request URI (nginx: proxy_set_header X-Forwarded-Uri $request_uri)');
  }

  #warnedNoRefreshToken = false;

  /** Once per process: cookie_refresh is set, and the issuer gives no refresh token to refresh with. */
  #noRefreshTokenWarning(): void {
    if (this.#warnedNoRefreshToken) return;
    this.#warnedNoRefreshToken = true;
    this.#d.log.warn({ event: 'no_refresh_token' }, 'OAUTH2_PROXY_COOKIE_REFRESH is set but the issuer issued no refresh token, so sessions last until cookie_expire without refresh. '
      + 'Most issuers want offline_access in the scope (added when the issuer lists it); oidc-provider-based ones also want OAUTH2_PROXY_PROMPT=consent');
  }

  /** Some provider takes its authorization response as a form POST (response_mode=form_post). */
  get #formPost(): boolean {
    return this.#d.issuers.all.some((i) => i.provider.responseMode === 'form_post');
  }

  /** The provider of a session, as /oauth2/userinfo shows it. */
  #providerOf(s: { readonly provider?: string }): { provider: string; providerName?: string } {
    const i = this.#d.issuers.of(s);
    return { provider: s.provider ?? this.#d.issuers.first.provider.id, ...(i ? { providerName: i.provider.displayName } : {}) };
  }

  #domain(req: IncomingMessage): string | undefined {
    return cookieDomainFor(req.headers.host, this.#d.config.cookie.domains);
  }

  /**
   * An absolute redirect_url as configured; else (unset, or the path alone) built from the request
   * as oauth2-proxy does: its host, or the one a trusted load balancer forwarded, and its scheme,
   * or that load balancer's. One more case, after oauth2-proxy (which makes it https whenever
   * cookies are Secure): with Secure cookies (the default) and `X-Forwarded-Proto: https` from a
   * load balancer not in trusted_proxy_ips, https. There the request is plain http, and a Secure
   * login cookie would never come back to an http callback; believing the header only to go to
   * https cannot lower anything. Loopback hosts, where browsers keep Secure cookies over http,
   * and a browser on plain http (no header: the page that says why its cookie was dropped) keep
   * the request's scheme.
   */
  #redirectUri(req: IncomingMessage, p: ProviderConfig = this.#d.config.provider): string | undefined {
    // One callback URL for every provider: a provider's own, else the first's (redirect_url).
    const configured = p.redirectUrl ?? this.#d.config.provider.redirectUrl;
    if (configured) return configured.href;
    const host = requestHost(req, this.#d.config);
    const upgrade = this.#d.config.cookie.secure && host !== undefined && !isLoopbackHost(splitHostPort(host).host)
      && firstValue(req.headers['x-forwarded-proto'])?.toLowerCase() === 'https';
    const scheme = upgrade ? 'https' : requestScheme(req, this.#d.config);
    return host && `${scheme}://${host}${this.#d.config.proxyPrefix}/callback`;
  }
}

/**
 * A path under the proxy's own prefix (`/oauth2/…`), alone or in a URL on a host the request came
 * to (Host, or a trusted proxy's X-Forwarded-Host; nginx's `$scheme://$host$request_uri`): a
 * redirect there after sign-out would loop.
 */
function isOwnPath(target: string, prefix: string, hosts: ReadonlyArray<string | undefined>): boolean {
  let path = target;
  if (!target.startsWith('/') || target.startsWith('//')) {
    let url: URL;
    try { url = new URL(target); } catch { return false; }
    // A default port written out (:443 for https) or left off is the same place; another port is not.
    const same = (h: string | undefined): boolean => {
      if (h === undefined) return false;
      try { return new URL(`${url.protocol}//${h}`).host === url.host; } catch { return false; }
    };
    if (!hosts.some(same)) return false;
    path = url.pathname;
  }
  return isUnderPrefix(path, prefix);
}

/**
 * Where to go after login: `rd`, else the `X-Auth-Request-Redirect` header that nginx sets to the
 * URI the user asked for (oauth2-proxy's order); either way a local path or a URL on a host of
 * whitelist_domains.
 */
function appRedirect(ctx: RequestContext, allowed: AllowedDomains): string {
  const header = ctx.req.headers['x-auth-request-redirect'];
  const rd = safeRedirectPath(ctx.query.get('rd') ?? (typeof header === 'string' ? header : undefined), '/', allowed);
  // rd travels in a cookie until the callback: a longer one is not a page anyone bookmarked.
  return rd.length > MAX_RD_LENGTH ? '/' : rd;
}

/**
 * The step-up of the rules for rd's path (a local path, or a URL on a whitelisted host) and method
 * (the road's redirect names one other than GET). An rd the road would refuse asks for nothing.
 */
function stepUpForRedirect(rd: string, rdMethod: string | null, policies: RoutePolicies): StepUp | undefined {
  let target = rd.split('#', 1)[0]!;
  if (!target.startsWith('/') || target.startsWith('//')) {
    try { target = new URL(target).pathname; } catch { return undefined; }
  }
  const path = splitTarget(target)?.path;
  const method = rdMethod && /^[A-Za-z]{1,20}$/.test(rdMethod) ? rdMethod.toUpperCase() : 'GET';
  return path === undefined ? undefined : policies.stepUpFor(method, path);
}

/**
 * Forward-auth's empty 202. With the length said, Node does not frame it as `Transfer-Encoding:
 * chunked` (then a `0\r\n\r\n` terminator): one header nginx's auth_request and every other
 * client read more cheaply than a chunked body they must parse to its end.
 */
const ACCEPTED_HEADERS = { 'cache-control': 'no-store', 'content-length': '0' } as const;

/** The longest return path kept; browsers and servers commonly cap a whole URL near 2 KB. */
const MAX_RD_LENGTH = 2048;

/** A login window as the error page says it: "15 minutes", "90 seconds". */
function inWords(ms: number): string {
  const n = ms % 60_000 === 0 ? ms / 60_000 : Math.round(ms / 1000);
  return `${n} ${ms % 60_000 === 0 ? 'minute' : 'second'}${n === 1 ? '' : 's'}`;
}

/** An authorization response is a code, a state and an issuer: far below this. */
const MAX_CALLBACK_FORM = 64 * 1024;

/** The form a form_post callback carries, or undefined when it is not a small urlencoded form. */
function readCallbackForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  return new Promise((resolve) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') return resolve(undefined);
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.length > MAX_CALLBACK_FORM) {
        req.pause();
        resolve(undefined);
      }
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', () => resolve(undefined));
  });
}

/** trusted_ips at forward-auth: let in without login, as oauth2-proxy's auth endpoint does, without identity headers. */
function letIn(ctx: RequestContext): void {
  answer(ctx.out, 202, ACCEPTED_HEADERS);
}
