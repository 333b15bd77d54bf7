import type http from 'node:http';
import type { UpstreamSpec } from '../config/validate.js';
import type { Upstream } from './contract.js';

/** oauth2-proxy's body for every static response, kept so that checks written against it still match. */
const BODY = 'Authenticated';

/**
 * `static://CODE` (oauth2-proxy's static upstream): answers every signed-in request on its route
 * with the status and a fixed body, e.g. a 202 for a health check that must pass the login.
 */
export class StaticUpstream implements Upstream {
  readonly path: string;
  readonly target: string;
  readonly #code: number;
  readonly #headers: http.OutgoingHttpHeaders;

  constructor(spec: Extract<UpstreamSpec, { kind: 'static' }>) {
    this.path = spec.path;
    this.target = `static://${spec.code}`;
    this.#code = spec.code;
    // 204 and 304 carry no body (RFC 9110 §15.3.5, §15.4.5); Node would drop it and warn.
    const body = spec.code === 204 || spec.code === 304 ? '' : BODY;
    this.#headers = body
      ? { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store' }
      : { 'cache-control': 'no-store' };
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Nobody reads a body sent here; draining it keeps the connection usable for the next request.
    req.resume();
    res.writeHead(this.#code, this.#headers);
    res.end(req.method === 'HEAD' || !this.#headers['content-length'] ? undefined : BODY);
  }

  close(): void { /* nothing held */ }
}
