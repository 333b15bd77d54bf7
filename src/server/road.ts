import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { AuthenticatedEmailsFile } from '../access/emailsfile.js';
import { AccessPolicy } from '../access/policy.js';
import { deriveSealPasswords } from '../config/secret.js';
import type { Config } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import { requestLogger } from '../log.js';
import { BearerTokens, type BearerOutcome } from '../oidc/bearer.js';
import type { Issuer } from '../oidc/issuer.js';
import { LoginStateCookies } from '../session/loginstate.js';
import type { Session } from '../session/codec.js';
import { createSessionStore, sessionStoreReadiness, type LoadedSession, type SiblingProcesses } from '../session/store.js';
import { setForwardingHeaders, stripClientIdentityHeaders, stripProxyCookies } from '../upstream/headers.js';
import { IdentityHeaders, applyToRequest } from '../upstream/identity.js';
import { UpstreamTimeout, stripHopByHop } from '../upstream/forward.js';
import { IdentityJwt } from '../upstream/identityjwt.js';
import { Upstreams, type Upstream } from '../upstream/upstream.js';
import { answered, redirect, refusalFor, sendError, sendText, statusWritten, wantsHtml } from './answer.js';
import { RequestContext, splitTarget } from './context.js';
import { AuthEndpoints, type Endpoint } from './endpoints.js';
import { clientAddress, peerIsTrusted, requestHost, requestScheme } from './forwarded.js';
import { Readiness, issuerReadiness } from './health.js';
import { observe, type RequestFinished } from './observe.js';
import { createPrelude } from './prelude.js';

export interface App {
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  readonly handleUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  close(): void;
}

/** A step either answers the request (DONE) or passes it on (undefined); only promises are awaited. */
const DONE = true;
type StepResult = typeof DONE | undefined;
type Step = (ctx: Ctx) => StepResult | Promise<StepResult>;

/**
 * The context plus what the routing step found (one of the proxy's own endpoints) and whether the
 * request needs no login (skip_auth_routes and friends).
 */
interface Ctx extends RequestContext { endpoint?: Endpoint; skipped?: boolean }

/**
 * The road of a request, as a list of steps (oauth2-proxy's session chain, fastify's lifecycle):
 *
 *   health → route → skip auth → load session → own endpoint → authenticate → authorise → forward
 *
 * Keys, proxies, agents and rules are built here once. A signed-in request whose session is cached
 * goes the whole road synchronously: no promise, no key derivation.
 */
export function createApp(config: Config, issuer: Issuer, log: Logger, o: { requestLog?: NodeJS.WritableStream; siblings?: SiblingProcesses } = {}): App {
  const sessions = createSessionStore(config.cookie, { sessionStore: config.sessionStore, log, siblings: o.siblings });
  const loginStates = new LoginStateCookies(deriveSealPasswords([config.cookie.secret, ...config.cookie.previousSecrets], 'login-state'), config.cookie, config.proxyPrefix);
  const emailsFile = config.authenticatedEmails && new AuthenticatedEmailsFile(config.authenticatedEmails.file, config.authenticatedEmails.text, log);
  const access = new AccessPolicy({ emailDomains: config.emailDomains, authenticatedEmails: emailsFile, allowedGroups: new Set(config.allowedGroups) });
  const answerIdentity = new IdentityHeaders({ passUserHeaders: config.setXAuthRequest, passAccessToken: config.setXAuthRequest && config.passAccessToken, passIdToken: config.setAuthorizationHeader });
  const jwtConfig = config.identityJwt;
  const identityJwt = jwtConfig ? new IdentityJwt(jwtConfig) : undefined;
  const jwtHeaderOwned = jwtConfig && jwtConfig.header !== 'authorization' ? jwtConfig.header : undefined;
  if (jwtConfig?.generated) log.warn({ event: 'identity_jwt_key_generated', kid: jwtConfig.keys[0]!.kid }, 'identity JWT key made at start-up: other replicas and the next start sign with other keys; set identity_jwt_key_file to share one');
  const endpoints = new AuthEndpoints({ config, log, issuer, sessions, loginStates, access, answerIdentity, identityJwt });
  const upstreams = new Upstreams(config.upstreams, { passHostHeader: config.passHostHeader, insecureSkipVerify: config.sslUpstreamInsecureSkipVerify, timeoutMs: config.upstreamTimeoutMs, log });
  // oauth2-proxy's legacy rule: pass_basic_auth (on by default) sends the user headers as well.
  const identity = new IdentityHeaders({
    passUserHeaders: config.passUserHeaders || config.passBasicAuth,
    passAccessToken: config.passAccessToken,
    passIdToken: config.passAuthorizationHeader,
    basicAuthPassword: config.passBasicAuth && config.basicAuthPassword !== '' ? config.basicAuthPassword : undefined,
    preferEmailToUser: config.preferEmailToUser,
  });
  const routes = config.routes;
  const bearer = config.bearer && new BearerTokens({
    mainIssuer: () => {
      const c = issuer.clients;
      const m = c?.verifiesIdToken ? c.basic.serverMetadata() : undefined;
      return m?.jwks_uri ? { issuer: m.issuer, jwksUri: m.jwks_uri } : undefined;
    },
    configuredIssuer: config.provider.issuerUrl?.href,
    clientId: config.provider.clientId,
    provider: config.provider,
    extraIssuers: config.bearer.extraIssuers,
    log,
  });
  // Own endpoints that take a bearer token like a proxied request: forward-auth and userinfo.
  const bearerEndpoints = new Set([`${config.proxyPrefix}/auth`, `${config.proxyPrefix}/userinfo`]);
  const isProxyCookie = (name: string): boolean => sessions.ownsCookie(name) || loginStates.isLoginStateCookie(name);
  const reqLog = config.requestLogging ? requestLogger(log, o.requestLog) : undefined;
  const prelude = createPrelude(config);
  // A store other processes share (Redis) can be away; the cookie store always answers.
  const readiness = new Readiness([issuerReadiness(issuer), ...(sessions.shared ? [sessionStoreReadiness(sessions)] : [])]);

  const health: Step = (ctx) => {
    if (ctx.path === config.pingPath) sendText(ctx.out, 200, 'OK');
    else if (ctx.path === config.readyPath) return readiness.answer(ctx.out)?.then(() => DONE) ?? DONE;
    else return undefined;
    return DONE;
  };

  const route: Step = (ctx) => {
    ctx.endpoint = endpoints.route(ctx.path);
    if (!ctx.endpoint) ctx.upstream = upstreams.match(ctx.path);
    return undefined;
  };

  // Before any session is looked at, so that nothing a session or a header says can make a path
  // public or not; only the path as the upstream will get it, and the method (access/routes.ts).
  const skipAuth: Step = (ctx) => {
    if (!ctx.endpoint && routes.skips(ctx.req.method, ctx.path)) ctx.skipped = true;
    return undefined;
  };

  // A bearer JWT first, as oauth2-proxy's session chain does; then the session cookie.
  const loadSession: Step = (ctx) => {
    if (ctx.endpoint && !ctx.endpoint.session) return undefined;
    const authorization = bearer && ctx.req.headers.authorization;
    if (authorization && (!ctx.endpoint || bearerEndpoints.has(ctx.path))) {
      const outcome = bearer.load(authorization);
      if (outcome instanceof Promise) return outcome.then((o) => bearerLoaded(ctx, o));
      return bearerLoaded(ctx, outcome);
    }
    return loadCookieSession(ctx);
  };

  const loadCookieSession = (ctx: Ctx): StepResult | Promise<StepResult> => {
    const loaded = sessions.load(ctx.cookies, ctx.req.headers.host);
    if (loaded instanceof Promise) return loaded.then((l) => setSession(ctx, l));
    return setSession(ctx, loaded);
  };

  /**
   * A token that does not check out is no session; the request goes on with the cookie (oauth2-proxy's
   * bearer_token_login_fallback) or, with the fallback off, ends in 401. On a route without login
   * neither happens. An issuer whose keys cannot be fetched gets 503: the token may well be good.
   */
  const bearerLoaded = (ctx: Ctx, o: BearerOutcome): StepResult | Promise<StepResult> => {
    if ('session' in o) return setSession(ctx, o.session);
    if (ctx.skipped || (config.bearer!.loginFallback && o.error.code === 'BEARER_TOKEN_INVALID')) return loadCookieSession(ctx);
    const headers = o.error.code === 'BEARER_TOKEN_INVALID' ? { 'www-authenticate': 'Bearer error="invalid_token"' } : undefined;
    sendError(ctx.req, ctx.out, o.error, { headers });
    return DONE;
  };

  const endpoint: Step = (ctx) => (ctx.endpoint ? ctx.endpoint.run(ctx).then(() => DONE) : undefined);

  const authenticate: Step = (ctx) => {
    if (ctx.session || ctx.skipped) return undefined;
    if (!ctx.upgrade && wantsHtml(ctx.req) && !routes.isApi(ctx.path)) redirect(ctx.out, endpoints.signInLocation(ctx.req.url ?? '/'));
    else sendError(ctx.req, ctx.out, new PortcullisError('UNAUTHENTICATED'), { extra: { signIn: `${config.proxyPrefix}/sign_in` } });
    return DONE;
  };

  /**
   * A session the rules refuse gets 403 with a page that says who is signed in and offers sign-out.
   * Unlike oauth2-proxy, the session is kept: sign-out needs it to end the session at the issuer
   * too, else signing in again brings back the same account. On a route without login the request
   * goes on, without identity headers.
   */
  const authorise: Step = (ctx) => {
    const loaded = ctx.session;
    if (!loaded) return undefined;
    const verdict = access.forSession(loaded.session);
    if (verdict.allowed) return undefined;
    if (ctx.skipped) {
      ctx.session = undefined;
      ctx.user = undefined;
      return undefined;
    }
    log.info({ event: 'access_denied', user: ctx.user, code: verdict.code, detail: verdict.detail }, 'access denied');
    sendError(ctx.req, ctx.out, new PortcullisError(verdict.code, { detail: verdict.detail }), { refused: refusalFor(loaded.session, config.proxyPrefix) });
    return DONE;
  };

  const forward: Step = (ctx) => {
    const { req, upstream } = ctx;
    if (!upstream) {
      sendError(req, ctx.out, new PortcullisError('NO_UPSTREAM'));
      return DONE;
    }
    stripHopByHop(req.headers, ctx.upgrade !== undefined);
    stripProxyCookies(req.headers, isProxyCookie);
    setForwardingHeaders(req, peerIsTrusted(req, config));
    applyToRequest(req.headers, ctx.session ? identity.forUpstream(ctx.session.session) : [], identity.replaces);
    if (identityJwt && ctx.session) setIdentityJwt(req, ctx.session.session, upstream);
    const failed = (err: Error): void => upstreamFailed(ctx, err);
    if (!ctx.upgrade) {
      if (ctx.session?.cookies) (ctx.out as ServerResponse).setHeader('set-cookie', ctx.session.cookies);
      upstream.handle(req, ctx.out as ServerResponse, failed);
    } else if (config.proxyWebsockets && upstream.upgrade) {
      // A websocket lives as long as its session: sign-out, revocation or expiry cuts it.
      // (A route without login has no session to follow; a bearer token's ends when the token does.)
      const socket = ctx.upgrade.socket;
      if (ctx.session && !ctx.session.id.startsWith('bearer:')) socket.once('close', sessions.watch(ctx.session, () => socket.destroy()));
      upstream.upgrade(req, socket, ctx.upgrade.head, failed);
    }
    else sendError(req, ctx.out, new PortcullisError('UPGRADE_REFUSED', { detail: config.proxyWebsockets ? `upstream ${upstream.target} cannot carry upgrades` : 'proxy_websockets=false' }));
    return DONE;
  };

  const ROAD: readonly Step[] = [health, route, ...(routes.empty ? [] : [skipAuth]), loadSession, endpoint, authenticate, authorise, forward];

  /** Runs the steps from `i` on; returns a promise only once a step has returned one. */
  function run(ctx: Ctx, i: number): void | Promise<void> {
    for (; i < ROAD.length; i++) {
      const r = ROAD[i]!(ctx);
      if (r === DONE) return;
      if (r instanceof Promise) {
        const next = i + 1;
        return r.then((v) => (v === DONE ? undefined : run(ctx, next)));
      }
    }
  }

  /** The JWT's default audience: the upstream's host:port, worked out once per upstream. */
  const audiences = new Map<Upstream, string>();
  const audienceOf = (u: Upstream): string => {
    let aud = audiences.get(u);
    if (aud === undefined) audiences.set(u, (aud = URL.canParse(u.target) ? new URL(u.target).host || u.target : u.target));
    return aud;
  };

  /** The identity JWT for this session and upstream, in the configured header. */
  function setIdentityJwt(req: IncomingMessage, s: Session, upstream: Upstream): void {
    const c = jwtConfig!;
    const iss = c.issuer ?? `${requestScheme(req, config)}://${requestHost(req, config) ?? 'localhost'}`;
    const jwt = identityJwt!.tokenFor(s, iss, audienceOf(upstream));
    req.headers[c.header] = c.header === 'authorization' ? `Bearer ${jwt}` : jwt;
  }

  function setSession(ctx: Ctx, loaded: LoadedSession | undefined): undefined {
    ctx.session = loaded;
    if (loaded) ctx.user = loaded.session.user;
    return undefined;
  }

  function upstreamFailed(ctx: Ctx, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    log.warn({ event: 'upstream_error', err: err.message, code }, 'upstream failed');
    if (observe.upstreamError.hasSubscribers) observe.upstreamError.publish({ upstream: ctx.upstream?.target, code });
    if (answered(ctx.out)) return void ctx.out.destroy();
    sendError(ctx.req, ctx.out, new PortcullisError(err instanceof UpstreamTimeout ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', { detail: err.message, cause: err }));
  }

  function failed(ctx: Ctx, err: unknown): void {
    if (err instanceof PortcullisError) {
      log.warn({ event: 'request_failed', code: err.code, detail: err.detail, path: ctx.path }, 'request failed');
      if (!answered(ctx.out)) sendError(ctx.req, ctx.out, err);
      else ctx.out.destroy();
      return;
    }
    log.error({ err: (err as Error)?.message, stack: (err as Error)?.stack, path: ctx.path }, 'unexpected error');
    if (!answered(ctx.out)) sendError(ctx.req, ctx.out, new PortcullisError('INTERNAL', { cause: err }));
    else ctx.out.destroy();
  }

  /** Request log and observers: attached only when someone reads them. */
  function watch(ctx: Ctx): void {
    const logging = reqLog !== undefined && ctx.unlogged !== true;
    if (!logging && !observe.request.hasSubscribers) return;
    const started = process.hrtime.bigint();
    const client = logging ? clientAddress(ctx.req, config) : undefined;
    const finished = (): void => {
      const status = ctx.upgrade ? statusWritten(ctx.upgrade.socket) ?? 101 : (ctx.out as ServerResponse).statusCode;
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (logging) reqLog.info({ method: ctx.req.method, path: ctx.path, status, durationMs, user: ctx.user, client, requestId: ctx.requestId, ...(ctx.upgrade ? { upgrade: true } : {}) });
      if (observe.request.hasSubscribers) {
        const m: RequestFinished = { method: ctx.req.method, path: ctx.path, status, durationMs, user: ctx.user, upgrade: !!ctx.upgrade };
        observe.request.publish(m);
      }
    };
    if (ctx.upgrade) ctx.upgrade.socket.once('close', finished);
    else (ctx.out as ServerResponse).once('finish', finished);
  }

  function begin(req: IncomingMessage, out: ServerResponse | Duplex, upgrade?: { socket: Duplex; head: Buffer }): void {
    // First thing, for every request: a client never gets to speak for the proxy.
    stripClientIdentityHeaders(req.headers);
    // A JWT header of the operator's naming is the proxy's too (Authorization stays the client's
    // until the proxy replaces it on a forwarded request).
    if (jwtHeaderOwned) delete req.headers[jwtHeaderOwned];
    const target = splitTarget(req.url);
    if (!target) return sendError(req, out, new PortcullisError('BAD_REQUEST', { detail: 'dot segments or absolute-form target' }));
    const ctx: Ctx = new RequestContext(req, out, target.path, target.search, upgrade);
    prelude?.(ctx);
    watch(ctx);
    try {
      const pending = run(ctx, 0);
      if (pending) pending.catch((err: unknown) => failed(ctx, err));
    } catch (err) {
      failed(ctx, err);
    }
  }

  return {
    handle: (req, res) => begin(req, res),
    handleUpgrade: (req, socket, head) => begin(req, socket, { socket, head }),
    close: () => {
      upstreams.close();
      emailsFile?.stop();
      void sessions.close();
    },
  };
}
