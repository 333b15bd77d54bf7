import cluster from 'node:cluster';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Config, ListenAddress, TlsListener } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import { answer, sendError, type Outlet } from './answer.js';
import { markLocalPeer, requestHost, requestScheme } from './forwarded.js';
import type { App } from './road.js';

type Handlers = Pick<App, 'handle' | 'handleUpgrade'>;

export interface Listener {
  readonly server: http.Server | https.Server;
  /** The address actually bound (port 0 becomes the chosen port). */
  readonly url: string;
  /** The TCP port bound; undefined on a unix socket. */
  readonly port?: number;
  close(graceMs?: number): Promise<void>;
}

/**
 * Only the owner and its group may connect (to connect is to write to the socket file), whatever
 * the process umask is: peers on the socket are trusted to send X-Forwarded-* (oauth2-proxy's rule),
 * so "anyone on the machine" must not be the default. `unix:///path,mode=0NNN` says otherwise.
 */
export const DEFAULT_SOCKET_MODE = 0o660;

/** Which option a listener comes from, for the start-up message when it cannot bind. */
export class ListenError extends Error {
  readonly option: 'http_address' | 'https_address' | 'metrics_address';
  readonly code?: string;
  constructor(option: 'http_address' | 'https_address' | 'metrics_address', address: ListenAddress, cause: NodeJS.ErrnoException) {
    super(`cannot listen on ${address.kind === 'unix' ? `unix://${address.path}` : `${address.host}:${address.port}`}: ${cause.message}`, { cause });
    this.option = option;
    this.code = cause.code;
  }
}

/** The largest request head the proxy reads. */
export const MAX_HEADER_BYTES = 32 * 1024;

/**
 * Binds one listener: plain HTTP (TCP or unix socket), or HTTPS when `tls` is given. Timeouts are
 * set so a slow or idle client cannot hold sockets forever, and close() drains: stop accepting,
 * let requests in flight finish, then cut what is left.
 */
export async function listen(addr: ListenAddress, app: Handlers, log: Logger, tls?: Pick<TlsListener, 'cert' | 'key' | 'minVersion'>): Promise<Listener> {
  // Headers up to 32 KiB (Node's default is 16): the cookie store keeps a new session under about
  // 12 KB, but a browser still holding a larger session from before must reach /oauth2/sign_out.
  const timeouts = { requestTimeout: 60_000, headersTimeout: 20_000, keepAliveTimeout: 65_000, maxHeaderSize: MAX_HEADER_BYTES };
  const server = tls
    ? https.createServer({ ...timeouts, cert: tls.cert, key: tls.key, minVersion: tls.minVersion }, app.handle)
    : http.createServer(timeouts, app.handle);
  // Without a listener Node leaves an upgrade request unanswered; with one, it walks the same road.
  server.on('upgrade', app.handleUpgrade);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Malformed requests get a plain 4xx, not a crash: 431 for oversized headers, 408 for headers
    // that took too long to arrive, 400 for the rest.
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
    log.debug({ err: err.message }, 'client error');
  });
  if (tls) {
    // A failed handshake (plain HTTP on the TLS port, an old TLS version) is the client's problem.
    server.on('tlsClientError', (err: Error, socket: Duplex) => {
      log.debug({ err: err.message }, 'TLS handshake failed');
      socket.destroy();
    });
  }
  if (addr.kind === 'unix') {
    // In a cluster the primary binds, once, for every worker (server/workers.ts): the file a worker
    // finds there is its siblings' live socket.
    if (!cluster.isWorker) await clearStaleSocket(addr.path);
    server.on('connection', markLocalPeer);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (addr.kind === 'tcp') return void server.listen(addr.port, addr.host, resolve);
    // The socket file is created by the bind inside listen(), synchronously: under this umask it
    // starts owner-only, so no one else can connect before the chmod below sets its mode.
    const umask = process.umask(0o177);
    try {
      server.listen(addr.path, resolve);
    } finally {
      process.umask(umask);
    }
  });
  if (addr.kind === 'unix') chmodSync(addr.path, addr.mode ?? DEFAULT_SOCKET_MODE);
  const a = server.address();
  const port = a && typeof a === 'object' ? a.port : undefined;
  const url = addr.kind === 'unix' || !a || typeof a === 'string'
    ? `unix://${addr.kind === 'unix' ? addr.path : String(a)}`
    : `${tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  return {
    server,
    url,
    port,
    close: (graceMs = 10_000) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      // Node removes the socket file when a unix listener closes.
      server.close(() => { clearTimeout(timer); resolve(); });
      server.closeIdleConnections();
    }),
  };
}

/**
 * A socket file left by a process that died is removed; a live one (another instance serving it)
 * or a file that is not a socket is refused, never deleted: unix:///etc/passwd must not unlink it.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw Object.assign(new Error(`${path} exists and is not a socket`), { code: 'EEXIST' });
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    const done = (v: boolean): void => { probe.destroy(); clearTimeout(timer); resolve(v); };
    const timer = setTimeout(() => done(true), 2000);
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
  if (live) throw Object.assign(new Error(`another process is listening on ${path}`), { code: 'EADDRINUSE' });
  unlinkSync(path);
}

/** A location that stands for "no usable host": never a real URL. */
const NO_HOST = '\0no-host';

/**
 * force_https: a request that did not come over https (TLS here, or a trusted load balancer's
 * X-Forwarded-Proto) gets a 308 to the same URL on https, as oauth2-proxy answers (308 keeps the
 * method and body). The ping and ready paths answer as they are: health checkers often speak
 * only plain HTTP (oauth2-proxy redirects them too). `httpsPort()` is the HTTPS listener's port,
 * known once it is bound.
 */
export function redirectingToHttps(app: Handlers, config: Pick<Config, 'pingPath' | 'readyPath' | 'reverseProxy' | 'trustedProxies' | 'realClientIpHeader'>, httpsPort: () => number): Handlers {
  const location = (req: http.IncomingMessage): string | undefined => {
    const target = req.url ?? '';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (path === config.pingPath || path === config.readyPath || !target.startsWith('/')) return undefined;
    if (requestScheme(req, config) === 'https') return undefined;
    const host = requestHost(req, config);
    if (!host) return NO_HOST;
    // As oauth2-proxy: a host given with a port gets the HTTPS listener's port instead.
    const m = /^(\[[^\]]+\]|[^:]+)(:\d+)?$/.exec(host);
    const port = httpsPort();
    const authority = m?.[2] && port !== 443 ? `${m[1]}:${port}` : m?.[1] ?? host;
    return `https://${authority}${target}`;
  };
  const redirect = (req: http.IncomingMessage, out: Outlet, to: string): void => {
    // Without a usable Host there is no https URL to send the client to, and plain HTTP is not served.
    if (to === NO_HOST) sendError(req, out, new PortcullisError('BAD_REQUEST', { detail: 'force_https: no usable Host header to redirect to' }));
    else answer(out, 308, { location: to, 'cache-control': 'no-store' });
  };
  return {
    handle: (req, res) => {
      const to = location(req);
      if (to) redirect(req, res, to);
      else app.handle(req, res);
    },
    handleUpgrade: (req, socket, head) => {
      const to = location(req);
      if (to) redirect(req, socket, to);
      else app.handleUpgrade(req, socket, head);
    },
  };
}
