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
import { observe } from './observe.js';
import type { App } from './road.js';
import { ProxyResponse } from './response.js';

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
  readonly option: 'http_address' | 'https_address' | 'metrics_address' | 'metrics_secure_address';
  readonly code?: string;
  constructor(option: 'http_address' | 'https_address' | 'metrics_address' | 'metrics_secure_address', address: ListenAddress, cause: NodeJS.ErrnoException) {
    super(`cannot listen on ${address.kind === 'unix' ? `unix://${address.path}` : `${address.host}:${address.port}`}: ${cause.message}`, { cause });
    this.option = option;
    this.code = cause.code;
  }
}

/** The largest request head the proxy reads. */
export const MAX_HEADER_BYTES = 32 * 1024;

/** How long a client may take to send a request: its head, and the whole of it (head and body). */
export interface ClientTimeouts {
  readonly headersMs: number;
  readonly requestMs: number;
}

/**
 * 20 s for the head and 60 s for the whole request, then 408: a slow-loris client holds a socket
 * no longer than that. (oauth2-proxy's Go server gives the head a minute.) Not options: a test
 * shortens them through startPortcullis.
 */
export const CLIENT_TIMEOUTS: ClientTimeouts = { headersMs: 20_000, requestMs: 60_000 };

export interface ListenOptions {
  readonly tls?: Pick<TlsListener, 'cert' | 'key' | 'minVersion' | 'ciphers'>;
  /** max_connections: connections open at once on this listener; 0 for no limit. */
  readonly maxConnections?: number;
  readonly timeouts?: ClientTimeouts;
}

/** One warning line at most this often while connections are being refused, with the count. */
const REFUSED_LOG_INTERVAL_MS = 10_000;

/**
 * Binds one listener: plain HTTP (TCP or unix socket), or HTTPS when `tls` is given. Timeouts are
 * set so a slow or idle client cannot hold sockets forever, a connection past `maxConnections` is
 * closed as it arrives, and close() drains: stop accepting, let requests in flight finish (closing
 * each connection after its answer), then cut what is left after the grace.
 */
export async function listen(addr: ListenAddress, app: Handlers, log: Logger, o: ListenOptions = {}): Promise<Listener> {
  const { tls } = o;
  const t = o.timeouts ?? CLIENT_TIMEOUTS;
  // Headers up to 32 KiB (Node's default is 16): the cookie store keeps a new session under about
  // 12 KB, but a browser still holding a larger session from before must reach /oauth2/sign_out.
  // Node looks for expired heads every connectionsCheckingInterval (30 s by default, so a 20 s
  // limit could take 50): a quarter of the head's limit keeps the 408 near its time.
  const timeouts = {
    requestTimeout: t.requestMs, headersTimeout: t.headersMs, keepAliveTimeout: 65_000, maxHeaderSize: MAX_HEADER_BYTES,
    connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(t.headersMs / 4))),
  };
  let draining = false;
  const framed = framedRequests(app.handle);
  // Once draining, every answer says Connection: close, so a keep-alive client (a browser, a load
  // balancer, wrk) leaves after it instead of holding the drain open with its next request.
  const handle: Handlers['handle'] = (req, res) => {
    if (draining) res.setHeader('connection', 'close');
    framed(req, res);
  };
  // ProxyResponse: Node's, with the request id held back until the head (response.ts).
  const server = tls
    ? https.createServer({ ...timeouts, ServerResponse: ProxyResponse, cert: tls.cert, key: tls.key, minVersion: tls.minVersion, ...(tls.ciphers ? { ciphers: tls.ciphers } : {}) }, handle)
    : http.createServer({ ...timeouts, ServerResponse: ProxyResponse }, handle);
  // Without a listener Node leaves an upgrade request unanswered; with one, it walks the same road.
  server.on('upgrade', app.handleUpgrade);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex & { _httpMessage?: { headersSent?: boolean } }) => {
    // Malformed requests get a plain 4xx, not a crash: 431 for oversized headers, 408 for a request
    // that took too long to arrive, 400 for the rest. Once an answer has started (a request body
    // still trickling in when its 60 s run out, say) a status line would land inside that answer's
    // body: the connection is cut instead, as Node's own handler does.
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    if (socket.writable && socket._httpMessage?.headersSent !== true) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
    log.debug({ err: err.message }, 'client error');
  });
  if (o.maxConnections) {
    // Past the cap Node closes a new connection at once, before reading a byte: each open one costs
    // memory (about 13 KB idle, measured) and a file descriptor, and the process needs descriptors
    // left for its upstream, issuer and log.
    server.maxConnections = o.maxConnections;
    let refused = 0;
    let lastLine = 0;
    let pending: NodeJS.Timeout | undefined;
    const report = (): void => {
      pending = undefined;
      log.warn({ event: 'connections_refused', refused, maxConnections: o.maxConnections }, 'connections refused: max_connections are open');
      refused = 0;
      lastLine = Date.now();
    };
    server.on('drop', () => {
      refused++;
      if (observe.connectionRefused.hasSubscribers) observe.connectionRefused.publish({});
      if (pending) return;
      pending = setTimeout(report, Math.max(0, lastLine + REFUSED_LOG_INTERVAL_MS - Date.now()));
      pending.unref();
    });
  }
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
      draining = true;
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      // server.close() closes the connections idle at that moment only; one whose answer was in
      // flight stays open after it (keep-alive) until the grace runs out. Closed as it goes idle,
      // the drain ends with the last answer.
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      sweep.unref();
      // Node removes the socket file when a unix listener closes.
      server.close(() => { clearTimeout(timer); clearInterval(sweep); resolve(); });
      server.closeIdleConnections();
    }),
  };
}

/** Transfer-Encoding whose last coding is chunked, the one framing a request body may have (RFC 9112 §6.1). */
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked$/i;

/**
 * Requests the proxy must not pass on, whose head Node's parser hands over before it has judged
 * them. A Transfer-Encoding that does not end in chunked leaves the body's length unknowable
 * (RFC 9112 §6.3): the parser refuses the body with 400 once it arrives (or the request times out
 * with 408), and meanwhile nothing reaches the road or an upstream. An HTTP/0.9 request line (no
 * version) gets 400, as oauth2-proxy's Go server answers it.
 */
function framedRequests(handle: Handlers['handle']): Handlers['handle'] {
  return (req, res) => {
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && !CHUNKED_LAST.test(te)) return;
    if (req.httpVersionMajor !== 1) return void sendError(req, res, new PortcullisError('BAD_REQUEST', { detail: `HTTP/${req.httpVersion}` }));
    handle(req, res);
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
