import http from 'node:http';
import { unlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ListenAddress } from '../config/validate.js';
import type { App } from './road.js';

export interface Listener {
  readonly server: http.Server;
  /** The address actually bound (port 0 becomes the chosen port). */
  readonly url: string;
  close(graceMs?: number): Promise<void>;
}

/**
 * Binds the HTTP server. Timeouts are set so a slow or idle client cannot hold sockets forever,
 * and close() drains: stop accepting, let requests in flight finish, then cut what is left.
 */
export async function listen(addr: ListenAddress, app: Pick<App, 'handle' | 'handleUpgrade'>, log: Logger): Promise<Listener> {
  const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 20_000, keepAliveTimeout: 65_000 }, app.handle);
  // Without a listener Node leaves an upgrade request unanswered; with one, it walks the same road.
  server.on('upgrade', app.handleUpgrade);
  server.on('clientError', (err, socket) => {
    // Malformed requests (bad header names, oversized headers) get a plain 400, not a crash.
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
    log.debug({ err: err.message }, 'client error');
  });
  if (addr.kind === 'unix') {
    try { unlinkSync(addr.path); } catch { /* no stale socket */ }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (addr.kind === 'unix') server.listen(addr.path, resolve);
    else server.listen(addr.port, addr.host, resolve);
  });
  const a = server.address();
  const url = typeof a === 'string' || !a ? `unix://${addr.kind === 'unix' ? addr.path : a}` : `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  return {
    server,
    url,
    close: (graceMs = 10_000) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      server.close(() => { clearTimeout(timer); resolve(); });
      server.closeIdleConnections();
    }),
  };
}
