import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import { isEmailAllowed } from '../access/email.js';
import { safeRedirectPath } from '../access/redirect.js';
import { beginLogin, completeLogin } from '../oidc/flow.js';
import type { Issuer } from '../oidc/issuer.js';
import type { Session } from '../session/codec.js';
import { cookieDomainFor } from '../session/cookies.js';
import type { LoginStateCookies } from '../session/loginstate.js';
import type { CookieSessionStore } from '../session/store.js';
import { signInPage } from '../pages/pages.js';
import type { RequestContext } from './context.js';
import { redirect, sendError, sendHtml, sendJson } from './respond.js';


export interface EndpointDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly issuer: Issuer;
  readonly sessions: CookieSessionStore;
  readonly loginStates: LoginStateCookies;
}

/** The proxy's own endpoints under proxy_prefix (oauth2-proxy's names and behaviour). */
export class AuthEndpoints {
  readonly #d: EndpointDeps;
  readonly #routes: Map<string, (ctx: RequestContext) => Promise<void>>;

  constructor(deps: EndpointDeps) {
    this.#d = deps;
    const p = deps.config.proxyPrefix;
    this.#routes = new Map([
      [`${p}/start`, (c) => this.start(c)],
      [`${p}/callback`, (c) => this.callback(c)],
      [`${p}/sign_in`, (c) => this.signIn(c)],
      [`${p}/sign_out`, (c) => this.signOut(c)],
      [`${p}/userinfo`, (c) => this.userinfo(c)],
    ]);
  }

  route(pathname: string): ((ctx: RequestContext) => Promise<void>) | undefined {
    return this.#routes.get(pathname);
  }

  /** Where an unauthenticated browser is sent: the sign-in page, or straight to the issuer. */
  signInLocation(rd: string): string {
    const p = this.#d.config.proxyPrefix;
    return `${p}/${this.#d.config.skipProviderButton ? 'start' : 'sign_in'}?rd=${encodeURIComponent(rd)}`;
  }

  async signIn(ctx: RequestContext): Promise<void> {
    const rd = safeRedirectPath(ctx.query.get('rd'));
    const start = `${this.#d.config.proxyPrefix}/start?rd=${encodeURIComponent(rd)}`;
    if (this.#d.config.skipProviderButton) return redirect(ctx.res, start);
    sendHtml(ctx.res, 200, signInPage({ displayName: this.#d.config.provider.displayName, startUrl: start }));
  }

  async start(ctx: RequestContext): Promise<void> {
    const clients = this.#d.issuer.clients;
    if (!clients) return sendError(ctx.req, ctx.res, unavailable());
    const redirectUri = this.#redirectUri(ctx.req);
    if (!redirectUri) return sendError(ctx.req, ctx.res, new PortcullisError('BAD_REQUEST', 'The request has no usable Host header.'));
    const rd = safeRedirectPath(ctx.query.get('rd'));
    const { url, loginState } = await beginLogin(clients, this.#d.config.provider, redirectUri, rd);
    const cookie = await this.#d.loginStates.setCookie(loginState, this.#domain(ctx.req));
    redirect(ctx.res, url.href, [cookie]);
  }

  async callback(ctx: RequestContext): Promise<void> {
    const q = ctx.query;
    const state = q.get('state');
    const domain = this.#domain(ctx.req);
    const clearState = state ? [this.#d.loginStates.clearCookie(state, domain)] : [];
    const retryUrl = `${this.#d.config.proxyPrefix}/sign_in`;
    const fail = (err: PortcullisError): void => {
      this.#d.log.warn({ event: 'login_failed', code: err.code, detail: err.detail }, 'login failed');
      sendError(ctx.req, ctx.res, err, { retryUrl, cookies: clearState });
    };

    const issuerError = q.get('error');
    if (issuerError) {
      const description = (q.get('error_description') ?? '').slice(0, 200);
      return fail(new PortcullisError('LOGIN_DENIED', `The identity provider did not sign you in (${issuerError.slice(0, 60)}).`, `${issuerError}: ${description}`));
    }
    if (!state) return fail(new PortcullisError('LOGIN_BAD_REQUEST', 'The sign-in response has no state parameter. Please sign in again.'));
    const loginState = await this.#d.loginStates.read(ctx.cookies, state);
    if (!loginState) {
      return fail(new PortcullisError('LOGIN_STATE_MISSING', 'This sign-in attempt is unknown or expired (it must finish within 15 minutes, in the browser that started it). Please sign in again.'));
    }
    if (!q.get('code')) return fail(new PortcullisError('LOGIN_BAD_REQUEST', 'The sign-in response has no code. Please sign in again.'));
    const clients = this.#d.issuer.clients;
    if (!clients) return fail(unavailable());

    const callbackUrl = new URL(loginState.redirectUri);
    callbackUrl.search = ctx.search;
    let session: Session;
    try {
      const { identity, accessToken } = await completeLogin(clients, this.#d.config.provider, loginState, callbackUrl);
      if (!isEmailAllowed(identity.email, this.#d.config.emailDomains)) {
        throw new PortcullisError('EMAIL_NOT_ALLOWED', 'Your account is not allowed to use this application.', `email ${identity.email ?? '(none)'} not in email_domains`);
      }
      const now = Date.now();
      session = {
        v: 1,
        user: identity.user,
        sub: identity.sub,
        email: identity.email,
        groups: identity.groups,
        preferredUsername: identity.preferredUsername,
        createdAt: now,
        expiresAt: now + this.#d.sessions.ttlMs,
        ...(this.#d.config.passAccessToken && accessToken ? { accessToken } : {}),
      };
    } catch (err) {
      if (err instanceof PortcullisError) return fail(err);
      throw err;
    }
    const cookies = await this.#d.sessions.save(session, ctx.cookies, domain);
    ctx.user = session.user;
    this.#d.log.info({ event: 'login', user: session.user, email: session.email, groups: session.groups.length }, 'login');
    redirect(ctx.res, loginState.rd, [...cookies, ...clearState]);
  }

  async signOut(ctx: RequestContext): Promise<void> {
    const loaded = await this.#d.sessions.load(ctx.cookies);
    const cookies = this.#d.sessions.clear(loaded, ctx.cookies, this.#domain(ctx.req));
    if (loaded) {
      ctx.user = loaded.session.user;
      this.#d.log.info({ event: 'sign_out', user: loaded.session.user }, 'sign out');
    }
    redirect(ctx.res, safeRedirectPath(ctx.query.get('rd')), cookies);
  }

  async userinfo(ctx: RequestContext): Promise<void> {
    const loaded = await this.#d.sessions.load(ctx.cookies);
    if (!loaded) return sendJson(ctx.res, 401, { error: 'UNAUTHENTICATED', message: 'Not signed in.' });
    const s = loaded.session;
    ctx.user = s.user;
    sendJson(ctx.res, 200, { user: s.user, email: s.email ?? null, groups: s.groups, preferredUsername: s.preferredUsername ?? null });
  }

  #domain(req: IncomingMessage): string | undefined {
    return cookieDomainFor(req.headers.host, this.#d.config.cookie.domains);
  }

  /** redirect_url if configured; else built from the request, as oauth2-proxy does. */
  #redirectUri(req: IncomingMessage): string | undefined {
    const configured = this.#d.config.provider.redirectUrl;
    if (configured) return configured.href;
    const trustFwd = this.#d.config.reverseProxy;
    const host = (trustFwd && firstValue(req.headers['x-forwarded-host'])) || req.headers.host;
    if (!host || !/^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return undefined;
    const fwdProto = trustFwd ? firstValue(req.headers['x-forwarded-proto']) : undefined;
    const proto = fwdProto === 'https' || fwdProto === 'http' ? fwdProto : (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    return `${proto}://${host}${this.#d.config.proxyPrefix}/callback`;
  }
}

function firstValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s?.split(',')[0]?.trim() || undefined;
}

function unavailable(): PortcullisError {
  return new PortcullisError('ISSUER_UNAVAILABLE', 'The identity provider cannot be reached right now, so you cannot sign in. Try again in a moment.');
}
