import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { AuthenticatedEmailsFile } from '../access/emailsfile.js';
import { AccessPolicy, providerRules, type AccessRules } from '../access/policy.js';
import { isSafeRedirect } from '../access/redirect.js';
import { checkRoute, stepUpChallenge, type RouteRule } from '../access/routepolicies.js';
import { deriveSealPasswords } from '../config/secret.js';
import type { Config } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import { requestLogger } from '../log.js';
import { BearerTokens, type BearerOutcome } from '../oidc/bearer.js';
import type { Issuers } from '../oidc/issuers.js';
import { sessionRefreshGrant } from '../oidc/refresh.js';
import { Pages } from '../pages/pages.js';
import { cookieDomainFor } from '../session/cookies.js';
import { LoginStateCookies } from '../session/loginstate.js';
import { SessionRefresher } from '../session/refresh.js';
import type { Session } from '../session/codec.js';
import { createSessionStore, sessionStoreReadiness, type LoadedSession, type SiblingProcesses } from '../session/store.js';
import { setForwardingHeaders, stripClientIdentityHeaders, stripProxyCookies } from '../upstream/headers.js';
import { IdentityHeaders, applyToRequest } from '../upstream/identity.js';
import { UpstreamTimeout, stripHopByHop } from '../upstream/forward.js';
import { IdentityJwt } from '../upstream/identityjwt.js';
import { Upstreams, type Upstream } from '../upstream/upstream.js';
import { addCookies, answered, redirect, refusalFor, sendError, sendText, statusWritten, useJsonErrors, usePages, wantsHtml } from './answer.js';
import { RequestContext, splitTarget, withQuerySemicolonsAsAmpersands } from './context.js';
import { AuthEndpoints, type Endpoint } from './endpoints.js';
import { clientAddress, forwardedDestination, peerIsTrusted, requestHost, requestScheme, trustedClientAddress } from './forwarded.js';
import { Readiness, issuersReadiness } from './health.js';
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
 * The context plus what the routing step found (one of the proxy's own endpoints), whether the
 * request needs no login (skip_auth_routes and friends), and the routes_file rules it must meet.
 */
interface Ctx extends RequestContext { endpoint?: Endpoint; skipped?: boolean; routeRules?: readonly RouteRule[] }

/**
 * The road of a request, as a list of steps (oauth2-proxy's session chain, fastify's lifecycle):
 *
 *   health → route → skip auth (or routes_file) → trusted IPs → load session → refresh → own endpoint → authenticate → authorise → forward
 *
 * Keys, proxies, agents and rules are built here once. A signed-in request whose session is cached
 * goes the whole road synchronously: no promise, no key derivation.
 */
export function createApp(config: Config, issuers: Issuers, log: Logger, o: { requestLog?: NodeJS.WritableStream; authLog?: Logger; siblings?: SiblingProcesses } = {}): App {
  /** Sign-in events (auth_logging): login, sign-out, refusals. */
  const authLog = o.authLog ?? log;
  const sessions = createSessionStore(config.cookie, { sessionStore: config.sessionStore, log, siblings: o.siblings });
  const refresher = new SessionRefresher({ store: sessions, afterMs: config.cookie.refreshMs, grant: sessionRefreshGrant(issuers, config), log });
  const pages = Pages.fromConfig(config);
  const loginStates = new LoginStateCookies(deriveSealPasswords([config.cookie.secret, ...config.cookie.previousSecrets], 'login-state'), config.cookie, config.proxyPrefix);
  const emailsFile = config.authenticatedEmails && new AuthenticatedEmailsFile(config.authenticatedEmails.file, config.authenticatedEmails.text, log);
  const globalRules: AccessRules = { emailDomains: config.emailDomains, authenticatedEmails: emailsFile, allowedGroups: new Set(config.allowedGroups) };
  // Trust per provider: each one's own email domains and groups. Only when some provider has its
  // own (or there are several): otherwise the global rules alone, as ever.
  const ownRules = issuers.several || issuers.all.some((i) => i.provider.emailDomains?.length || i.provider.allowedGroups?.length);
  const access = new AccessPolicy(globalRules, ownRules ? new Map(issuers.all.map((i) => [i.provider.id, providerRules(globalRules, i.provider)])) : undefined);
  const answerIdentity = new IdentityHeaders({
    passUserHeaders: config.setXAuthRequest, passAccessToken: config.setXAuthRequest && config.passAccessToken, passIdToken: config.setAuthorizationHeader,
    ...(config.setBasicAuth ? { basicAuthPassword: config.basicAuthPassword, basicUserIsEmail: config.preferEmailToUser } : {}),
  }, config.injectResponseHeaders);
  const jwtConfig = config.identityJwt;
  // With several providers the JWT says which IdP vouched for the user (its issuer identifier).
  const idpOf = issuers.several ? (s: Session): { provider: string; idp?: string } => {
    const i = issuers.of(s);
    const m = i?.clients?.knowsIssuer ? i.clients.basic.serverMetadata().issuer : i?.provider.issuerUrl?.href;
    return { provider: s.provider ?? issuers.first.provider.id, ...(m ? { idp: m } : {}) };
  } : undefined;
  const identityJwt = jwtConfig ? new IdentityJwt({ ...jwtConfig, ...(idpOf ? { idpOf } : {}) }) : undefined;
  const jwtHeaderOwned = jwtConfig && jwtConfig.header !== 'authorization' ? jwtConfig.header : undefined;
  if (jwtConfig?.generated) log.warn({ event: 'identity_jwt_key_generated', kid: jwtConfig.keys[0]!.kid }, 'identity JWT key made at start-up: other replicas and the next start sign with other keys; set identity_jwt_key_file to share one');
  const endpoints = new AuthEndpoints({ config, log, authLog, issuers, sessions, loginStates, access, answerIdentity, identityJwt });
  const upstreams = new Upstreams(config.upstreams, { passHostHeader: config.passHostHeader, insecureSkipVerify: config.sslUpstreamInsecureSkipVerify, timeoutMs: config.upstreamTimeoutMs, log, disableKeepAlives: config.disableKeepAlives, proxyWebSockets: config.proxyWebsockets, decodedPaths: config.upstreamPathsDecoded === true });
  // oauth2-proxy's legacy rule: pass_basic_auth (on by default) sends the user headers as well.
  const identity = new IdentityHeaders({
    passUserHeaders: config.passUserHeaders || config.passBasicAuth,
    passAccessToken: config.passAccessToken,
    passIdToken: config.passAuthorizationHeader,
    basicAuthPassword: config.passBasicAuth && config.basicAuthPassword !== '' ? config.basicAuthPassword : undefined,
    preferEmailToUser: config.preferEmailToUser,
  }, config.injectRequestHeaders);
  const routes = config.routes;
  const policies = config.routePolicies;
  const firstProviderId = issuers.first.provider.id;
  // A rule that requires a provider no one signs in with would refuse everyone: say so at start-up.
  const unknownRuleProviders = [...new Set(policies?.rules.flatMap((r) => [...r.require?.providers ?? []]) ?? [])].filter((id) => !issuers.get(id));
  if (unknownRuleProviders.length) log.warn({ event: 'routes_unknown_provider', providers: unknownRuleProviders, known: issuers.all.map((i) => i.provider.id) }, `routes_file requires provider ${unknownRuleProviders.join(', ')}, which is not configured: those rules refuse everyone`);
  const bearer = config.bearer && new BearerTokens({
    providers: issuers.all.map((issuer) => ({
      id: issuer.provider.id,
      issuer: () => {
        const c = issuer.clients;
        const m = c?.verifiesIdToken ? c.basic.serverMetadata() : undefined;
        return m && c?.localKeys ? { issuer: m.issuer, keys: c.localKeys } : m?.jwks_uri ? { issuer: m.issuer, jwksUri: m.jwks_uri } : undefined;
      },
      configuredIssuer: issuer.provider.issuerUrl?.href,
      clientId: issuer.provider.clientId,
      claims: issuer.provider,
    })),
    several: issuers.several,
    extraIssuers: config.bearer.extraIssuers,
    log: authLog,
  });
  // Own endpoints that take a bearer token like a proxied request: forward-auth and userinfo.
  const bearerEndpoints = new Set([`${config.proxyPrefix}/auth`, `${config.proxyPrefix}/userinfo`]);
  const isProxyCookie = (name: string): boolean => sessions.ownsCookie(name) || loginStates.isLoginStateCookie(name);
  const reqLog = config.requestLogging ? requestLogger(config.logLevel, o.requestLog) : undefined;
  const prelude = createPrelude(config);
  const jsonErrors = config.pages.jsonErrors === true;
  // A store other processes share (Redis) can be away; the cookie store always answers.
  const readiness = new Readiness([...issuersReadiness(issuers), ...(sessions.shared ? [sessionStoreReadiness(sessions)] : [])]);

  // ping_user_agent and gcp_healthchecks (oauth2-proxy's rule): the health-check paths answer only
  // those User-Agents, when any is set; other requests to them take the road like any request.
  const healthPaths = new Set(config.healthCheckPaths);
  const healthAgents = new Set(config.healthCheckUserAgents);
  const isHealthCheck = healthPaths.size === 1 && healthAgents.size === 0
    ? (ctx: Ctx): boolean => ctx.path === config.pingPath
    : (ctx: Ctx): boolean => healthPaths.has(ctx.path) && (healthAgents.size === 0 || healthAgents.has(ctx.req.headers['user-agent'] ?? ''));
  const health: Step = (ctx) => {
    if (isHealthCheck(ctx)) sendText(ctx.out, 200, 'OK');
    else if (ctx.path === config.readyPath) return readiness.answer(ctx.out)?.then(() => DONE) ?? DONE;
    else return undefined;
    return DONE;
  };

  const route: Step = (ctx) => {
    ctx.endpoint = endpoints.route(ctx.path);
    if (!ctx.endpoint) ctx.upstream = upstreams.match(ctx.path);
    return undefined;
  };

  const trustedIps = config.trustedIps;
  const authPath = `${config.proxyPrefix}/auth`;

  // Before any session is looked at, so that nothing a session or a header says can make a path
  // public or not; only the path as the upstream will get it, and the method (access/routes.ts).
  const skipAuth: Step = (ctx) => {
    if (!ctx.endpoint && routes.skips(ctx.req.method, ctx.path)) ctx.skipped = true;
    return undefined;
  };

  // trusted_ips: the client's address, as the peer or a trusted load balancer gives it, needs no
  // login (oauth2-proxy's meaning), whatever skip rules or routes_file say; forward-auth lets it in too.
  const trustClient: Step = (ctx) => {
    if ((!ctx.endpoint || ctx.path === authPath) && trustedIps!.has(trustedClientAddress(ctx.req, config))) {
      ctx.trustedClient = true;
      if (!ctx.endpoint) ctx.skipped = true;
    }
    return undefined;
  };

  // routes_file, in skipAuth's place and for the same reason: the first rule that matches decides
  // whether a login is needed, and which requirements the session must then meet. skip_auth_routes
  // and skip_auth_regex apply where no rule matches; a CORS preflight (skip_auth_preflight) anywhere.
  const matchRoute: Step = (ctx) => {
    if (ctx.endpoint) return undefined;
    const method = ctx.req.method;
    if (routes.skipsPreflight(method)) {
      ctx.skipped = true;
      return undefined;
    }
    const decision = policies!.decide(method, ctx.path);
    if (!decision) ctx.skipped = routes.skips(method, ctx.path);
    else if (decision.anonymous) ctx.skipped = true;
    else ctx.routeRules = decision.rules;
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

  // cookie_refresh: a session due for it is refreshed (or ended) before anything reads it. An
  // upgrade's answer cannot carry cookies; the refreshed session reaches the next plain request.
  const refresh: Step = (ctx) => {
    if (!ctx.session || ctx.endpoint?.asLoaded || !refresher.isDue(ctx.session)) return undefined;
    const pending = refresher.check(ctx.session, ctx.cookies, cookieDomainFor(ctx.req.headers.host, config.cookie.domains));
    return pending?.then((o) => {
      if (o.cookies.length && !ctx.upgrade) addCookies(ctx.out as ServerResponse, o.cookies);
      return setSession(ctx, o.loaded);
    });
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

  const endpoint: Step = (ctx) => {
    if (!ctx.endpoint) return undefined;
    const answering = ctx.endpoint.run(ctx);
    return answering instanceof Promise ? answering.then(() => DONE) : DONE;
  };

  /** Where to come back after login: the page asked for, or the one a trusted forward-auth caller names. */
  const returnTo = (req: IncomingMessage): string =>
    forwardedDestination(req, config, (url) => isSafeRedirect(url, config.whitelistDomains)) ?? req.url ?? '/';

  const authenticate: Step = (ctx) => {
    if (ctx.session || ctx.skipped) return undefined;
    if (!ctx.upgrade && wantsHtml(ctx.req) && !routes.isApi(ctx.path)) redirect(ctx.out, endpoints.signInLocation(returnTo(ctx.req)));
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
    if (verdict.allowed) return ctx.routeRules ? routeCheck(ctx, loaded) : undefined;
    if (ctx.skipped) {
      ctx.session = undefined;
      ctx.user = undefined;
      return undefined;
    }
    authLog.info({ event: 'access_denied', user: ctx.user, code: verdict.code, detail: verdict.detail }, 'access denied');
    sendError(ctx.req, ctx.out, new PortcullisError(verdict.code, { detail: verdict.detail }), { refused: refusalFor(loaded.session, config.proxyPrefix) });
    return DONE;
  };

  /**
   * A routes_file rule's requirements, once the global rules have passed. A sign-in that falls short
   * of its step-up sends a browser through /start, which asks the issuer for the rule's acr_values
   * and max_age, back to this same URL; an API client (or a bearer token) gets RFC 9470's challenge.
   */
  const routeCheck = (ctx: Ctx, loaded: LoadedSession): StepResult => {
    const v = checkRoute(ctx.routeRules!, loaded.session, Math.floor(Date.now() / 1000), firstProviderId);
    if (v.allowed) return undefined;
    // A client that needs no login (trusted_ips) goes on as it would without the cookie: no identity.
    if (ctx.skipped) {
      ctx.session = undefined;
      ctx.user = undefined;
      return undefined;
    }
    if (v.code === 'ROUTE_NOT_ALLOWED') {
      log.info({ event: 'route_denied', user: ctx.user, detail: v.detail }, 'route denied');
      sendError(ctx.req, ctx.out, new PortcullisError(v.code, { detail: v.detail }), { refused: refusalFor(loaded.session, config.proxyPrefix) });
      return DONE;
    }
    log.info({ event: 'step_up_required', user: ctx.user, detail: v.detail }, 'step-up required');
    if (!ctx.upgrade && wantsHtml(ctx.req) && !routes.isApi(ctx.path) && !loaded.id.startsWith('bearer:')) {
      // The method tells /start which rules to ask for: a form POST to a route whose rule names
      // POST comes back as a GET, but must be asked for what the POST needs.
      const method = ctx.req.method !== 'GET' && ctx.req.method ? `&rd_method=${ctx.req.method}` : '';
      // A step-up is a stronger sign-in at the same provider, never a switch to another.
      const provider = issuers.several ? `&provider=${encodeURIComponent(loaded.session.provider ?? firstProviderId)}` : '';
      redirect(ctx.out, `${config.proxyPrefix}/start?rd=${encodeURIComponent(ctx.req.url ?? '/')}${method}${provider}`);
    } else {
      sendError(ctx.req, ctx.out, new PortcullisError('STEP_UP_REQUIRED', { detail: v.detail }), { headers: { 'www-authenticate': stepUpChallenge(v.stepUp) } });
    }
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
    applyToRequest(req.headers, ctx.session ? identity.forUpstream(ctx.session.session) : [], identity.replaces, identity.preserved);
    if (identityJwt && ctx.session) setIdentityJwt(req, ctx.session.session, upstream);
    const failed = (err: Error): void => upstreamFailed(ctx, err);
    if (!ctx.upgrade) {
      if (ctx.session?.cookies) (ctx.out as ServerResponse).setHeader('set-cookie', ctx.session.cookies);
      upstream.handle(req, ctx.out as ServerResponse, failed);
    } else if (upstream.upgrade) {
      // A websocket lives as long as its session: sign-out, revocation or expiry cuts it.
      // (A route without login has no session to follow; a bearer token's ends when the token does.)
      const socket = ctx.upgrade.socket;
      if (ctx.session && !ctx.session.id.startsWith('bearer:')) socket.once('close', sessions.watch(ctx.session, () => socket.destroy()));
      upstream.upgrade(req, socket, ctx.upgrade.head, failed);
    }
    else sendError(req, ctx.out, new PortcullisError('UPGRADE_REFUSED', { detail: upstream.websocketsOff ? 'proxy_websockets=false' : `upstream ${upstream.target} cannot carry upgrades` }));
    return DONE;
  };

  const ROAD: readonly Step[] = [
    health, route, ...(policies ? [matchRoute] : routes.empty ? [] : [skipAuth]), ...(trustedIps ? [trustClient] : []),
    // Without cookie_refresh the refresh step has nothing to do: it is left off the road.
    loadSession, ...(config.cookie.refreshMs > 0 ? [refresh] : []), endpoint, authenticate, authorise, forward,
  ];

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
      const m: RequestFinished & { client: string | undefined; requestId: string | undefined } = {
        method: ctx.req.method, path: ctx.path, status, durationMs, user: ctx.user, upgrade: !!ctx.upgrade, client, requestId: ctx.requestId,
      };
      if (logging) reqLog.write(m);
      if (observe.request.hasSubscribers) observe.request.publish({ method: m.method, path: m.path, status, durationMs, user: m.user, upgrade: m.upgrade } satisfies RequestFinished);
    };
    // 'finish' and 'close' come once per response and socket: a plain listener, not once()'s wrapper.
    if (ctx.upgrade) ctx.upgrade.socket.once('close', finished);
    else (ctx.out as ServerResponse).on('finish', finished);
  }

  function begin(req: IncomingMessage, out: ServerResponse | Duplex, upgrade?: { socket: Duplex; head: Buffer }): void {
    // First thing, for every request: a client never gets to speak for the proxy.
    stripClientIdentityHeaders(req.headers);
    usePages(req, pages);
    // A JWT header of the operator's naming is the proxy's too (Authorization stays the client's
    // until the proxy replaces it on a forwarded request).
    if (jwtHeaderOwned) delete req.headers[jwtHeaderOwned];
    // allow_query_semicolons: as Go's AllowQuerySemicolons, the query is rewritten for the proxy and the upstream alike.
    if (config.allowQuerySemicolons && req.url?.includes(';')) req.url = withQuerySemicolonsAsAmpersands(req.url);
    if (jsonErrors) useJsonErrors(req);
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
