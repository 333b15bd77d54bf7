import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/validate.js';
import { deriveSealPassword } from '../config/secret.js';
import { PortcullisError } from '../errors.js';
import type { Issuer } from '../oidc/issuer.js';
import { SessionCodec } from '../session/codec.js';
import { parseCookies } from '../session/cookies.js';
import { LoginStateCookies } from '../session/loginstate.js';
import { CookieSessionStore } from '../session/store.js';
import { addIdentityHeaders, stripClientForwardingHeaders, stripClientIdentityHeaders, stripProxyCookies } from '../upstream/headers.js';
import { HttpUpstream, matchRoute } from '../upstream/http.js';
import { AuthEndpoints, type RequestContext } from './endpoints.js';
import { redirect, sendError, sendJson, sendText, wantsHtml } from './respond.js';

export interface App {
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  close(): void;
}

/**
 * The road of a request: health checks, then the proxy's own endpoints, then session → access →
 * upstream. Keys and agents are built here once; nothing expensive happens per request.
 */
export function createApp(config: Config, issuer: Issuer, log: Logger): App {
  const codec = new SessionCodec(deriveSealPassword(config.cookie.secret, 'session'), config.cookie.expireMs || 168 * 3600_000);
  const sessions = new CookieSessionStore(codec, config.cookie);
  const loginStates = new LoginStateCookies(deriveSealPassword(config.cookie.secret, 'login-state'), config.cookie, config.proxyPrefix);
  const endpoints = new AuthEndpoints({ config, log, issuer, sessions, loginStates });
  const upstream = new HttpUpstream(config.upstreams, { passHostHeader: config.passHostHeader }, log);
  const isProxyCookie = (name: string): boolean => sessions.isSessionCookie(name) || loginStates.isLoginStateCookie(name);
  const reqLog = log.child({ component: 'request' });

  const upstreamFailed = (req: IncomingMessage, res: ServerResponse, err: Error): void => {
    log.warn({ event: 'upstream_error', err: err.message, code: (err as NodeJS.ErrnoException).code }, 'upstream failed');
    if (res.headersSent) return void res.destroy();
    sendError(req, res, new PortcullisError('UPSTREAM_UNAVAILABLE', 'The application behind this proxy is not answering. Try again in a moment.'));
  };

  async function proxied(ctx: RequestContext): Promise<void> {
    const { req, res } = ctx;
    const loaded = await endpoints.loadSession(ctx);
    if (!loaded) {
      if (wantsHtml(req)) return redirect(res, endpoints.signInLocation(req.url ?? '/'));
      return sendJson(res, 401, { error: 'UNAUTHENTICATED', message: 'Sign in first.', signIn: `${config.proxyPrefix}/sign_in` });
    }
    ctx.user = loaded.session.user;
    const route = matchRoute(upstream.routes, ctx.url.pathname);
    if (!route) return sendError(req, res, new PortcullisError('NO_UPSTREAM', 'Nothing is served at this path.'));
    stripProxyCookies(req.headers, isProxyCookie);
    if (!config.reverseProxy) stripClientForwardingHeaders(req.headers);
    addIdentityHeaders(req.headers, loaded.session, config);
    upstream.forward(req, res, route, upstreamFailed);
  }

  async function dispatch(ctx: RequestContext): Promise<void> {
    const path = ctx.url.pathname;
    if (path === config.pingPath) return sendText(ctx.res, 200, 'OK');
    if (path === config.readyPath) return issuer.clients ? sendText(ctx.res, 200, 'OK') : sendText(ctx.res, 503, 'issuer not ready');
    const endpoint = endpoints.route(path);
    if (endpoint) return endpoint(ctx);
    return proxied(ctx);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    // First thing, for every request: a client never gets to speak for the proxy.
    stripClientIdentityHeaders(req.headers);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://portcullis.invalid');
      if (!req.url?.startsWith('/')) throw new Error('not origin-form');
    } catch {
      return sendError(req, res, new PortcullisError('BAD_REQUEST', 'The request URL is not valid.'));
    }
    const ctx: RequestContext = { req, res, url, cookies: parseCookies(req.headers.cookie) };
    if (config.requestLogging) {
      res.once('finish', () => {
        reqLog.info({
          method: req.method, path: url.pathname, status: res.statusCode,
          durationMs: Number(process.hrtime.bigint() - started) / 1e6, user: ctx.user,
        });
      });
    }
    dispatch(ctx).catch((err: unknown) => {
      log.error({ err: (err as Error)?.message, stack: (err as Error)?.stack, path: url.pathname }, 'unexpected error');
      if (!res.headersSent) sendError(req, res, new PortcullisError('INTERNAL', 'Something went wrong in the proxy; it has been logged.'));
      else res.destroy();
    });
  }

  return {
    handle,
    close: () => upstream.close(),
  };
}
