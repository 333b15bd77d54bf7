import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { HttpBrowser } from './support/browser.js';
import { startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { startRedis, type RedisServer, startReady } from './support/redis.js';
import { ALICE } from './support/stack.js';
import { BACKCHANNEL_LOGOUT_EVENT } from '../src/oidc/backchannel.js';

/** A real websocket server (ws) that greets each client; counts connections closed on its side. */
async function startWsServer(): Promise<{ url: string; closedUpstream: () => number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server });
  let closed = 0;
  wss.on('connection', (ws) => { ws.send('hello'); ws.on('close', () => { closed++; }); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    closedUpstream: () => closed,
    close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** An open websocket through the proxy, with a promise of its close and the ms it took from `mark()`. */
async function openWs(proxy: InProcess, cookie: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(`${proxy.url.replace('http', 'ws')}/chat`, { headers: { cookie }, handshakeTimeout: 5000 });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  return { ws, closed };
}

/** Resolves true when `p` settles within `ms`, false otherwise (the socket stayed open). */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
}

async function signIn(proxy: InProcess): Promise<{ browser: HttpBrowser; cookie: string }> {
  const browser = new HttpBrowser();
  assert.equal((await browser.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 426, 'landed on the websocket server\'s plain-HTTP answer');
  return { browser, cookie: `_oauth2_proxy=${browser.cookies().get('_oauth2_proxy')}` };
}

interface World { peers: Peers; upstream: Awaited<ReturnType<typeof startWsServer>>; proxies: InProcess[]; redis?: RedisServer; close(): Promise<void> }

async function world(n: number, extra: (redis?: RedisServer) => Record<string, string>, withRedis: boolean): Promise<World> {
  const redis = withRedis ? await startRedis() : undefined;
  const upstream = await startWsServer();
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const peers = await startPeers({ ports });
  const proxies: InProcess[] = [];
  for (const p of ports) proxies.push(await startReady({ ...peers.env, OAUTH2_PROXY_UPSTREAMS: upstream.url, ...extra(redis) }, p));
  return {
    peers, upstream, proxies, redis,
    close: async () => {
      for (const p of proxies) await p.close();
      await peers.close();
      await upstream.close();
      await redis?.close();
    },
  };
}

test('websocket with Redis sessions: sign-out through the other replica cuts it, upstream side too; another session\'s websocket stays', async () => {
  const w = await world(2, (r) => ({ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: r!.url }), true);
  try {
    const [a, b] = w.proxies as [InProcess, InProcess];
    const one = await signIn(a);
    const two = await signIn(a);
    const ws1 = await openWs(a, one.cookie);
    const ws2 = await openWs(a, two.cookie);
    assert.equal(await within(ws1.closed, 300), false, 'open while the session lives');
    assert.equal((await one.browser.request(`${b.url}/oauth2/sign_out`)).status, 302);
    assert.ok(await within(ws1.closed, 3000), 'cut within 3 s of the sign-out on the other replica');
    for (let i = 0; i < 50 && w.upstream.closedUpstream() < 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(w.upstream.closedUpstream(), 1, 'the upstream connection is closed as well');
    assert.equal(await within(ws2.closed, 300), false, 'the other session\'s websocket is untouched');
    ws2.ws.close();
  } finally {
    await w.close();
  }
});

test('websocket with cookie sessions: sign-out, back-channel logout and expiry each cut it', async () => {
  const w = await world(1, () => ({ OAUTH2_PROXY_COOKIE_EXPIRE: '3s' }), false);
  try {
    const [a] = w.proxies as [InProcess];
    // Sign-out in the same process.
    const s1 = await signIn(a);
    const ws1 = await openWs(a, s1.cookie);
    await s1.browser.request(`${a.url}/oauth2/sign_out`);
    assert.ok(await within(ws1.closed, 1000), 'cut at sign-out');
    // Back-channel logout of the subject.
    const s2 = await signIn(a);
    const ws2 = await openWs(a, s2.cookie);
    const token = await w.peers.issuer.sign({ iss: w.peers.issuer.issuer, aud: 'portcullis-test', iat: Math.floor(Date.now() / 1000), jti: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sub: ALICE.sub });
    const res = await fetch(`${a.url}/oauth2/backchannel_logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` });
    assert.equal(res.status, 200);
    assert.ok(await within(ws2.closed, 1000), 'cut at back-channel logout');
    // Expiry: cookie_expire=3s.
    await new Promise((r) => setTimeout(r, 5));
    const s3 = await signIn(a);
    const opened = Date.now();
    const ws3 = await openWs(a, s3.cookie);
    assert.equal(await within(ws3.closed, 1500), false, 'open before the session expires');
    assert.ok(await within(ws3.closed, 3000), 'cut when the session expires');
    const lived = Date.now() - opened;
    assert.ok(lived >= 2000 && lived < 5000, `lived about cookie_expire (${lived} ms)`);
  } finally {
    await w.close();
  }
});

test('a refresh moves a websocket\'s end with its session\'s: open past the old expiry, on the replica that refreshed and on the other (Redis)', async () => {
  const w = await world(2, (r) => ({
    OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: r!.url,
    OAUTH2_PROXY_COOKIE_EXPIRE: '4s', OAUTH2_PROXY_COOKIE_REFRESH: '1s', OAUTH2_PROXY_PROMPT: 'consent',
  }), true);
  try {
    const [a, b] = w.proxies as [InProcess, InProcess];
    const s = await signIn(a);
    const signedIn = Date.now();
    const onA = await openWs(a, s.cookie);
    const onB = await openWs(b, s.cookie);
    await new Promise((r) => setTimeout(r, 1_500));
    await s.browser.request(`${a.url}/x`); // due: refreshed here, the session now ends 4 s from now
    assert.ok(a.logs.lines.some((l) => l.event === 'session_refreshed'), 'the session was refreshed');
    const untilOldExpiry = signedIn + 4_500 - Date.now();
    assert.equal(await within(onA.closed, untilOldExpiry), false, 'open past the old expiry, on the replica that refreshed');
    assert.equal(await within(onB.closed, 10), false, 'and on the other replica');
    assert.ok(await within(onA.closed, 3_000), 'cut at the new expiry');
    assert.ok(await within(onB.closed, 1_000), 'on both replicas');
  } finally {
    await w.close();
  }
});
