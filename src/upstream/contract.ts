import type http from 'node:http';
import type https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';

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
  /** True when websockets are turned off for it (proxy_websockets=false, alpha proxyWebSockets: false). */
  readonly websocketsOff?: boolean;
  /** Alpha rewriteTarget: the route is this regular expression rather than the prefix `path`. */
  readonly pattern?: RegExp;
  close(): void;
}

export interface UpstreamDeps {
  readonly passHostHeader: boolean;
  /** upstream_timeout in ms (0: none). */
  readonly timeoutMs: number;
  readonly agents: { readonly http: http.Agent; readonly https: https.Agent };
  readonly log: Logger;
  /** False with disable_keep_alives (unset: keep-alive). */
  readonly keepAlive?: boolean;
}

