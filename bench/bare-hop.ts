// A bare reverse proxy hop, as a baseline for Portcullis: one node:http server forwarding every
// request to the upstream with http-proxy 1.18.1, http-proxy-3, or Portcullis's own forwarder on
// node:http (src/upstream/forward.ts), nothing else (no session, no header work, no logging). The
// same knobs as Portcullis's own hop: a keep-alive agent with the same limits, the same server
// timeouts (src/server/listen.ts). With `log`, one more thing: Portcullis's request-log line
// (src/log.ts's RequestLog, the same fields, a fixed user and request id) through the same stdout
// sink (src/logsink.ts), on the response's finish: the floor of a hop that logs.
// Usage: node dist/bench/bare-hop.js <http-proxy|http-proxy-3|node-http> <upstreamPort> [port] [log]
// Prints `{"port":N}` on its first stdout line.
import http from 'node:http';
import { requestLogger } from '../src/log.js';
import { forwardRequest, type ForwardTarget } from '../src/upstream/forward.js';
import { setForwardingHeaders } from '../src/upstream/headers.js';

interface MinimalProxy {
  web(req: http.IncomingMessage, res: http.ServerResponse, opts: object, cb: (err: Error) => void): void;
  on(event: 'error', cb: (err: Error) => void): unknown;
}
type CreateProxyServer = (opts: object) => MinimalProxy;

const [impl, upstreamPortArg, portArg, logArg] = process.argv.slice(2);
const reqLog = logArg === 'log' ? requestLogger('info') : undefined;
const USER = 'bench-user-0000000000000000';
const ID = '00000000-0000-4000-8000-000000000000';
const upstreamPort = Number(upstreamPortArg);
if ((impl !== 'http-proxy' && impl !== 'http-proxy-3' && impl !== 'node-http') || !Number.isInteger(upstreamPort) || upstreamPort <= 0) {
  process.stderr.write('usage: bare-hop.js <http-proxy|http-proxy-3|node-http> <upstreamPort> [port]\n');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 });
const target = `http://127.0.0.1:${upstreamPort}`;
let proxy: Pick<MinimalProxy, 'web'>;
if (impl === 'node-http') {
  const t: ForwardTarget = { protocol: 'http:', hostname: '127.0.0.1', port: upstreamPort, host: `127.0.0.1:${upstreamPort}`, agent, changeOrigin: false, timeoutMs: 0 };
  // X-Forwarded-For/-Proto/-Host/-Port as Portcullis writes them (the others' xfwd: true).
  proxy = { web: (req, res, _opts, cb) => { setForwardingHeaders(req, false); forwardRequest(req, res, t, cb); } };
} else {
  // Both are CommonJS; take createProxyServer from the named export or from module.exports.
  const mod = (impl === 'http-proxy' ? await import('http-proxy') : await import('http-proxy-3')) as unknown as {
    createProxyServer?: CreateProxyServer; default?: { createProxyServer?: CreateProxyServer };
  };
  const createProxyServer = mod.createProxyServer ?? mod.default?.createProxyServer;
  if (!createProxyServer) throw new Error(`${impl}: no createProxyServer export`);
  const p = createProxyServer({ target, agent, xfwd: true, proxyTimeout: 0 });
  p.on('error', () => { /* answered by the per-request callback */ });
  proxy = p;
}

const fail = (res: http.ServerResponse) => (): void => {
  if (res.headersSent) { res.destroy(); return; }
  res.writeHead(502, { 'content-type': 'text/plain' });
  res.end('bad gateway');
};
const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 20_000, keepAliveTimeout: 65_000 }, (req, res) => {
  if (reqLog) {
    const started = process.hrtime.bigint();
    res.on('finish', () => reqLog.write({
      method: req.method, path: req.url ?? '/', status: res.statusCode, durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      user: USER, client: req.socket.remoteAddress, requestId: ID, upgrade: false,
    }));
  }
  proxy.web(req, res, {}, fail(res));
});
server.listen(Number(portArg ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port, impl })}\n`);
});
process.once('SIGTERM', () => process.exit(0));
