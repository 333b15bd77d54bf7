import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { HttpBrowser } from './support/browser.js';
import { makeCertificates, type TestCertificates } from './support/tls.js';
import { request } from './support/http.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { startStack, type Stack } from './support/stack.js';
import { ALICE } from './support/stack.js';

/** An https upstream on loopback with a certificate from a CA nobody trusts by default; echoes JSON, and websockets. */
function startHttpsEcho(certs: TestCertificates): Promise<{ url: string; close(): Promise<void> }> {
  const server = https.createServer({ key: readFileSync(certs.keyFile), cert: readFileSync(certs.certFile) }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ tls: true, url: req.url, headers: req.headers }));
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`tls:${String(m)}`)));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `https://127.0.0.1:${(server.address() as { port: number }).port}/`,
    close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.closeAllConnections(); server.close(() => r()); }),
  })));
}

async function signedIn(proxyUrl: string): Promise<string> {
  const b = new HttpBrowser();
  const r = await b.navigate(`${proxyUrl}/oauth2/start?rd=/`, { stopAt: (u) => u.pathname === '/' && u.origin === proxyUrl });
  assert.equal(r.status, 0, 'login ends with the redirect back to /');
  return b.cookieHeader(new URL(proxyUrl));
}

describe('https:// upstreams', () => {
  let certs: TestCertificates;
  let upstream: { url: string; close(): Promise<void> };
  let peers: Peers;
  let strict: InProcess;
  let insecure: InProcess;

  before(async () => {
    certs = makeCertificates(['127.0.0.1', 'localhost']);
    upstream = await startHttpsEcho(certs);
    const ports = [await freePort(), await freePort()];
    peers = await startPeers({ ports });
    const env = { ...peers.env, OAUTH2_PROXY_UPSTREAMS: upstream.url };
    strict = await startInProcess(env, ports[0]);
    insecure = await startInProcess({ ...env, OAUTH2_PROXY_SSL_UPSTREAM_INSECURE_SKIP_VERIFY: 'true' }, ports[1]);
  });
  after(async () => {
    await strict?.close();
    await insecure?.close();
    await peers?.close();
    await upstream?.close();
    certs?.remove();
  });

  test('a certificate from an unknown CA is refused by default: 502, with the TLS error in the log', async () => {
    const cookie = await signedIn(strict.url);
    const r = await request(`${strict.url}/x`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(r.status, 502);
    assert.equal(JSON.parse(r.text()).error, 'UPSTREAM_UNAVAILABLE');
    const line = strict.logs.lines.find((l) => l.event === 'upstream_error');
    assert.match(String(line?.code), /CERT|SIGNATURE|ISSUER/, JSON.stringify(line));
  });

  test('ssl_upstream_insecure_skip_verify=true forwards anyway, requests and websockets', async () => {
    const cookie = await signedIn(insecure.url);
    const r = await request(`${insecure.url}/over/tls?x=1`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.text()) as { tls: boolean; url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/over/tls?x=1');
    assert.equal(seen.headers['x-forwarded-user'], ALICE.sub);
    const ws = new WebSocket(`${insecure.url.replace('http', 'ws')}/ws`, { headers: { cookie } });
    const reply = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no websocket reply')), 5000);
      ws.once('open', () => ws.send('ping'));
      ws.once('message', (m) => { clearTimeout(timer); resolve(String(m)); });
      ws.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
    ws.close();
    assert.equal(reply, 'tls:ping');
  });
});

describe('https:// upstream signed by a private CA given in NODE_EXTRA_CA_CERTS', () => {
  let certs: TestCertificates;
  let upstream: { url: string; close(): Promise<void> };
  let stack: Stack;

  before(async () => {
    certs = makeCertificates(['127.0.0.1', 'localhost']);
    upstream = await startHttpsEcho(certs);
    // The same server under its name too: the certificate is for 127.0.0.1 and localhost, nothing else.
    const byName = `${upstream.url.replace('127.0.0.1', 'localhost')}named/`;
    stack = await startStack({ extraEnv: () => ({ OAUTH2_PROXY_UPSTREAMS: `${upstream.url},${byName}`, NODE_EXTRA_CA_CERTS: join(certs.dir, 'ca.crt') }) });
  });
  after(async () => {
    await stack?.close();
    await upstream?.close();
    certs?.remove();
  });

  test('the certificate is verified against the default roots plus that CA, and the request goes through', async () => {
    const cookie = await signedIn(stack.proxy.url);
    const r = await request(`${stack.proxy.url}/verified`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(r.status, 200, r.text());
    assert.equal((JSON.parse(r.text()) as { tls: boolean }).tls, true);
  });

  test('the certificate is checked against the upstream\'s name, not the Host the client sent (passed upstream)', async () => {
    const cookie = await signedIn(stack.proxy.url);
    const r = await request(`${stack.proxy.url}/named/x`, { headers: { cookie, accept: 'application/json', host: 'app.example.test' } });
    assert.equal(r.status, 200, `the client's Host must not become the TLS name the upstream is checked against: ${r.text().slice(0, 300)}`);
    const seen = JSON.parse(r.text()) as { tls: boolean; headers: Record<string, string> };
    assert.equal(seen.tls, true);
    assert.equal(seen.headers.host, 'app.example.test', 'pass_host_header still sends the client\'s Host');
  });
});
