import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';

/** Where an http upstream is and how to reach it; built once per route. */
export interface ForwardTarget {
  readonly protocol: 'http:' | 'https:';
  readonly hostname: string;
  readonly port: number;
  /** host[:port] as the upstream expects it in Host, for changeOrigin (pass_host_header=false). */
  readonly host: string;
  /** The name an https upstream's certificate must carry (SNI): its hostname, '' for an IP address. */
  readonly servername?: string;
  readonly agent: http.Agent;
  /** Send the upstream's own host as Host instead of the client's (pass_host_header=false). */
  readonly changeOrigin: boolean;
  /** No answer (headers) from the upstream within this many ms ends the request; 0 for none. */
  readonly timeoutMs: number;
}

/** The upstream took longer than upstream_timeout to answer. */
export class UpstreamTimeout extends Error {
  override readonly name = 'UpstreamTimeout';
  readonly code = 'UPSTREAM_TIMEOUT';
}

/** The upstream answered with something that is not a usable HTTP answer. */
export class UpstreamBadAnswer extends Error {
  override readonly name = 'UpstreamBadAnswer';
  readonly code = 'UPSTREAM_BAD_ANSWER';
}

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1): they describe one connection and are never forwarded, nor is
 * any field that the message's Connection header names. A client naming X-Forwarded-User there
 * would otherwise have an RFC-following hop behind the proxy delete the proxy's identity header.
 * `expect` is answered by this server already (100-continue), and `proxy-authorization` is for us.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'proxy-authorization']);

/**
 * Removes the hop-by-hop fields of a request and every field its Connection header names, keeping
 * `connection: upgrade` and `upgrade` on an upgrade request, and Transfer-Encoding (see below). Call it before the proxy adds its own
 * headers, so no client-named field can take one of them away.
 */
export function stripHopByHop(headers: http.IncomingHttpHeaders, upgrade: boolean): void {
  const connection = headers.connection;
  const upgradeTo = headers.upgrade;
  // The body's framing stays, whatever Connection names: Node's parser has taken the chunks apart,
  // and the outgoing request frames them again only when it sees this field. Without it a chunked
  // body was dropped (Content-Length: 0 upstream), and for a GET or DELETE, whose bodies Node does
  // not chunk by default, it would go out unframed: the next request on that connection.
  const framing = headers['transfer-encoding'];
  if (connection) {
    for (const token of String(connection).split(',')) {
      const name = token.trim().toLowerCase();
      if (name) delete headers[name];
    }
  }
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name];
  if (framing !== undefined) headers['transfer-encoding'] = framing;
  if (upgrade && upgradeTo) {
    headers.connection = 'upgrade';
    headers.upgrade = upgradeTo;
  }
}

/** What server/response.ts's ProxyResponse adds to a response (named here: upstream/ sits below server/). */
interface HeldHead { writeHeadAppending(statusCode: number, reason: string | undefined, list: readonly string[]): boolean }

/** The upstream's response headers without hop-by-hop fields, as the flat [name, value, …] list writeHead takes. */
function responseHeaders(raw: readonly string[]): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const t of raw[i + 1]!.split(',')) named.add(t.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/**
 * The upstream's headers plus the cookies the proxy set on this response (a refreshed session).
 * Once a header has been set on a response, writeHead sets the fields of a list one by one, so a
 * repeated field (two Set-Cookie) would keep only its last value: repeated fields are grouped.
 */
function outgoing(req: http.IncomingMessage, t: ForwardTarget): http.RequestOptions {
  const headers = req.headers;
  if (t.changeOrigin) headers.host = t.host;
  // A flat [name, value, …] list: ClientRequest writes it out as it is, checking each field once,
  // where an object is first copied field by field through setHeader (about 3 µs per request for
  // the dozen fields a signed-in request carries, measured here).
  const list: string[] = [];
  for (const name of Object.keys(headers)) {
    const v = headers[name];
    if (typeof v === 'string') list.push(name, v);
    else if (v !== undefined) for (const one of v) list.push(name, one);
  }
  return {
    agent: t.agent, hostname: t.hostname, port: t.port, method: req.method,
    // Exactly the target the road checked: no re-parsing, no dot-segment resolution.
    path: req.url, headers: list, setHost: false,
    // TLS checks the upstream's certificate against the upstream's own name, as oauth2-proxy's Go
    // transport does: never against the Host header, which with pass_host_header is the client's.
    ...(t.protocol === 'https:' ? { servername: t.servername } : {}),
  };
}

const request = (t: ForwardTarget, o: http.RequestOptions): http.ClientRequest => (t.protocol === 'https:' ? https.request(o) : http.request(o));

/**
 * Forwards one request on node:http: the request and response bodies stream with backpressure,
 * and nothing is parsed twice. Measured against http-proxy-3 in bench/ (the `bare-node-http` and
 * `bare-http-proxy-3` hops); see docs/benchmarks.md. `onFailure` gets every error that happens
 * before the response headers are sent; after that the client's connection is cut, as a proxy must.
 */
export function forwardRequest(req: http.IncomingMessage, res: http.ServerResponse, t: ForwardTarget, onFailure: (err: Error) => void): void {
  const out = request(t, outgoing(req, t));
  // Without Content-Length or Transfer-Encoding a request has no body (RFC 9112 §6.3).
  const bodyless = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
  let failed = false;
  let timer: NodeJS.Timeout | undefined;
  const fail = (err: Error): void => {
    if (failed) return;
    failed = true;
    clearTimeout(timer);
    out.destroy();
    onFailure(err);
  };
  out.on('error', fail);
  if (t.timeoutMs > 0) {
    const timedOut = (): void => fail(new UpstreamTimeout(`no answer within ${t.timeoutMs} ms`));
    // A request with a body waits for the upstream while the body still flows: an idle timeout on
    // the socket, which each chunk resets. A bodyless one is sent at once, so until the answer
    // nothing moves on the socket and a plain timer means the same; it costs about 2.5 µs less per
    // request than the socket timeout's listeners (measured here).
    if (bodyless) timer = setTimeout(timedOut, t.timeoutMs);
    else out.setTimeout(t.timeoutMs, timedOut);
  }
  let answered = false;
  // Node destroys the connection of a 101 to a request that asked for no upgrade without an
  // error, which would leave the client waiting for ever.
  out.on('upgrade', (_up: http.IncomingMessage, upSocket: Duplex) => {
    upSocket.destroy();
    fail(new UpstreamBadAnswer('101 Switching Protocols to a request that asked for no upgrade'));
  });
  let clientGone = false;
  out.on('close', () => { if (!answered && !clientGone) fail(new UpstreamBadAnswer('the connection closed without an answer')); });
  out.on('response', (up: http.IncomingMessage) => {
    answered = true;
    if (timer) clearTimeout(timer);
    else if (t.timeoutMs > 0) out.setTimeout(0);
    const status = up.statusCode ?? 0;
    // Node's parser takes any three digits and a reason phrase that writeHead then refuses by
    // throwing, inside this event: an upstream could crash the proxy with `HTTP/1.1 000`.
    if (status < 200 || status > 599) return fail(new UpstreamBadAnswer(`status ${status}`));
    const headers = responseHeaders(up.rawHeaders);
    try {
      // writeHead merges a list into headers already set (a request id) with setHeader, which keeps
      // only the last of repeated names: append one by one then, so every Set-Cookie survives. The
      // listeners' responses hold the request id back and write it with such a list in one go
      // when that gives the same bytes (server/response.ts).
      if ((res as Partial<HeldHead>).writeHeadAppending?.(status, up.statusMessage, headers)) { /* written */ }
      else if (res.getHeaderNames().length === 0) res.writeHead(status, up.statusMessage, headers);
      else {
        for (let i = 0; i < headers.length; i += 2) res.appendHeader(headers[i]!, headers[i + 1]!);
        res.writeHead(status, up.statusMessage);
      }
    } catch (err) {
      // A header value or reason phrase Node will not send: none of that answer reaches the client.
      for (let i = 0; i < headers.length; i += 2) res.removeHeader(headers[i]!);
      res.statusMessage = ''; // kept by the failed writeHead, it would make the 502's throw too
      return fail(new UpstreamBadAnswer((err as Error).message));
    }
    up.on('error', () => res.destroy());
    up.pipe(res);
  });
  // The client went away before the answer was complete: stop asking the upstream.
  res.on('close', () => {
    if (res.writableFinished) return;
    clientGone = true;
    clearTimeout(timer);
    out.destroy();
  });
  // A bodyless request ends at once rather than pay for a pipe.
  if (bodyless) out.end();
  else req.pipe(out);
}

/**
 * Forwards an upgrade (websocket handshake): on the upstream's 101 the two sockets are joined;
 * any other answer is relayed to the client as it is and the connection closed.
 */
export function forwardUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, t: ForwardTarget, onFailure: (err: Error) => void): void {
  const out = request(t, outgoing(req, t));
  let settled = false;
  const fail = (err: Error): void => {
    if (settled) return;
    settled = true;
    out.destroy();
    onFailure(err);
  };
  out.on('error', fail);
  if (t.timeoutMs > 0) out.setTimeout(t.timeoutMs, () => fail(new UpstreamTimeout(`no answer within ${t.timeoutMs} ms`)));
  socket.on('error', () => out.destroy());
  out.on('upgrade', (up: http.IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
    settled = true;
    out.setTimeout(0);
    socket.write(statusLine(up) + rawLines(up.rawHeaders) + '\r\n');
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    upSocket.on('error', () => socket.destroy());
    socket.on('error', () => upSocket.destroy());
    upSocket.on('close', () => socket.destroy());
    socket.on('close', () => upSocket.destroy());
    upSocket.pipe(socket).pipe(upSocket);
  });
  out.on('response', (up: http.IncomingMessage) => {
    settled = true;
    out.setTimeout(0);
    socket.write(statusLine(up) + rawLines(responseHeaders(up.rawHeaders)) + 'connection: close\r\n\r\n');
    up.pipe(socket);
  });
  out.end();
}

function statusLine(up: http.IncomingMessage): string {
  return `HTTP/1.1 ${up.statusCode ?? 502} ${up.statusMessage ?? ''}\r\n`;
}

function rawLines(raw: readonly string[]): string {
  let s = '';
  for (let i = 0; i < raw.length; i += 2) s += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return s;
}
