import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/validate.js';
import { deriveSealPassword } from '../config/secret.js';
import { PortcullisError } from '../errors.js';
import { requestLogger } from '../log.js';
import type { Issuer } from '../oidc/issuer.js';
import { SessionCodec } from '../session/codec.js';
import { LoginStateCookies } from '../session/loginstate.js';
import { CookieSessionStore, type LoadedSession } from '../session/store.js';
import { addIdentityHeaders, stripClientForwardingHeaders, stripClientIdentityHeaders, stripProxyCookies } from '../upstream/headers.js';
import { HttpUpstream, matchRoute } from '../upstream/http.js';
import { RequestContext, splitTarget } from './context.js';
import { AuthEndpoints } from './endpoints.js';
import { redirect, sendError, sendJson, sendText, wantsHtml } from './respond.js';

export interface App {
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  close(): void;
}

/**
 * The road of a request: health checks, then the proxy's own endpoints, then session → access →
 * upstream. Keys, proxies and agents are built here once; a signed-in request whose session is
 * cached goes through without a promise or a key derivation.
 */
export function createApp(config: Config, issuer: Issuer, log: Logger): App {
  const codec = new SessionCodec(deriveSealPassword(config.cookie.secret, 'session'), config.cookie.expireMs || 168 * 3600_000);
  const sessions = new CookieSessionStore(codec, config.cookie);
  const loginStates = new LoginStateCookies(deriveSealPassword(config.cookie.secret, 'login-state'), config.cookie, config.proxyPrefix);
  const endpoints = new AuthEndpoints({ config, log, issuer, sessions, loginStates });
  const upstream = new HttpUpstream(config.upstreams, { passHostHeader: config.passHostHeader }, log);
  const isProxyCookie = (name: string): boolean => sessions.isSessionCookie(name) || loginStates.isLoginStateCookie(name);
  const reqLog = config.requestLogging ? requestLogger(log) : undefined;

  const upstreamFailed = (req: IncomingMessage, res: ServerResponse, err: Error): void => {
    log.warn({ event: 'upstream_error', err: err.message, code: (err as NodeJS.ErrnoException).code }, 'upstream failed');
    if (res.headersSent) return void res.destroy();
    sendError(req, res, new PortcullisError('UPSTREAM_UNAVAILABLE', 'The application behind this proxy is not answering. Try again in a moment.'));
  };

  function forward(ctx: RequestContext, loaded: LoadedSession | undefined): void {
    const { req, res } = ctx;
    if (!loaded) {
      if (wantsHtml(req)) return redirect(res, endpoints.signInLocation(req.url ?? '/'));
      return sendJson(res, 401, { error: 'UNAUTHENTICATED', message: 'Sign in first.', signIn: `${config.proxyPrefix}/sign_in` });
    }
    ctx.user = loaded.session.user;
    const route = matchRoute(upstream.routes, ctx.path);
    if (!route) return sendError(req, res, new PortcullisError('NO_UPSTREAM', 'Nothing is served at this path.'));
    stripProxyCookies(req.headers, isProxyCookie);
    if (!config.reverseProxy) stripClientForwardingHeaders(req.headers);
    addIdentityHeaders(req.headers, loaded.session, config);
    upstream.forward(req, res, route, upstreamFailed);
  }

  /** Returns a promise only when the request has to wait for something (an endpoint, an unseal). */
  function dispatch(ctx: RequestContext): void | Promise<void> {
    const path = ctx.path;
    if (path === config.pingPath) return sendText(ctx.res, 200, 'OK');
    if (path === config.readyPath) return issuer.clients ? sendText(ctx.res, 200, 'OK') : sendText(ctx.res, 503, 'issuer not ready');
    const endpoint = endpoints.route(path);
    if (endpoint) return endpoint(ctx);
    const loaded = sessions.loadFast(ctx.cookies);
    if (loaded instanceof Promise) return loaded.then((l) => forward(ctx, l));
    return forward(ctx, loaded);
  }

  function failed(ctx: RequestContext, err: unknown): void {
    log.error({ err: (err as Error)?.message, stack: (err as Error)?.stack, path: ctx.path }, 'unexpected error');
    if (!ctx.res.headersSent) sendError(ctx.req, ctx.res, new PortcullisError('INTERNAL', 'Something went wrong in the proxy; it has been logged.'));
    else ctx.res.destroy();
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = reqLog ? process.hrtime.bigint() : 0n;
    // First thing, for every request: a client never gets to speak for the proxy.
    stripClientIdentityHeaders(req.headers);
    const target = splitTarget(req.url);
    if (!target) return sendError(req, res, new PortcullisError('BAD_REQUEST', 'The request path is not valid.'));
    const ctx = new RequestContext(req, res, target.path, target.search);
    if (reqLog) {
      res.once('finish', () => {
        reqLog.info({
          method: req.method, path: ctx.path, status: res.statusCode,
          durationMs: Number(process.hrtime.bigint() - started) / 1e6, user: ctx.user,
        });
      });
    }
    try {
      const pending = dispatch(ctx);
      if (pending) pending.catch((err: unknown) => failed(ctx, err));
    } catch (err) {
      failed(ctx, err);
    }
  }

  return {
    handle,
    close: () => upstream.close(),
  };
}
