import http from 'node:http';
import https from 'node:https';
import { createProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import type { UpstreamSpec } from '../config/validate.js';

export interface Route {
  readonly path: string;
  readonly target: string;
  readonly agent: http.Agent;
}

/** Upstream routes, longest path first, as oauth2-proxy matches them: the URL's path is the route. */
export function compileRoutes(specs: readonly UpstreamSpec[], agents: { http: http.Agent; https: http.Agent }): Route[] {
  return specs
    .map((s) => ({ path: s.path, target: s.url.origin, agent: s.url.protocol === 'https:' ? agents.https : agents.http }))
    .sort((a, b) => b.path.length - a.path.length);
}

/** The route serving a request path; a route `/app` serves `/app` and `/app/…`, not `/apples`. */
export function matchRoute(routes: readonly Route[], pathname: string): Route | undefined {
  for (const r of routes) {
    if (r.path === '/' || pathname === r.path) return r;
    if (r.path.endsWith('/') ? pathname.startsWith(r.path) : pathname.startsWith(`${r.path}/`)) return r;
    if (r.path.endsWith('/') && pathname === r.path.slice(0, -1)) return r;
  }
  return undefined;
}

export type UpstreamFailure = (req: http.IncomingMessage, res: http.ServerResponse, err: Error) => void;

/**
 * Forwards requests with http-proxy-3 (the maintained fork of http-proxy; same API, no DEP0060
 * warning on Node 22). One keep-alive agent per scheme, built once: a new TCP connection per request
 * would cost more than the rest of the hop.
 */
export class HttpUpstream {
  readonly routes: readonly Route[];
  readonly #proxy: ReturnType<typeof createProxyServer>;
  readonly #agents: { http: http.Agent; https: https.Agent };

  constructor(specs: readonly UpstreamSpec[], opts: { passHostHeader: boolean }, log: Logger) {
    this.#agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 }),
      https: new https.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 }),
    };
    this.routes = compileRoutes(specs, this.#agents);
    this.#proxy = createProxyServer({ xfwd: true, changeOrigin: !opts.passHostHeader, proxyTimeout: 0 });
    // A socket-level error with no callback to take it must not become an unhandled 'error' event.
    this.#proxy.on('error', (err: unknown) => log.warn({ err: (err as Error)?.message }, 'upstream error'));
  }

  forward(req: http.IncomingMessage, res: http.ServerResponse, route: Route, onFailure: UpstreamFailure): void {
    this.#proxy.web(req, res, { target: route.target, agent: route.agent }, (err: unknown) => onFailure(req, res, err as Error));
  }

  close(): void {
    this.#proxy.close();
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }
}
