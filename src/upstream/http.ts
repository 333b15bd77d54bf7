import type http from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { UpstreamSpec } from '../config/validate.js';
import { forwardRequest, forwardUpgrade, type ForwardTarget } from './forward.js';
import type { Upstream, UpstreamDeps, UpstreamFailure } from './contract.js';

/**
 * An http(s) upstream. Requests keep their own path and query, exactly as the road checked them;
 * the target, agent and options are fixed once per route, so a request pays for none of them.
 */
export class HttpUpstream implements Upstream {
  readonly path: string;
  readonly target: string;
  readonly #t: ForwardTarget;

  constructor(spec: UpstreamSpec, deps: UpstreamDeps) {
    this.path = spec.path;
    this.target = spec.url.origin;
    const https = spec.url.protocol === 'https:';
    const hostname = spec.url.hostname.replace(/^\[|\]$/g, '');
    this.#t = {
      protocol: https ? 'https:' : 'http:',
      hostname,
      // No SNI for an address (RFC 6066); the certificate is then checked against the address.
      servername: https && isIP(hostname) === 0 ? hostname : '',
      port: Number(spec.url.port || (https ? 443 : 80)),
      host: spec.url.host,
      agent: https ? deps.agents.https : deps.agents.http,
      changeOrigin: !deps.passHostHeader,
      timeoutMs: deps.timeoutMs,
    };
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse, onFailure: UpstreamFailure): void {
    forwardRequest(req, res, this.#t, onFailure);
  }

  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, onFailure: UpstreamFailure): void {
    forwardUpgrade(req, socket, head, this.#t, onFailure);
  }

  close(): void {
    // The shared agents are closed by Upstreams.
  }
}
