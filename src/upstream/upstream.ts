import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { UpstreamSpec } from '../config/validate.js';
import { FileUpstream } from './file.js';
import { HttpUpstream } from './http.js';
import { StaticUpstream } from './static.js';

/** Called when an upstream cannot take or finish a request; the caller answers the client. */
export type UpstreamFailure = (err: Error) => void;

/**
 * What serves a route (oauth2-proxy's `pkg/upstream`: http, file, static). Each kind handles a
 * request; a kind that can also carry an upgrade (websocket) implements `upgrade`.
 */
export interface Upstream {
  /** The route prefix: `/app` serves `/app` and `/app/…`, `/` serves everything. */
  readonly path: string;
  /** For logs: where requests go. */
  readonly target: string;
  handle(req: http.IncomingMessage, res: http.ServerResponse, onFailure: UpstreamFailure): void;
  upgrade?(req: http.IncomingMessage, socket: Duplex, head: Buffer, onFailure: UpstreamFailure): void;
  close(): void;
}

export interface UpstreamDeps {
  readonly passHostHeader: boolean;
  /** ssl_upstream_insecure_skip_verify: https upstreams' certificates are not checked. */
  readonly insecureSkipVerify: boolean;
  /** `unix` is the agent of one socket (unix:// upstreams), made by `unixAgent`. */
  readonly agents: { readonly http: http.Agent; readonly https: https.Agent; readonly unix?: http.Agent };
  readonly log: Logger;
}

/**
 * The one place that maps an upstream URL's scheme (validated into a kind) to what serves it. A
 * unix:// upstream is an http upstream whose connections go to the socket, as in oauth2-proxy.
 */
export function createUpstream(spec: UpstreamSpec, deps: UpstreamDeps): Upstream {
  switch (spec.kind) {
    case 'http':
    case 'unix':
      return new HttpUpstream(spec, deps);
    case 'file':
      return new FileUpstream(spec, deps.log);
    case 'static':
      return new StaticUpstream(spec);
  }
}

/** A keep-alive agent whose every connection goes to one unix socket (http.Agent maps socketPath to the socket's path). */
export function unixAgent(socketPath: string): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, socketPath } as http.AgentOptions);
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
  readonly #agents: http.Agent[];

  constructor(specs: readonly UpstreamSpec[], o: { passHostHeader: boolean; insecureSkipVerify: boolean; log: Logger }) {
    const agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 }),
      https: new https.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 }),
    };
    this.#agents = [agents.http, agents.https];
    const deps: UpstreamDeps = { passHostHeader: o.passHostHeader, insecureSkipVerify: o.insecureSkipVerify, agents, log: o.log };
    this.all = specs.map((s) => {
      if (s.kind !== 'unix') return createUpstream(s, deps);
      const unix = unixAgent(s.socketPath);
      this.#agents.push(unix);
      return createUpstream(s, { ...deps, agents: { ...agents, unix } });
    }).sort((a, b) => b.path.length - a.path.length);
  }

  /** The upstream serving a request path, or undefined. */
  match(pathname: string): Upstream | undefined {
    for (const u of this.all) if (routeMatches(u.path, pathname)) return u;
    return undefined;
  }

  close(): void {
    for (const u of this.all) u.close();
    for (const a of this.#agents) a.destroy();
  }
}
