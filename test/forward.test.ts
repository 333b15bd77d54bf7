import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { splitTarget } from '../src/server/context.js';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { table } from './support/table.js';

test('request targets: origin-form paths only; no backslash, fragment or dot segment in any spelling', () => {
  table([
    ['/', { path: '/', search: '' }], ['/a/b?x=1&y', { path: '/a/b', search: '?x=1&y' }],
    ['/file.txt', { path: '/file.txt', search: '' }], ['/.well-known/x', { path: '/.well-known/x', search: '' }],
    ['/a/...', { path: '/a/...', search: '' }], ['/a?next=/../x', { path: '/a', search: '?next=/../x' }],
    ['/a/%20b', { path: '/a/%20b', search: '' }], ['/a/%2Fb', { path: '/a/%2Fb', search: '' }], ['/a;v=1/b', { path: '/a;v=1/b', search: '' }],
    ['/a?q=\\x', { path: '/a', search: '?q=\\x' }], ['/..a/b', { path: '/..a/b', search: '' }],
    ['/a/../b', undefined], ['/a/./b', undefined], ['/..', undefined], ['/a/..', undefined], ['/%2e%2e/b', undefined],
    ['/a/%2E/b', undefined], ['/a/.%2e/b', undefined], ['http://evil.example/', undefined], ['*', undefined], ['', undefined],
    ['/public/..\\private', undefined], ['/public/%2e%2e\\private', undefined], ['/a\\b', undefined],
    ['/public/..%2fprivate', undefined], ['/public/..%2Fprivate', undefined], ['/public%2f..%2fprivate', undefined],
    ['/public/..%5cprivate', undefined], ['/public/..;/private', undefined], ['/public/.;x/private', undefined],
    ['/public#/../private', undefined], ['/admin#x', undefined],
  ], splitTarget);
});

/** An upstream that records what it received and answers with hop-by-hop headers of its own. */
function startRecorder(): Promise<{ url: string; port: number; seen: Array<{ url: string; headers: http.IncomingHttpHeaders; bodySha: string }>; close(): void }> {
  const seen: Array<{ url: string; headers: http.IncomingHttpHeaders; bodySha: string }> = [];
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256');
    req.on('data', (c: Buffer) => hash.update(c));
    req.on('end', () => {
      const bodySha = hash.digest('hex');
      seen.push({ url: req.url!, headers: req.headers, bodySha });
      if (req.url === '/hang') return; // never answers
      res.writeHead(200, [
        'Content-Type', 'application/json', 'Connection', 'keep-alive, X-Secret', 'X-Secret', 'internal', 'Keep-Alive', 'timeout=5',
        'Set-Cookie', 'a=1; Path=/', 'Set-Cookie', 'b=2; Path=/', 'X-App', 'kept',
      ]);
      res.end(JSON.stringify({ url: req.url, bodySha }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as net.AddressInfo;
    resolve({ url: `http://127.0.0.1:${port}/`, port, seen, close: () => { server.closeAllConnections(); server.close(); } });
  }));
}

/** A raw request, so the test controls the exact bytes of the target and the headers. */
function raw(port: number, lines: string[], body = ''): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
    s.on('end', () => {
      const [head, rest = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head!)?.[1] ?? 0), head: head!, body: rest });
    });
    s.on('error', reject);
    s.setTimeout(10_000, () => { s.destroy(); reject(new Error(`no answer: ${text}`)); });
    s.write(`${lines.join('\r\n')}\r\nConnection: close\r\n\r\n${body}`);
  });
}

describe('forwarding: exactly the checked request, without hop-by-hop fields, with a timeout', () => {
  let peers: Peers;
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  let proxy: InProcess;
  let cookie: string;
  before(async () => {
    peers = await startPeers();
    recorder = await startRecorder();
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_UPSTREAMS: recorder.url, OAUTH2_PROXY_UPSTREAM_TIMEOUT: '1s' }, peers.port);
    const b = new HttpBrowser();
    const res = await b.navigate(`${proxy.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 200);
    cookie = b.cookieHeader(new URL(proxy.url));
  });
  after(async () => { await proxy?.close(); recorder?.close(); await peers?.close(); });

  test('the upstream gets the path and query exactly as sent, encoded characters included', async () => {
    const target = '/a%2Fb/c%20d;v=1/%C3%A9?x=%20&y=a%2Fb&z';
    const r = await raw(Number(new URL(proxy.url).port), [`GET ${target} HTTP/1.1`, `Host: 127.0.0.1`, `Cookie: ${cookie}`]);
    assert.equal(r.status, 200, r.head);
    assert.equal(recorder.seen.at(-1)!.url, target);
  });

  test('crafted paths never reach the upstream: 400', async () => {
    const port = Number(new URL(proxy.url).port);
    for (const target of ['/public/..\\private', '/public/%2e%2e\\private', '/public/..;/private', '/public/..%2fprivate']) {
      const before = recorder.seen.length;
      const r = await raw(port, [`GET ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Cookie: ${cookie}`, 'Accept: application/json']);
      assert.equal(r.status, 400, `${target}: ${r.head}`);
      assert.equal(recorder.seen.length, before, `${target} reached the upstream`);
    }
  });

  test('a field the client names in Connection is removed before the proxy adds its own headers', async () => {
    const port = Number(new URL(proxy.url).port);
    const r = await raw(port, [
      'GET /conn HTTP/1.1', 'Host: 127.0.0.1', `Cookie: ${cookie}`,
      'Connection: X-Forwarded-User, X-Forwarded-Email, X-Forwarded-Groups, X-Custom', 'X-Custom: 1', 'Keep-Alive: timeout=99', 'TE: trailers',
    ]);
    assert.equal(r.status, 200, r.head);
    const h = recorder.seen.at(-1)!.headers;
    assert.equal(h['x-forwarded-user'], 'alice-subject-0001', 'the identity header survives');
    assert.equal(h['x-forwarded-email'], 'alice@example.com');
    assert.equal(h['x-forwarded-groups'], 'admins,devs');
    assert.equal(h['x-custom'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h.te, undefined);
    assert.doesNotMatch(String(h.connection ?? ''), /x-forwarded|x-custom/i);
  });

  test('the answer keeps the upstream\'s headers, repeated Set-Cookie included, without its hop-by-hop fields', async () => {
    const res = await new HttpBrowser().request(`${proxy.url}/answer`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
    assert.equal(res.headers['x-app'], 'kept');
    assert.equal(res.headers['x-secret'], undefined, 'a field the upstream named in Connection is not forwarded');
    assert.notEqual(res.headers['keep-alive'], 'timeout=5', 'the upstream\'s Keep-Alive is not relayed (the proxy\'s own server writes its own)');
  });

  test('request bodies stream through intact', async () => {
    const body = randomBytes(3 * 1024 * 1024);
    const res = await fetch(`${proxy.url}/upload`, { method: 'POST', body, headers: { cookie, 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { bodySha: string }).bodySha, createHash('sha256').update(body).digest('hex'));
  });

  test('an upstream that does not answer within upstream_timeout gives 504 UPSTREAM_TIMEOUT', async () => {
    const started = Date.now();
    const res = await new HttpBrowser().request(`${proxy.url}/hang`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(res.status, 504);
    assert.equal(JSON.parse(res.body).error, 'UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 5000, 'answered soon after the 1 s limit');
    assert.ok(proxy.logs.lines.some((l) => l.event === 'upstream_error'));
  });
});
