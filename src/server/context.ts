import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { parseCookies } from '../session/cookies.js';
import type { LoadedSession } from '../session/store.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Outlet } from './answer.js';

/**
 * What one request carries along the road, parsed once and lazily: a proxied request needs only
 * the path and the cookies, so the query is parsed when an endpoint asks for it. Steps fill in the
 * session and the upstream as they learn them.
 */
export class RequestContext {
  readonly req: IncomingMessage;
  /** The response, or the bare socket of an upgrade request. */
  readonly out: Outlet;
  /** Set for an upgrade request: the socket and the bytes read past its headers. */
  readonly upgrade?: { readonly socket: Duplex; readonly head: Buffer };
  /** The path as sent (still percent-encoded), without the query. */
  readonly path: string;
  /** The query string with its leading '?', or ''. */
  readonly search: string;
  /** Set by the session step: the signed-in session, if any. */
  session?: LoadedSession;
  /** Set by the routing step: the upstream that serves this path, if any. */
  upstream?: Upstream;
  /** Set by whatever identifies the user, for the request log. */
  user?: string;
  /** Set before the road when request ids are on (prelude.ts): kept from the client or made here. */
  requestId?: string;
  /** Set before the road for a path the request log leaves out (prelude.ts). */
  unlogged?: boolean;
  /** Set when the client is one of trusted_ips: let in without login, /oauth2/auth included. */
  trustedClient?: boolean;
  #query?: URLSearchParams;
  #cookies?: Map<string, string>;

  constructor(req: IncomingMessage, out: Outlet, path: string, search: string, upgrade?: { socket: Duplex; head: Buffer }) {
    this.req = req;
    this.out = out;
    this.path = path;
    this.search = search;
    this.upgrade = upgrade;
  }

  get query(): URLSearchParams { return (this.#query ??= new URLSearchParams(this.search)); }
  get cookies(): Map<string, string> { return (this.#cookies ??= parseCookies(this.req.headers.cookie)); }
}

/**
 * Splits an origin-form request target into path and query, or undefined when it is not one we
 * forward unchanged: absolute-form (`GET http://…`), a backslash or `#`, or a dot segment in any spelling.
 * Browsers remove `.`/`..` and turn `\` into `/` before sending, so a request that still has them
 * is crafted to make the route check here and the path resolution of a server behind disagree:
 * `%2e` for a dot, `%2f` or `%5c` for a separator, and `;params` after a segment (`..;/`, which
 * Tomcat and Jetty resolve) are all read as what some server will make of them.
 */
export function splitTarget(target: string | undefined): { path: string; search: string } | undefined {
  if (!target || target.charCodeAt(0) !== 47 /* / */) return undefined;
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  if (path.includes('\\') || path.includes('#')) return undefined;
  if ((path.includes('.') || path.includes('%')) && hasDotSegment(path)) return undefined;
  return { path, search: q < 0 ? '' : target.slice(q) };
}

function hasDotSegment(path: string): boolean {
  const spelled = path.replace(/%2e/gi, '.').replace(/%2f|%5c|\\/gi, '/');
  for (const segment of spelled.split('/')) {
    const bare = segment.split(';', 1)[0];
    if (bare === '.' || bare === '..') return true;
  }
  return false;
}

/** The request target with `;` in its query read as `&` (Go's http.AllowQuerySemicolons); the path is left alone. */
export function withQuerySemicolonsAsAmpersands(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q + 1) + target.slice(q + 1).replaceAll(';', '&');
}
