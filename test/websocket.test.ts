import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { docsNginxSnippet, startNginx, type Nginx } from './support/nginx.js';
import { freePort } from './support/proxy.js';
import { ALICE } from './support/stack.js';

/** A real websocket echo server (the ws package) that greets each client and keeps the handshake's headers. */
async function startWsEcho(): Promise<{ url: string; handshakes: http.IncomingHttpHeaders[]; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server });
  const handshakes: http.IncomingHttpHeaders[] = [];
  wss.on('connection', (ws, req) => {
    handshakes.push(req.headers);
    ws.send('hello from upstream');
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    handshakes,
    close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.closeAllConnections(); server.close(() => r()); }),
  };
}

interface Session { ws: WebSocket; next(): Promise<{ data: Buffer; binary: boolean }> }

/** Opens a websocket; resolves once open, or rejects with the HTTP status the handshake got instead. */
function open(url: string, headers: Record<string, string>): Promise<Session> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
    const queue: Array<{ data: Buffer; binary: boolean }> = [];
    const waiting: Array<(m: { data: Buffer; binary: boolean }) => void> = [];
    ws.on('message', (data: Buffer, binary: boolean) => {
      const m = { data, binary };
      const w = waiting.shift();
      if (w) w(m); else queue.push(m);
    });
    const next = (): Promise<{ data: Buffer; binary: boolean }> => new Promise((res, rej) => {
      const m = queue.shift();
      if (m) return res(m);
      const timer = setTimeout(() => rej(new Error('no websocket message within 5 s')), 5000);
      waiting.push((x) => { clearTimeout(timer); res(x); });
    });
    ws.once('open', () => resolve({ ws, next }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => { ws.terminate(); reject(Object.assign(new Error(`handshake answered ${res.statusCode}`), { status: res.statusCode, body })); });
    });
    ws.once('error', (e) => reject(e));
  });
}

async function echoBothWays(s: Session): Promise<void> {
  assert.equal(String((await s.next()).data), 'hello from upstream', 'the upstream speaks first');
  s.ws.send('text one');
  assert.equal(String((await s.next()).data), 'text one');
  const blob = randomBytes(1 << 20);
  s.ws.send(blob);
  const back = await s.next();
  assert.equal(back.binary, true);
  assert.ok(back.data.equals(blob), 'a 1 MiB binary message comes back intact');
}

function closed(ws: WebSocket): Promise<void> {
  return new Promise((r) => { ws.once('close', () => r()); ws.close(); });
}

describe('websockets through Portcullis to a real websocket server', () => {
  let peers: Peers;
  let upstream: Awaited<ReturnType<typeof startWsEcho>>;
  let proxy: InProcess;
  let noWs: InProcess;
  let nginx: Nginx;
  let cookie: string;

  before(async () => {
    upstream = await startWsEcho();
    const ports = [await freePort(), await freePort()];
    peers = await startPeers({ ports });
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_UPSTREAMS: upstream.url }, ports[0]);
    // Same cookie secret: the session cookie from the first proxy is valid here too.
    noWs = await startInProcess({ ...peers.env, OAUTH2_PROXY_UPSTREAMS: upstream.url, OAUTH2_PROXY_PROXY_WEBSOCKETS: 'false' }, ports[1]);
    const b = new HttpBrowser();
    await b.navigate(`${proxy.url}/oauth2/start?rd=/`);
    cookie = b.cookieHeader(new URL(proxy.url));
    assert.match(cookie, /_oauth2_proxy=/);
    const nginxPort = await freePort();
    // The docs' location block (docs/upstreams.md) as written, its address pointed at this proxy.
    const location = docsNginxSnippet('nginx-websocket-snippet').replace('http://127.0.0.1:4180', proxy.url);
    assert.notEqual(location, docsNginxSnippet('nginx-websocket-snippet'), 'the docs block proxies to 127.0.0.1:4180');
    nginx = await startNginx(`server {\n  listen 127.0.0.1:${nginxPort};\n${location}}`, nginxPort);
  });
  after(async () => {
    await nginx?.stop();
    await proxy?.close();
    await noWs?.close();
    await peers?.close();
    await upstream?.close();
  });

  test('no session: 401 UNAUTHENTICATED and no upgrade, and the upstream never hears of it', async () => {
    const before = upstream.handshakes.length;
    await assert.rejects(open(`${proxy.url.replace('http', 'ws')}/chat`, {}), (e: Error & { status?: number; body?: string }) => {
      assert.equal(e.status, 401);
      assert.equal(JSON.parse(e.body!).error, 'UNAUTHENTICATED');
      return true;
    });
    await assert.rejects(open(`${proxy.url.replace('http', 'ws')}/chat`, { cookie: '_oauth2_proxy=forged' }), { status: 401 });
    assert.equal(upstream.handshakes.length, before);
  });

  test('signed in: the upgrade succeeds, messages echo both ways, the upstream sees our identity headers only', async () => {
    const s = await open(`${proxy.url.replace('http', 'ws')}/chat?room=1`, {
      cookie: `${cookie}; theme=dark`, 'x-forwarded-user': 'mallory', 'X_Forwarded_Email': 'mallory@evil.test', 'x-forwarded-groups': 'admins',
    });
    await echoBothWays(s);
    await closed(s.ws);
    const h = upstream.handshakes.at(-1)!;
    assert.equal(h['x-forwarded-user'], ALICE.sub);
    assert.equal(h['x-forwarded-email'], ALICE.email);
    assert.equal(h['x-forwarded-groups'], 'admins,devs');
    assert.equal(h.x_forwarded_email, undefined);
    assert.match(String(h.cookie), /(^|; )theme=dark$/);
    assert.doesNotMatch(String(h.cookie), /_oauth2_proxy/, 'the proxy\'s own cookie is not passed on');
  });

  test('through nginx in front (proxy_http_version 1.1, Upgrade and Connection headers set)', async () => {
    await assert.rejects(open(`${nginx.url.replace('http', 'ws')}/chat`, {}), { status: 401 });
    const s = await open(`${nginx.url.replace('http', 'ws')}/chat`, { cookie, 'x-forwarded-user': 'mallory' });
    await echoBothWays(s);
    await closed(s.ws);
    const h = upstream.handshakes.at(-1)!;
    assert.equal(h['x-forwarded-user'], ALICE.sub);
    assert.equal(h['x-forwarded-email'], ALICE.email);
  });

  test('proxy_websockets=false: a signed-in upgrade gets 501 UPGRADE_REFUSED', async () => {
    await assert.rejects(open(`${noWs.url.replace('http', 'ws')}/chat`, { cookie }), (e: Error & { status?: number; body?: string }) => {
      assert.equal(e.status, 501);
      assert.equal(JSON.parse(e.body!).error, 'UPGRADE_REFUSED');
      return true;
    });
  });
});
