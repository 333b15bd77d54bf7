import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { UpstreamSpec } from '../config/validate.js';
import { HttpUpstream } from './http.js';

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
  /** upstream_timeout in ms (0: none). */
  readonly timeoutMs: number;
  readonly agents: { readonly http: http.Agent; readonly https: https.Agent };
  readonly log: Logger;
}

/** The one place that maps an upstream URL's scheme to the kind that serves it. */
export function createUpstream(spec: UpstreamSpec, deps: UpstreamDeps): Upstream {
  switch (spec.url.protocol) {
    case 'http:':
    case 'https:':
      return new HttpUpstream(spec, deps);
    default:
      // Validation admits only the schemes above; reaching here is a bug, not a user error.
      throw new Error(`no upstream kind serves ${spec.url.protocol}`);
  }
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

  constructor(specs: readonly UpstreamSpec[], o: { passHostHeader: boolean; timeoutMs: number; log: Logger }) {
    this.#agents = {
      http: new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 }),
      https: new https.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 }),
    };
    const deps: UpstreamDeps = { passHostHeader: o.passHostHeader, timeoutMs: o.timeoutMs, agents: this.#agents, log: o.log };
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
