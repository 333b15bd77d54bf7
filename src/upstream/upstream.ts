import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { UpstreamSpec } from '../config/validate.js';
import type { UpstreamDeps } from './contract.js';

export type { Upstream, UpstreamDeps, UpstreamFailure } from './contract.js';
import type { Upstream, UpstreamFailure } from './contract.js';
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

/** The options every upstream takes unless it has its own (alpha upstreamConfig). */
export interface UpstreamsOptions {
  readonly passHostHeader: boolean;
  readonly insecureSkipVerify: boolean;
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly disableKeepAlives?: boolean;
  /** proxy_websockets; unset: on. */
  readonly proxyWebSockets?: boolean;
  /** Alpha proxyRawPath false: routes are matched against the percent-decoded path. */
  readonly decodedPaths?: boolean;
}

/**
 * Every configured upstream: those with a rewrite (a regular-expression route) first, then the
 * others longest route first, as oauth2-proxy matches them. Keep-alive agents are shared and built
 * once per kind of connection (keep-alive or not, certificate checked or not): a new TCP
 * connection per request would cost more than the whole hop.
 */
export class Upstreams {
  readonly all: readonly Upstream[];
  readonly #rewriting: readonly Upstream[];
  readonly #prefixed: readonly Upstream[];
  readonly #decoded: boolean;
  readonly #agents = new Map<string, UpstreamDeps['agents']>();

  constructor(specs: readonly UpstreamSpec[], o: UpstreamsOptions) {
    this.#decoded = o.decodedPaths === true;
    const built = specs.map((spec) => {
      const own = spec.settings ?? {};
      const keepAlive = !(own.disableKeepAlives ?? o.disableKeepAlives === true);
      const deps: UpstreamDeps = {
        passHostHeader: own.passHostHeader ?? o.passHostHeader,
        timeoutMs: own.timeoutMs ?? o.timeoutMs,
        agents: this.#agentsFor(keepAlive, own.insecureSkipVerify ?? o.insecureSkipVerify),
        log: o.log,
        keepAlive,
      };
      let u = createUpstream(spec, deps);
      if (!(own.proxyWebSockets ?? o.proxyWebSockets !== false)) u = withoutUpgrades(u);
      if (spec.rewrite) u = rewriting(u, spec.rewrite.pattern, spec.rewrite.target, this.#decoded);
      return u;
    });
    this.#rewriting = built.filter((u) => u.pattern).sort((a, b) => b.path.length - a.path.length);
    this.#prefixed = built.filter((u) => !u.pattern).sort((a, b) => b.path.length - a.path.length);
    this.all = [...this.#rewriting, ...this.#prefixed];
  }

  #agentsFor(keepAlive: boolean, insecure: boolean): UpstreamDeps['agents'] {
    const key = `${keepAlive}/${insecure}`;
    let agents = this.#agents.get(key);
    if (agents) return agents;
    // disable_keep_alives: Node's client says Connection: close only for an agent that neither keeps
    // sockets alive nor caps them (a capped one may hand a socket to a queued request).
    const maxSockets = keepAlive ? 512 : Infinity;
    agents = {
      http: new http.Agent({ keepAlive, maxSockets, maxFreeSockets: 64 }),
      // ssl_upstream_insecure_skip_verify: an agent's own options win over a request's at connect
      // time, so this holds for every https request and websocket through it.
      https: new https.Agent({ keepAlive, maxSockets, maxFreeSockets: 64, ...(insecure ? { rejectUnauthorized: false } : {}) }),
    };
    this.#agents.set(key, agents);
    return agents;
  }

  /** The upstream serving a request path, or undefined. */
  match(pathname: string): Upstream | undefined {
    const p = this.#decoded ? decodedPath(pathname) : pathname;
    for (const u of this.#rewriting) if (u.pattern!.test(p)) return u;
    for (const u of this.#prefixed) if (routeMatches(u.path, p)) return u;
    return undefined;
  }

  close(): void {
    for (const u of this.all) u.close();
    for (const a of this.#agents.values()) {
      a.http.destroy();
      a.https.destroy();
    }
  }
}

/** The path percent-decoded (as Go's URL.Path); a malformed escape leaves it as sent. */
function decodedPath(p: string): string {
  if (!p.includes('%')) return p;
  try { return decodeURIComponent(p); } catch { return p; }
}

function withoutUpgrades(u: Upstream): Upstream {
  return { path: u.path, target: u.target, websocketsOff: true, handle: (req, res, f) => u.handle(req, res, f), close: () => u.close() };
}

/**
 * oauth2-proxy's rewriteTarget: the request path is replaced as Go's Regexp.ReplaceAllString does
 * (every match), a query in the target joins the request's own. A result that is not an absolute
 * path or holds a dot segment is refused: captured pieces of a checked path could make one.
 */
function rewriting(u: Upstream, pattern: RegExp, target: string, decoded: boolean): Upstream {
  const all = new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`);
  const rewrite = (req: http.IncomingMessage): boolean => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    // Matched on the decoded path (proxyRawPath false), the result is encoded again: a decoded `?`
    // stays part of the path (a NUL stands in for it while the target's own `?` splits off the query).
    const source = decoded && path.includes('%') ? decodedPath(path) : path;
    if (source.includes('\0')) return false;
    const replaced = (source === path ? path : source.replaceAll('?', '\0')).replace(all, target);
    const tq = replaced.indexOf('?');
    let newPath = tq < 0 ? replaced : replaced.slice(0, tq);
    if (source !== path) newPath = newPath.replace(/[^\x21-\x7e]|[%#]/gu, (c) => (c === '\0' ? '%3F' : encodeURIComponent(c)));
    const merged = [query, tq < 0 ? '' : replaced.slice(tq + 1)].filter(Boolean).join('&');
    if (!newPath.startsWith('/') || newPath.replace(/%2e/gi, '.').split(/\/|%2f/i).some((s) => s === '.' || s === '..')) return false;
    req.url = merged ? `${newPath}?${merged}` : newPath;
    return true;
  };
  return {
    path: u.path,
    target: u.target,
    pattern,
    ...(u.websocketsOff ? { websocketsOff: true } : {}),
    handle: (req, res, f) => {
      if (rewrite(req)) u.handle(req, res, f);
      else res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('Bad Request: the rewritten path is not a clean absolute path\n');
    },
    ...(u.upgrade ? {
      upgrade: (req: http.IncomingMessage, socket: Duplex, head: Buffer, f: UpstreamFailure) => {
        if (rewrite(req)) u.upgrade!(req, socket, head, f);
        else socket.destroy();
      },
    } : {}),
    close: () => u.close(),
  };
}
