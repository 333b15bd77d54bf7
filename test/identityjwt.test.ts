import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { ALICE } from './support/stack.js';

/** An upstream that keeps the headers of every request it gets. */
async function startRecorder(): Promise<{ url: string; host: string; last: () => http.IncomingHttpHeaders; close(): void }> {
  let last: http.IncomingHttpHeaders = {};
  const server = http.createServer((req, res) => { last = req.headers; res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, host: `127.0.0.1:${port}`, last: () => last, close: () => { server.closeAllConnections(); server.close(); } };
}

const pem = (kind: 'ec' | 'ed25519'): string => (kind === 'ec'
  ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

describe('identity JWT: signed for the upstream, verifiable with the proxy\'s JWKS', () => {
  let peers: Peers;
  let upstream: Awaited<ReturnType<typeof startRecorder>>;
  let proxy: InProcess;
  let cookie: string;
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-jwt-'));
  const oldKey = pem('ec');
  const newKey = pem('ed25519');
  const keyFile = join(dir, 'keys.pem');
  let env: Record<string, string>;

  before(async () => {
    peers = await startPeers();
    upstream = await startRecorder();
    writeFileSync(keyFile, oldKey);
    env = {
      ...peers.env, OAUTH2_PROXY_UPSTREAMS: upstream.url, OAUTH2_PROXY_PASS_IDENTITY_JWT: 'true',
      OAUTH2_PROXY_IDENTITY_JWT_HEADER: 'X-Forwarded-Identity-Jwt', OAUTH2_PROXY_IDENTITY_JWT_KEY_FILE: keyFile,
    };
    proxy = await startInProcess(env, peers.port);
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    cookie = b.cookieHeader(new URL(proxy.url));
  });
  after(async () => { await proxy?.close(); upstream?.close(); await peers?.close(); });

  test('the upstream verifies the JWT against the JWKS: issuer, audience, claims, kid = RFC 7638 thumbprint', async () => {
    const res = await new HttpBrowser().request(`${proxy.url}/page`, { headers: { cookie, 'x-forwarded-identity-jwt': 'forged.by.client' } });
    assert.equal(res.status, 200);
    const jwt = String(upstream.last()['x-forwarded-identity-jwt']);
    assert.notEqual(jwt, 'forged.by.client');
    const jwksRes = await fetch(`${proxy.url}/oauth2/jwks.json`);
    assert.equal(jwksRes.status, 200);
    assert.match(jwksRes.headers.get('cache-control') ?? '', /max-age=\d+/);
    const jwks = (await jwksRes.json()) as { keys: JWK[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.d, undefined, 'no private part is published');
    const { payload, protectedHeader } = await jwtVerify(jwt, createRemoteJWKSet(new URL(`${proxy.url}/oauth2/jwks.json`)), {
      issuer: proxy.url, audience: upstream.host, algorithms: ['ES256'],
    });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(protectedHeader.kid, await calculateJwkThumbprint(jwks.keys[0]!));
    assert.equal(payload.sub, ALICE.sub);
    assert.equal(payload.email, ALICE.email);
    assert.deepEqual(payload.groups, ALICE.groups);
    assert.equal(payload.preferred_username, 'alice');
    assert.equal(typeof payload.sid, 'string');
    assert.equal(payload.exp! - payload.iat!, 60);
    assert.equal(payload.nbf, payload.iat);
    assert.match(String(payload.jti), /^[A-Za-z0-9_-]{20,}$/);
  });

  test('the token is signed once per session and reused while it has most of its life left', async () => {
    await new HttpBrowser().request(`${proxy.url}/a`, { headers: { cookie } });
    const first = upstream.last()['x-forwarded-identity-jwt'];
    await new HttpBrowser().request(`${proxy.url}/b`, { headers: { cookie } });
    assert.equal(upstream.last()['x-forwarded-identity-jwt'], first);
  });

  test('key rotation: with the new key first and the old one still listed, old and new tokens both verify', async () => {
    await new HttpBrowser().request(`${proxy.url}/before`, { headers: { cookie } });
    const oldJwt = String(upstream.last()['x-forwarded-identity-jwt']);
    await proxy.close();
    writeFileSync(keyFile, `${newKey}\n${oldKey}`);
    proxy = await startInProcess(env, peers.port);
    await new HttpBrowser().request(`${proxy.url}/after`, { headers: { cookie } });
    const newJwt = String(upstream.last()['x-forwarded-identity-jwt']);
    const jwks = (await (await fetch(`${proxy.url}/oauth2/jwks.json`)).json()) as { keys: JWK[] };
    assert.deepEqual(jwks.keys.map((k) => k.alg), ['EdDSA', 'ES256']);
    const keySet = createLocalJWKSet(jwks as never);
    assert.equal(decodeProtectedHeader(newJwt).alg, 'EdDSA');
    await jwtVerify(newJwt, keySet, { issuer: proxy.url, audience: upstream.host });
    await jwtVerify(oldJwt, keySet, { issuer: proxy.url, audience: upstream.host });
  });

  test('a forged signature and a JWT for another audience are refused by the upstream\'s check', async () => {
    await new HttpBrowser().request(`${proxy.url}/x`, { headers: { cookie } });
    const jwt = String(upstream.last()['x-forwarded-identity-jwt']);
    const keySet = createRemoteJWKSet(new URL(`${proxy.url}/oauth2/jwks.json`));
    const [h, p, s] = jwt.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'mallory' })).toString('base64url')}.${s}`;
    await assert.rejects(jwtVerify(tampered, keySet));
    await assert.rejects(jwtVerify(jwt, keySet, { audience: 'other.example:443' }));
  });
});

describe('identity JWT in Authorization, with a key made at start-up', () => {
  let peers: Peers;
  let upstream: Awaited<ReturnType<typeof startRecorder>>;
  let proxy: InProcess;
  before(async () => {
    peers = await startPeers();
    upstream = await startRecorder();
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_UPSTREAMS: upstream.url, OAUTH2_PROXY_PASS_IDENTITY_JWT: 'true', OAUTH2_PROXY_IDENTITY_JWT_AUDIENCE: 'my-app' }, peers.port);
  });
  after(async () => { await proxy?.close(); upstream?.close(); await peers?.close(); });

  test('Authorization: Bearer <jwt> replaces the client\'s, aud is the configured one, and the log says the key is not shared', async () => {
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    await b.request(`${proxy.url}/y`, { headers: { authorization: 'Bearer client-token' } });
    const auth = String(upstream.last().authorization);
    assert.match(auth, /^Bearer ey/);
    const { payload } = await jwtVerify(auth.slice(7), createRemoteJWKSet(new URL(`${proxy.url}/oauth2/jwks.json`)), { audience: 'my-app' });
    assert.equal(payload.sub, ALICE.sub);
    assert.ok(proxy.logs.lines.some((l) => l.event === 'identity_jwt_key_generated'));
  });
});
