import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpBrowser } from './support/browser.js';
import { freePort } from './support/proxy.js';
import { ALICE, startStack, waitReady, type Echoed } from './support/stack.js';

const JSON_ACCEPT = { accept: 'application/json' };

test('issuer down at start-up: /ping 200, /ready 503, a clear 503 page; it comes back and login works', async () => {
  const stack = await startStack({ issuerDownAtStart: true });
  try {
    const { proxy } = stack;
    assert.equal((await fetch(`${proxy.url}/ping`)).status, 200);
    assert.equal((await fetch(`${proxy.url}/ready`)).status, 503);
    const b = new HttpBrowser();
    const start = await b.request(`${proxy.url}/oauth2/start`);
    assert.equal(start.status, 503);
    assert.match(start.body, /cannot be reached/);
    const anon = await b.request(`${proxy.url}/app`);
    assert.equal(anon.status, 302, 'an anonymous visitor is still sent to the sign-in page');
    await proxy.waitForLog((l) => l.msg === 'issuer discovery failed; retrying');
    await stack.issuer.start();
    await waitReady(proxy.url, 20_000);
    const done = await b.navigate(`${proxy.url}/oauth2/start?rd=/back`);
    assert.equal(done.status, 200);
    assert.equal(done.url, `${proxy.url}/back`);
    assert.ok(proxy.alive());
  } finally {
    await stack.close();
  }
});

test('issuer down between the redirect and the callback: a 503 page, and the proxy keeps serving', async () => {
  const stack = await startStack();
  try {
    const b = new HttpBrowser();
    const atCallback = await b.navigate(`${stack.proxy.url}/oauth2/start`, { stopAt: (u) => u.pathname === '/oauth2/callback' });
    await stack.issuer.stop();
    const res = await b.request(atCallback.url);
    assert.equal(res.status, 503);
    assert.match(res.body, /ISSUER_UNAVAILABLE/);
    assert.equal((await fetch(`${stack.proxy.url}/ping`)).status, 200);
    await stack.issuer.start();
  } finally {
    await stack.close();
  }
});

test('upstream down: a 502 page after login, and the proxy keeps serving', async () => {
  const deadPort = await freePort();
  const stack = await startStack({
    extraEnv: () => ({
      OAUTH2_PROXY_UPSTREAMS: `http://127.0.0.1:${deadPort}/`,
    }),
  });
  try {
    const b = new HttpBrowser();
    const res = await b.navigate(`${stack.proxy.url}/oauth2/start?rd=/app`);
    assert.equal(res.status, 502);
    assert.match(res.body, /not answering/);
    const api = await b.request(`${stack.proxy.url}/app`, { headers: JSON_ACCEPT });
    assert.equal(api.status, 502);
    assert.equal(JSON.parse(api.body).error, 'UPSTREAM_UNAVAILABLE');
    assert.ok(stack.proxy.alive());
  } finally {
    await stack.close();
  }
});

test('an email the issuer marks unverified is refused; the insecure flag lets it in', async () => {
  const bob = { ...ALICE, sub: 'bob-0002', email: 'bob@example.com', email_verified: false, preferred_username: 'bob' };
  const strict = await startStack({ accounts: [bob] });
  try {
    const res = await new HttpBrowser().navigate(`${strict.proxy.url}/oauth2/start`);
    assert.equal(res.status, 403);
    assert.match(res.body, /not verified/);
  } finally {
    await strict.close();
  }
  const lax = await startStack({
    accounts: [bob],
    extraEnv: () => ({
      OAUTH2_PROXY_INSECURE_OIDC_ALLOW_UNVERIFIED_EMAIL: 'true',
    }),
  });
  try {
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${lax.proxy.url}/oauth2/start`)).status, 200);
    const e = JSON.parse((await b.request(`${lax.proxy.url}/`, { headers: JSON_ACCEPT })).body) as Echoed;
    assert.equal(e.headers['x-forwarded-email'], 'bob@example.com');
  } finally {
    await lax.close();
  }
});

test('email_domains: only the listed domains get in', async () => {
  const stack = await startStack({
    extraEnv: () => ({
      OAUTH2_PROXY_EMAIL_DOMAINS: 'corp.example,other.example',
    }),
  });
  try {
    const b = new HttpBrowser();
    const res = await b.navigate(`${stack.proxy.url}/oauth2/start`);
    assert.equal(res.status, 403);
    assert.match(res.body, /EMAIL_NOT_ALLOWED/);
    assert.equal(b.cookies().get('_oauth2_proxy'), undefined);
  } finally {
    await stack.close();
  }
});

test('a large session (access token, many groups) is chunked into _0, _1, … and still works', async () => {
  const many = Array.from({ length: 150 }, (_, i) => `team-with-a-rather-long-group-name-${i}`);
  const stack = await startStack({
    accounts: [{ ...ALICE, groups: many }],
    extraEnv: () => ({
      OAUTH2_PROXY_SCOPE: 'openid email profile groups',
      OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true',
    }),
  });
  try {
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${stack.proxy.url}/oauth2/start`)).status, 200);
    const names = [...b.cookies().keys()].filter((n) => n.startsWith('_oauth2_proxy'));
    assert.ok(names.includes('_oauth2_proxy_0') && names.includes('_oauth2_proxy_1'), `chunks: ${names.join(',')}`);
    assert.ok(!names.includes('_oauth2_proxy'));
    for (const n of names) assert.ok(b.cookies().get(n)!.length <= 3800);
    const e = JSON.parse((await b.request(`${stack.proxy.url}/`, { headers: JSON_ACCEPT })).body) as Echoed;
    assert.equal(e.headers['x-forwarded-groups'], many.join(','));
    assert.ok(String(e.headers['x-forwarded-access-token']).length > 10, 'pass_access_token forwards the token');
    assert.ok(!String(e.headers.cookie ?? '').includes('_oauth2_proxy'), 'no chunk reaches the upstream');
    // Signing out clears every chunk.
    await b.request(`${stack.proxy.url}/oauth2/sign_out`);
    assert.deepEqual([...b.cookies().keys()].filter((n) => n.startsWith('_oauth2_proxy_')), []);
  } finally {
    await stack.close();
  }
});

test('malformed requests get a 4xx and the proxy keeps serving', async () => {
  const stack = await startStack();
  try {
    const { connect } = await import('node:net');
    const raw = (payload: string): Promise<string> => new Promise((resolve, reject) => {
      const s = connect(stack.proxy.port, '127.0.0.1', () => s.write(payload));
      let out = '';
      s.on('data', (d) => { out += d.toString(); });
      s.on('close', () => resolve(out));
      s.on('error', reject);
      s.setTimeout(5000, () => s.destroy());
    });
    assert.match(await raw('GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.match(await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1.1 4\d\d/);
    assert.match(await raw('GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.match(await raw('GET /oauth2/callback?state=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.match(await raw('GET /anything/../secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.match(await raw('GET /anything/%2E%2e/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.equal((await fetch(`${stack.proxy.url}/ping`)).status, 200);
    assert.ok(stack.proxy.alive());
  } finally {
    await stack.close();
  }
});

test('SIGTERM drains: a request in flight finishes, then the process exits 0', async () => {
  const http = await import('node:http');
  const slow = http.createServer((_req, res) => { setTimeout(() => res.end('slow but complete'), 800); });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const slowUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}/`;
  const stack = await startStack({
    extraEnv: () => ({
      OAUTH2_PROXY_UPSTREAMS: slowUrl,
    }),
  });
  try {
    const b = new HttpBrowser();
    await b.navigate(`${stack.proxy.url}/oauth2/start`);
    assert.ok(b.cookies().get('_oauth2_proxy'), 'signed in');
    const inFlight = b.request(`${stack.proxy.url}/work`, { headers: JSON_ACCEPT });
    await new Promise((r) => setTimeout(r, 200));
    const exited = stack.proxy.stop('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.body, 'slow but complete');
    assert.equal(await exited, 0);
    await stack.proxy.waitForLog((l) => l.msg === 'stopped');
  } finally {
    await stack.close();
    slow.closeAllConnections();
    slow.close();
  }
});

test('`portcullis healthcheck` (the image HEALTHCHECK) exits 0 against a live proxy and 1 against a dead port', async () => {
  const { spawnSync } = await import('node:child_process');
  const { BIN } = await import('./support/proxy.js');
  const stack = await startStack();
  try {
    const check = (address: string) => spawnSync(process.execPath, [BIN, 'healthcheck'], {
      env: { PATH: process.env.PATH, OAUTH2_PROXY_HTTP_ADDRESS: address }, encoding: 'utf8', timeout: 10_000,
    });
    const live = check(`0.0.0.0:${stack.proxy.port}`);
    assert.equal(live.status, 0, live.stderr);
    const dead = check(`127.0.0.1:${await freePort()}`);
    assert.equal(dead.status, 1);
    assert.match(dead.stderr, /healthcheck: GET \/ping: connect ECONNREFUSED/);
  } finally {
    await stack.close();
  }
});
