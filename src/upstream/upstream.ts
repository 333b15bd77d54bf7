import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type { UpstreamSpec } from '../config/validate.js';
import type { UpstreamDeps } from './contract.js';

export type { Upstream, UpstreamDeps, UpstreamFailure } from './contract.js';
import type { Upstream } from './contract.js';
import { FileUpstream } from './file.js';
import { HttpUpstream } from './http.js';
import { StaticUpstream } from './static.js';

/**
 * The one place that maps an upstream URL's scheme (validated into a kind) to what serves it. A
 * unix:// upstream is an http upstream whose connections go to the socket, as in oauth2-proxy.
 */
export function createUpstream(spec: UpstreamSpec, deps: UpstreamDeps): Upstream {
  switch (spec.kind) {
    case 'http':
      return new HttpUpstream(spec, deps);
    case 'unix':
      return unixUpstream(spec, deps);
    case 'file':
      return new FileUpstream(spec, deps.log);
    case 'static':
      return new StaticUpstream(spec);
  }
}

/**
 * An http upstream whose agent connects every request to the socket (http.Agent turns its
 * `socketPath` option into the connection's path). A socket has no host: `localhost` stands in for
 * the Host header when pass_host_header=false, as in oauth2-proxy.
 */
function unixUpstream(spec: Extract<UpstreamSpec, { kind: 'unix' }>, deps: UpstreamDeps): Upstream {
  const agent = new http.Agent({ keepAlive: deps.keepAlive !== false, maxSockets: deps.keepAlive === false ? Infinity : 512, maxFreeSockets: 64, socketPath: spec.socketPath } as http.AgentOptions);
  const http1 = new HttpUpstream({ kind: 'http', path: spec.path, url: new URL('http://localhost/') }, { ...deps, agents: { ...deps.agents, http: agent } });
  return {
    path: spec.path,
    target: spec.url.href,
    handle: (req, res, onFailure) => http1.handle(req, res, onFailure),
    upgrade: (req, socket, head, onFailure) => http1.upgrade(req, socket, head, onFailure),
    close: () => { http1.close(); agent.destroy(); },
  };
}

/** A route `/app` serves `/app` and `/app/…`, not `/apples`; `/app/` also serves `/app`. */
export function routeMatches(route: string, pathname: string): boolean {
  if (route === '/' || pathname === route) return true;
  if (route.endsWith('/')) return pathname.startsWith(route) || pathname === route.slice(0, -1);
  return pathname.startsWith(route) && pathname.charCodeAt(route.length) === 47 /* / */;
}

/**
 * Every configured upstream, longest route first as oauth2-proxy matches them. Keep-alive agents
 * are shared and built once: a new TCP connection per request would cost more than the whole hop.
 */
export class Upstreams {
  readonly all: readonly Upstream[];
  readonly #agents: UpstreamDeps['agents'];

  constructor(specs: readonly UpstreamSpec[], o: { passHostHeader: boolean; insecureSkipVerify: boolean; timeoutMs: number; log: Logger; disableKeepAlives?: boolean }) {
    // disable_keep_alives: Node's client says Connection: close only for an agent that neither keeps
    // sockets alive nor caps them (a capped one may hand a socket to a queued request).
    const keepAlive = o.disableKeepAlives !== true;
    const maxSockets = keepAlive ? 512 : Infinity;
    this.#agents = {
      http: new http.Agent({ keepAlive, maxSockets, maxFreeSockets: 64 }),
      // ssl_upstream_insecure_skip_verify: an agent's own options win over a request's at connect
      // time, so this holds for every https request and websocket through it.
      https: new https.Agent({ keepAlive, maxSockets, maxFreeSockets: 64, ...(o.insecureSkipVerify ? { rejectUnauthorized: false } : {}) }),
    };
    const deps: UpstreamDeps = { passHostHeader: o.passHostHeader, timeoutMs: o.timeoutMs, agents: this.#agents, log: o.log, keepAlive };
    this.all = specs.map((s) => createUpstream(s, deps)).sort((a, b) => b.path.length - a.path.length);
  }

  /** The upstream serving a request path, or undefined. */
  match(pathname: string): Upstream | undefined {
    for (const u of this.all) if (routeMatches(u.path, pathname)) return u;
    return undefined;
  }

  close(): void {
    for (const u of this.all) u.close();
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }
}
