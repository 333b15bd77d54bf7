import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { UpstreamSpec } from '../config/validate.js';
import type { Upstream, UpstreamDeps, UpstreamFailure } from './upstream.js';

type Proxy = ProxyServer<typeof http.IncomingMessage, typeof http.ServerResponse, Error>;

/**
 * An http(s) upstream, forwarded with http-proxy-3 (the maintained fork of http-proxy; same API,
 * no DEP0060 warning on Node 22). One proxy per route, built once: a per-call options object makes
 * http-proxy merge options on every request (measured: 10–14 µs of a ≈45 µs hop).
 */
export class HttpUpstream implements Upstream {
  readonly path: string;
  readonly target: string;
  readonly #proxy: Proxy;

  constructor(spec: UpstreamSpec, deps: UpstreamDeps) {
    this.path = spec.path;
    this.target = spec.url.origin;
    const agent = spec.url.protocol === 'https:' ? deps.agents.https : deps.agents.http;
    this.#proxy = createProxyServer<typeof http.IncomingMessage, typeof http.ServerResponse, Error>({
      target: new URL(spec.url.origin), agent, xfwd: true, changeOrigin: !deps.passHostHeader, proxyTimeout: 0,
    });
    // A socket-level error with no callback to take it must not become an unhandled 'error' event.
    this.#proxy.on('error', (err: Error) => deps.log.warn({ err: err?.message }, 'upstream error'));
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse, onFailure: UpstreamFailure): void {
    this.#proxy.web(req, res, onFailure);
  }

  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, onFailure: UpstreamFailure): void {
    this.#proxy.ws(req, socket, head, onFailure);
  }

  close(): void {
    this.#proxy.close();
  }
}
