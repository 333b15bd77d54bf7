import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { exchange, type Exchange } from './support/http.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';

// HTTP at its edges, over raw sockets (a client library would refuse to send most of this): what a
// client can send the proxy, and what an upstream can answer it. Every row ends in a clear status
// or a cut connection, never a 5xx the proxy made up, a crash, or a request passed on in a shape
// the proxy did not check. The routes below need no login, so a row is one connection.

/** Limits shortened for the test: the head within 600 ms, the whole request within 1.5 s. */
const CLIENT_TIMEOUTS = { headersMs: 600, requestMs: 1500 };
const UPSTREAM_TIMEOUT_MS = 1000;

/** A well-behaved upstream that records what reaches it. */
function startRecorder(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url?.startsWith('/open/stream')) {
      // Answers at once and finishes when the request body has all arrived.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part\n');
      req.on('data', () => undefined);
      req.on('end', () => res.end('last part\n'));
      return;
    }
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; });
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`received ${bytes} bytes`));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  })));
}

/**
 * An upstream that misbehaves at the byte level, chosen by the last path segment: the proxy reaches
 * it as `GET /bad/NAME`. Answers it writes end with Connection: close, so no connection is reused.
 */
const MISBEHAVIOURS: Record<string, (s: net.Socket) => void> = {
  hang: () => undefined,
  reset: (s) => s.resetAndDestroy(),
  'close-at-once': (s) => s.end(),
  garbage: (s) => s.end('SSH-2.0-OpenSSH_9.2\r\n'),
  'cut-length': (s) => { s.write(`HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n${'a'.repeat(100)}`); setTimeout(() => s.end(), 50); },
  'cut-chunked': (s) => { s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n'); setTimeout(() => s.end(), 50); },
  'close-delimited': (s) => s.end(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${'b'.repeat(5000)}`),
  'ctl-in-value': (s) => s.end('HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'nul-in-value': (s) => s.end('HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'del-in-value': (s) => s.end('HTTP/1.1 200 OK\r\nX-Bad: a\x7fb\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'cr-in-value': (s) => s.end('HTTP/1.1 200 OK\r\nX-Bad: a\rSet-Cookie: planted=1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'space-in-name': (s) => s.end('HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'obs-fold': (s) => s.end('HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'two-lengths': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 20\r\nConnection: close\r\n\r\nok'),
  'length-and-chunked': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nok\r\n0\r\n\r\n'),
  'bad-chunk-size': (s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nok\r\n0\r\n\r\n'),
  'status-000': (s) => s.end('HTTP/1.1 000 Zero\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'status-099': (s) => s.end('HTTP/1.1 099 Low\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'status-letters': (s) => s.end('HTTP/1.1 abc Letters\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'reason-ctl': (s) => s.end('HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'),
  'switching-protocols': (s) => s.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
  'huge-head': (s) => s.end(`HTTP/1.1 200 OK\r\nX-Big: ${'c'.repeat(40 * 1024)}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`),
};

function startMisbehaving(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let head = '';
    const onData = (c: Buffer): void => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      const name = /^[A-Z]+ \/bad\/([\w-]+)/.exec(head)?.[1] ?? '';
      (MISBEHAVIOURS[name] ?? ((x: net.Socket) => x.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')))(s);
    };
    s.on('data', onData);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  })));
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: portcullis.test\r\nConnection: close\r\n\r\n`;

/** The whole answer's body, when it is framed by Content-Length; undefined otherwise. */
function lengthOf(x: Exchange): { declared: number; received: number } | undefined {
  const [head, ...rest] = x.text.split('\r\n\r\n');
  const declared = /\r\ncontent-length: (\d+)/i.exec(head ?? '')?.[1];
  return declared === undefined ? undefined : { declared: Number(declared), received: Buffer.byteLength(rest.join('\r\n\r\n'), 'latin1') };
}

/** What a row expects: a status (with the connection then closed), or the connection cut with `check` true of what arrived. */
type Expect = { status: number; body?: RegExp } | { cut: (x: Exchange) => boolean; why: string };

interface ClientRow {
  readonly name: string;
  /** Request bytes; `PATH` is replaced by a path of the row's own under /open/; a number is a pause in ms. */
  readonly send: ReadonlyArray<string | number>;
  readonly expect: Expect;
  /** False: the upstream must not see the request at all. */
  readonly forwarded?: boolean;
  readonly withinMs?: number;
}

const CLIENT_ROWS: readonly ClientRow[] = [
  { name: 'a head over 32 KiB → 431', send: [`GET PATH HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`], expect: { status: 431 }, forwarded: false },
  { name: 'Content-Length and Transfer-Encoding together → 400 (request smuggling)', send: ['POST PATH HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG'], expect: { status: 400 }, forwarded: false },
  { name: 'Transfer-Encoding with chunked not last → 400', send: ['POST PATH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'Transfer-Encoding: xchunked → 400', send: ['POST PATH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'Transfer-Encoding: gzip (no chunked) → 400', send: ['POST PATH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc'], expect: { status: 400 }, forwarded: false },
  { name: 'a chunked body → reaches the upstream whole', send: ['POST PATH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'], expect: { status: 200, body: /received 11 bytes/ } },
  { name: 'a chunked body with Connection: transfer-encoding → still reaches the upstream whole', send: ['POST PATH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close, transfer-encoding\r\n\r\n5\r\nhello\r\n0\r\n\r\n'], expect: { status: 200, body: /received 5 bytes/ } },
  {
    // Node does not chunk a GET's body by default: passed on unframed, the chunk would be the next request upstream.
    name: 'a GET whose chunked body holds a second request → one request upstream, the body framed',
    send: ['GET PATH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n28\r\nGET /open/smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n'],
    expect: { status: 200, body: /received 40 bytes/ },
  },
  { name: 'two different Content-Length → 400', send: ['POST PATH HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'], expect: { status: 400 }, forwarded: false },
  { name: 'a signed Content-Length → 400', send: ['POST PATH HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nab'], expect: { status: 400 }, forwarded: false },
  { name: 'a folded header (obs-fold) → 400', send: ['GET PATH HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'a space before the colon → 400', send: ['GET PATH HTTP/1.1\r\nHost: x\r\nX-Forwarded-User : mallory\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'a header name with a separator → 400', send: ['GET PATH HTTP/1.1\r\nHost: x\r\nX(A): y\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'NUL in a header value → 400', send: ['GET PATH HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'a lone CR in a header value → 400', send: ['GET PATH HTTP/1.1\r\nHost: x\r\nX-A: a\rX-Forwarded-User: mallory\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'DEL in a header value → 400', send: ['GET PATH HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'no Host on HTTP/1.1 → 400', send: ['GET PATH HTTP/1.1\r\nX-A: b\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'a request line without a version (HTTP/0.9) → 400', send: ['GET PATH\r\nHost: x\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'an HTTP/2 preface on the HTTP/1.1 port → 400', send: ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'an absolute-form target → 400', send: ['GET http://evil.example/open/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'], expect: { status: 400 }, forwarded: false },
  { name: 'a chunk size that is not hex → 400', send: ['POST PATH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n'], expect: { status: 400 } },
  { name: 'a head that never ends → 408 after the head timeout', send: ['GET PATH HTTP/1.1\r\nHost: x\r\n'], expect: { status: 408 }, forwarded: false, withinMs: 2500 },
  {
    name: 'a head trickled a byte at a time (slow loris) → 408, bytes arriving or not',
    send: ['GET PATH HTTP/1.1\r\n', ...'Host: x\r\nX-Slow: '.split(''), ...Array.from({ length: 40 }, (_, i) => [100, 'abcdefghij'[i % 10]!]).flat()],
    expect: { status: 408 }, forwarded: false, withinMs: 3000,
  },
  {
    name: 'a body that trickles past the request timeout while the upstream waits for it → 408',
    send: ['POST PATH HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', ...Array.from({ length: 30 }, () => [200, 'x']).flat()],
    expect: { status: 408 }, withinMs: 4000,
  },
  {
    // The answer has begun (200, a first part): a 408 status line written now would land inside its body.
    name: 'a body that trickles past the request timeout while the answer streams → cut, no status line inside the answer',
    send: ['POST /open/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', ...Array.from({ length: 30 }, () => [200, 'x']).flat()],
    expect: { cut: (x) => x.status === 200 && x.text.includes('first part') && !x.text.includes('last part') && x.text.split('HTTP/1.1 ').length === 2, why: 'the 200 and its first part, then nothing more' },
    withinMs: 4000,
  },
];

interface UpstreamRow {
  readonly name: string;
  /** The misbehaviour, as `/bad/NAME`. */
  readonly upstream: keyof typeof MISBEHAVIOURS;
  readonly expect: Expect;
  readonly withinMs?: number;
  readonly atLeastMs?: number;
}

const cutShort = (x: Exchange): boolean => { const l = lengthOf(x); return x.status === 200 && l !== undefined && l.received < l.declared; };

const UPSTREAM_ROWS: readonly UpstreamRow[] = [
  { name: 'no answer at all → 504 after upstream_timeout', upstream: 'hang', expect: { status: 504 }, atLeastMs: UPSTREAM_TIMEOUT_MS - 50, withinMs: UPSTREAM_TIMEOUT_MS + 2000 },
  { name: 'a reset on the request → 502', upstream: 'reset', expect: { status: 502 } },
  { name: 'closed without a word → 502', upstream: 'close-at-once', expect: { status: 502 } },
  { name: 'not HTTP at all → 502', upstream: 'garbage', expect: { status: 502 } },
  { name: 'closed mid-body (Content-Length) → the client sees the body cut short, never a complete answer', upstream: 'cut-length', expect: { cut: cutShort, why: '200 with fewer bytes than its Content-Length' } },
  { name: 'closed mid-body (chunked) → no last chunk reaches the client', upstream: 'cut-chunked', expect: { cut: (x) => x.status === 200 && x.text.includes('hello') && !x.text.endsWith('0\r\n\r\n'), why: '200 with the chunk, and no terminating chunk' } },
  { name: 'a body delimited by closing → passed on whole, framed', upstream: 'close-delimited', expect: { status: 200 } },
  { name: 'a control character in a header value → 502', upstream: 'ctl-in-value', expect: { status: 502 } },
  { name: 'NUL in a header value → 502', upstream: 'nul-in-value', expect: { status: 502 } },
  { name: 'DEL in a header value → 502', upstream: 'del-in-value', expect: { status: 502 } },
  { name: 'a lone CR in a header value (a planted Set-Cookie) → 502', upstream: 'cr-in-value', expect: { status: 502 } },
  { name: 'a space in a header name → 502', upstream: 'space-in-name', expect: { status: 502 } },
  { name: 'a folded header (obs-fold) → 502', upstream: 'obs-fold', expect: { status: 502 } },
  { name: 'two different Content-Length → 502', upstream: 'two-lengths', expect: { status: 502 } },
  { name: 'Content-Length and Transfer-Encoding together → 502', upstream: 'length-and-chunked', expect: { status: 502 } },
  { name: 'a chunk size that is not hex → the answer is cut', upstream: 'bad-chunk-size', expect: { cut: (x) => x.status === 502 || !x.text.split('\r\n\r\n').slice(1).join('').includes('ok'), why: '502, or the connection cut before any of the body' } },
  { name: 'status 000 → 502', upstream: 'status-000', expect: { status: 502 } },
  { name: 'status 099 → 502', upstream: 'status-099', expect: { status: 502 } },
  { name: 'a status that is not a number → 502', upstream: 'status-letters', expect: { status: 502 } },
  { name: 'a control character in the reason phrase → 502', upstream: 'reason-ctl', expect: { status: 502 } },
  { name: '101 Switching Protocols to a plain request → 502', upstream: 'switching-protocols', expect: { status: 502 } },
  { name: 'a head over 16 KiB → 502', upstream: 'huge-head', expect: { status: 502 } },
];

function check(x: Exchange, expect: Expect): string | undefined {
  if ('status' in expect) {
    if (x.status !== expect.status) return `status ${x.status}, expected ${expect.status}`;
    if (x.end !== 'closed') return 'the connection was left open';
    const l = lengthOf(x);
    if (expect.status === 200 && l && l.received !== l.declared) return `${l.received} of ${l.declared} bytes`;
    if (expect.body && !expect.body.test(x.text)) return `the answer does not match ${String(expect.body)}`;
    return undefined;
  }
  if (x.end !== 'closed') return 'the connection was left open';
  return expect.cut(x) ? undefined : `expected ${expect.why}`;
}

const show = (x: Exchange): string => JSON.stringify(x.text.slice(0, 300));

describe('HTTP at the edges: malformed, oversized and slow clients; hung, resetting and malformed upstreams', () => {
  let peers: Peers;
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  let bad: Awaited<ReturnType<typeof startMisbehaving>>;
  let proxy: InProcess;
  before(async () => {
    [peers, recorder, bad] = await Promise.all([startPeers(), startRecorder(), startMisbehaving()]);
    proxy = await startInProcess({
      ...peers.env,
      OAUTH2_PROXY_UPSTREAMS: `${peers.upstreamUrl},${recorder.url}/open/,${bad.url}/bad/`,
      OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/open/,^/bad/',
      OAUTH2_PROXY_UPSTREAM_TIMEOUT: `${UPSTREAM_TIMEOUT_MS}ms`,
      OAUTH2_PROXY_REQUEST_LOGGING: 'false',
    }, peers.port, { clientTimeouts: CLIENT_TIMEOUTS });
  });
  after(async () => { await proxy?.close(); await Promise.all([peers?.close(), recorder?.close(), bad?.close()]); });

  CLIENT_ROWS.forEach((row, i) => {
    test(`client: ${row.name}`, async () => {
      const path = `/open/row-${i}`;
      const x = await exchange(proxy.url, row.send.map((p) => (typeof p === 'string' ? p.replace('PATH', path) : p)), (row.withinMs ?? 3000) + 1000);
      assert.equal(check(x, row.expect), undefined, show(x));
      if (row.withinMs) assert.ok(x.ms < row.withinMs, `answered after ${x.ms.toFixed(0)} ms`);
      if (row.forwarded === false) assert.deepEqual(recorder.seen.filter((s) => s.endsWith(path)), [], 'the upstream never saw it');
    });
  });

  UPSTREAM_ROWS.forEach((row) => {
    test(`upstream: ${row.name}`, async () => {
      const x = await exchange(proxy.url, [get(`/bad/${row.upstream}`)], (row.withinMs ?? 3000) + 1000);
      assert.equal(check(x, row.expect), undefined, show(x));
      if (row.atLeastMs) assert.ok(x.ms >= row.atLeastMs, `answered after ${x.ms.toFixed(0)} ms, before the timeout`);
      if (row.withinMs) assert.ok(x.ms < row.withinMs, `answered after ${x.ms.toFixed(0)} ms`);
      assert.doesNotMatch(x.text, /planted=1/i);
    });
  });

  test('after every row the proxy still serves, and made no 500 of its own', async () => {
    assert.equal((await exchange(proxy.url, [get('/ping')])).status, 200);
    assert.equal((await exchange(proxy.url, [get('/open/after')])).status, 200);
    assert.deepEqual(proxy.logs.lines.filter((l) => l.msg === 'unexpected error'), []);
    assert.deepEqual(recorder.seen.filter((s) => s.includes('smuggled')), [], 'no request was smuggled in a body');
  });
});
