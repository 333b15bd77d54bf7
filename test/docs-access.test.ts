// The blocks of docs/access.md, docs/identity-jwt.md, docs/pages.md and docs/upstreams.md, run as
// written against the real issuer (oidc-provider). An environment block is read by bash itself (its
// KEY=VALUE lines run with `set -a`, so quotes, spaces and `# comments` mean what a shell makes of
// them); the proxy then starts with exactly those variables plus what it needs to reach the test's
// issuer (issuer URL, client id and secret, a cookie secret, cookie_secure=false for plain http on
// loopback, and an upstream or email_domains=* where the block sets none), and the test shows the
// behaviour the page promises beside the block. Only hosts, ports and file paths are substituted;
// each test names what it replaces.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, decodeJwt, exportJWK, type JWK } from 'jose';
import { startDevIssuer, type DevAccount, type DevIssuer } from '../src/devissuer/issuer.js';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { rawRequest, request } from './support/http.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort, REPO } from './support/proxy.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET, type Echoed, waitReady } from './support/stack.js';
import { makeCertificates } from './support/tls.js';

const JSON_ACCEPT = { accept: 'application/json' };
const HTML_ACCEPT = { accept: 'text/html,application/xhtml+xml' };
const dir = mkdtempSync(join(tmpdir(), 'portcullis-docs-access-'));
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The variables an environment block sets, as bash reads it: its `NAME=…` lines (a `\` continues a
 * line) run with `set -ae`, then each name's value printed. A line a shell would misread (an
 * unquoted space runs the rest as a command) fails here as it would for the reader.
 */
function shellEnv(block: string): Record<string, string> {
  const lines = block.replace(/\\\n/g, ' ').split('\n').filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l));
  const names = [...new Set(lines.map((l) => /^([A-Z_][A-Z0-9_]*)=/.exec(l)![1]!))];
  assert.ok(names.length > 0, `no NAME=value line in:\n${block}`);
  const script = `set -ae\n${lines.join('\n')}\nfor n in ${names.join(' ')}; do printf '%s\\0%s\\0' "$n" "\${!n}"; done`;
  const r = spawnSync('bash', ['--noprofile', '--norc', '-c', script], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `bash could not read the block:\n${block}\n${r.stderr}`);
  assert.equal(r.stderr, '', `bash complained about the block:\n${block}\n${r.stderr}`);
  const parts = r.stdout.split('\0');
  const env: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length; i += 2) env[parts[i]!] = parts[i + 1]!;
  return env;
}

/** What a proxy needs to reach the test's issuer beside a block's variables (see the top of the file). */
function reach(peers: Peers): Record<string, string> {
  const { OAUTH2_PROXY_OIDC_ISSUER_URL, OAUTH2_PROXY_CLIENT_ID, OAUTH2_PROXY_CLIENT_SECRET, OAUTH2_PROXY_COOKIE_SECRET, OAUTH2_PROXY_COOKIE_SECURE } = peers.env as Record<string, string>;
  return { OAUTH2_PROXY_OIDC_ISSUER_URL: OAUTH2_PROXY_OIDC_ISSUER_URL!, OAUTH2_PROXY_CLIENT_ID: OAUTH2_PROXY_CLIENT_ID!, OAUTH2_PROXY_CLIENT_SECRET: OAUTH2_PROXY_CLIENT_SECRET!, OAUTH2_PROXY_COOKIE_SECRET: OAUTH2_PROXY_COOKIE_SECRET!, OAUTH2_PROXY_COOKIE_SECURE: OAUTH2_PROXY_COOKIE_SECURE! };
}

async function peersFor(o: Parameters<typeof startPeers>[0] = {}): Promise<Peers> {
  const p = await startPeers(o);
  cleanups.push(() => p.close());
  return p;
}

async function proxyWith(env: Record<string, string>, port: number): Promise<InProcess> {
  const p = await startInProcess(env, port);
  cleanups.push(() => p.close());
  return p;
}

/** Signs `account` in through the proxy like a browser; returns the browser and where the login ended. */
async function login(issuer: DevIssuer, proxyUrl: string, sub: string, rd = '/'): Promise<{ b: HttpBrowser; status: number; body: string }> {
  issuer.loginAs(sub);
  const b = new HttpBrowser();
  const res = await b.navigate(`${proxyUrl}/oauth2/start?rd=${encodeURIComponent(rd)}`);
  return { b, status: res.status, body: res.body };
}

/**
 * Runs a page's shell command with bash in the repository (so `npx portcullis` is this checkout's
 * bin), the rest of the configuration in `env`, and waits until the proxy listens. npx runs the bin
 * in a child of its own: the whole process group this test started is stopped at the end.
 */
async function startShellProxy(command: string, env: Record<string, string>): Promise<() => string> {
  const child = spawn('bash', ['--noprofile', '--norc', '-c', command], {
    cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, NODE_ENV: 'production', ...env },
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  cleanups.push(async () => { try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ } await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]); });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not listening within 30 s:\n${output}`)), 30_000);
    const seen = (c: Buffer): void => { output = (output + c.toString()).slice(-20_000); if (output.includes('portcullis listening')) { clearTimeout(timer); resolve(); } };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    child.once('exit', () => { clearTimeout(timer); reject(new Error(`exited:\n${output}`)); });
  });
  // Listening is not ready: a login before discovery has finished gets 503 (seen once in a full run).
  await waitReady(`http://${env.OAUTH2_PROXY_HTTP_ADDRESS!}`);
  return () => output;
}

const run = promisify(execFile);
const echoed = (body: string): Echoed => JSON.parse(body) as Echoed;

describe('docs/access.md: who may enter (email_domains, authenticated_emails_file, allowed_groups)', () => {
  const PAT: DevAccount = { sub: 'pat-1', email: 'pat@eng.partner.example', email_verified: true, groups: ['Domain Admins'] };
  const BARE: DevAccount = { sub: 'bare-1', email: 'bare@partner.example', email_verified: true, groups: ['admins'] };
  const LEE: DevAccount = { sub: 'lee-1', email: 'lee@listed.example', email_verified: true, groups: ['admins'] };
  const DOM: DevAccount = { sub: 'dom-1', email: 'dom@example.com', email_verified: true, groups: ['Domain', 'Admins'] };
  let peers: Peers;
  let proxy: InProcess;
  before(async () => {
    peers = await peersFor({ accounts: [ALICE, PAT, BARE, LEE, DOM] });
    // Substituted: the emails file's path (/etc/portcullis/emails.txt) by a file of the test's.
    const emails = join(dir, 'emails.txt');
    writeFileSync(emails, '# partners let in by name\nlee@listed.example\n');
    const env = shellEnv(docBlock('access-who', 'sh').replace('/etc/portcullis/emails.txt', emails));
    // No scope is added: the page promises that allowed_groups asks for the groups scope by itself
    // (the dev issuer releases groups only for it).
    proxy = await proxyWith({ ...reach(peers), OAUTH2_PROXY_UPSTREAMS: peers.upstreamUrl, ...env }, peers.port);
  });

  test('the block reads as the page says: two domains, the file, and two groups, one with a space', () => {
    const env = shellEnv(docBlock('access-who', 'sh'));
    assert.deepEqual(env, {
      OAUTH2_PROXY_EMAIL_DOMAINS: 'example.com,.partner.example',
      OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE: '/etc/portcullis/emails.txt',
      OAUTH2_PROXY_ALLOWED_GROUPS: 'admins,Domain Admins',
    });
  });

  test('a domain, a subdomain of .partner.example and a listed address get in with an allowed group; the bare partner domain and "Domain" do not', async () => {
    for (const [who, expected] of [[ALICE, 200], [PAT, 200], [LEE, 200], [BARE, 'EMAIL_NOT_ALLOWED'], [DOM, 'GROUP_NOT_ALLOWED']] as const) {
      const r = await login(peers.issuer, proxy.url, who.sub);
      if (expected === 200) {
        assert.equal(r.status, 200, `${who.email}: ${r.body.slice(0, 300)}`);
        const seen = echoed((await r.b.request(`${proxy.url}/x`, { headers: JSON_ACCEPT })).body);
        assert.equal(seen.headers['x-forwarded-email'], who.email);
        assert.equal(seen.headers['x-forwarded-groups'], who.groups!.join(','), 'groups came with the groups scope asked for by default');
      } else {
        assert.equal(r.status, 403, `${who.email} is refused`);
        assert.match(r.body, new RegExp(expected));
        assert.match(r.body, new RegExp(who.email.replace(/\./g, '\\.')), 'the page says who is signed in');
      }
    }
  });
});

describe('docs/access.md: routes without login, and API routes', () => {
  let peers: Peers;
  let proxy: InProcess;
  before(async () => {
    peers = await peersFor();
    const env = shellEnv(docBlock('access-skip-routes', 'sh'));
    proxy = await proxyWith({ ...reach(peers), OAUTH2_PROXY_UPSTREAMS: peers.upstreamUrl, OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...env }, peers.port);
  });

  test('GET under /public/ and /healthz need no login (client identity headers still stripped); other methods and paths do', async () => {
    const get = (path: string, method = 'GET', headers: Record<string, string> = {}) => request(`${proxy.url}${path}`, { method, headers: { ...HTML_ACCEPT, ...headers } });
    const open = await get('/public/page', 'GET', { 'x-forwarded-user': 'mallory', 'x-forwarded-email': 'mallory@example.com' });
    assert.equal(open.status, 200);
    assert.doesNotMatch(open.text(), /mallory/, 'the client\'s copies of the identity headers are removed');
    assert.equal((await get('/%70ublic/page')).status, 200, 'the regex sees the decoded path');
    assert.equal((await get('/healthz')).status, 200);
    for (const [path, method] of [['/public/page', 'POST'], ['/healthz/more', 'GET'], ['/private', 'GET'], ['/public/a;b', 'GET']] as const) {
      const r = await get(path, method);
      assert.ok(r.status === 302 || r.status === 401, `${method} ${path} needs a login, got ${r.status}`);
    }
    assert.equal((await get('/private')).headers.location, '/oauth2/sign_in?rd=%2Fprivate');
  });

  test('every OPTIONS request passes (skip_auth_preflight); /api/ gets 401, never a redirect, even from a browser', async () => {
    assert.equal((await request(`${proxy.url}/anything`, { method: 'OPTIONS' })).status, 200);
    const api = await request(`${proxy.url}/api/things`, { headers: HTML_ACCEPT });
    assert.equal(api.status, 401);
    assert.equal(api.headers.location, undefined);
    assert.match(api.text(), /UNAUTHENTICATED/);
  });

  test('a signed-in user on a skipped route is forwarded with their identity', async () => {
    const { b, status } = await login(peers.issuer, proxy.url, ALICE.sub);
    assert.equal(status, 200);
    const seen = echoed((await b.request(`${proxy.url}/public/page`, { headers: JSON_ACCEPT })).body);
    assert.equal(seen.headers['x-forwarded-email'], ALICE.email);
  });
});

describe('docs/access.md: API clients with bearer tokens', () => {
  let peers: Peers;
  let partner: DevIssuer;
  let proxy: InProcess;
  let idToken: string;
  let block: string;
  before(async () => {
    const ports = [await freePort(), await freePort()];
    peers = await peersFor({ ports, issuerOptions: { claimsInIdToken: true } });
    partner = await startDevIssuer({ shape: 'hydra', clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: ['http://127.0.0.1:1/cb'] }], jwtAccessTokens: {} });
    cleanups.push(() => partner.stop());
    block = docBlock('access-bearer', 'sh');
    // Substituted: the partner issuer https://login.partner.example/ by a second real issuer (plain http on loopback).
    const env = shellEnv(block.replace('https://login.partner.example/', partner.issuer));
    proxy = await proxyWith({ ...reach(peers), OAUTH2_PROXY_UPSTREAMS: peers.upstreamUrl, OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...env }, ports[0]!);
    // The ID token of a real login, taken from a second proxy that hands it upstream (pass_authorization_header).
    const taker = await proxyWith({ ...peers.env, OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER: 'true' }, ports[1]!);
    const { b, status } = await login(peers.issuer, taker.url, ALICE.sub);
    assert.equal(status, 200);
    idToken = String(echoed((await b.request(`${taker.url}/x`, { headers: JSON_ACCEPT })).body).headers.authorization).replace(/^Bearer /, '');
    assert.equal(decodeJwt(idToken).aud, CLIENT_ID);
  });

  /** The block's curl line, run by bash with ID_TOKEN set; https://app.example.com is the test's proxy. */
  async function curl(token: string): Promise<string> {
    const line = block.split('\n').find((l) => l.startsWith('curl '))!;
    return (await run('bash', ['--noprofile', '--norc', '-c', line.replace('https://app.example.com', proxy.url)], { env: { PATH: process.env.PATH ?? '', ID_TOKEN: token }, timeout: 10_000 })).stdout;
  }

  test('curl with the ID token of a login gets in without a cookie, as the user', async () => {
    const seen = echoed(await curl(idToken));
    assert.equal(seen.url, '/api/things');
    assert.equal(seen.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(seen.headers['x-forwarded-email'], ALICE.email);
  });

  test('an access token of the extra issuer for api://portcullis gets in; one for another audience does not', async () => {
    const token = async (resource: string): Promise<string> => {
      const res = await fetch(partner.endpoints.token, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope: 'api' }),
      });
      const body = await res.json() as { access_token?: string };
      assert.equal(res.status, 200, JSON.stringify(body));
      return body.access_token!;
    };
    assert.equal(echoed(await curl(await token('api://portcullis'))).headers['x-forwarded-user'], CLIENT_ID);
    assert.match(await curl(await token('api://elsewhere')), /BEARER_TOKEN_INVALID/);
  });

  test('with bearer_token_login_fallback=false a bad token is 401 BEARER_TOKEN_INVALID with the Bearer challenge, not the sign-in page', async () => {
    const [h, p, s] = idToken.split('.') as [string, string, string];
    const tampered = `${h}.${p}.${s.slice(0, -4)}${s.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    assert.match(await curl(tampered), /BEARER_TOKEN_INVALID/);
    const r = await request(`${proxy.url}/api/things`, { headers: { ...HTML_ACCEPT, authorization: `Bearer ${tampered}` } });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer error="invalid_token"');
    assert.ok(proxy.logs.lines.some((l) => l.event === 'bearer_token_refused'));
    assert.ok(!proxy.logs.lines.some((l) => JSON.stringify(l).includes(tampered)), 'the token is never logged');
  });
});

describe('docs/access.md: where the user may be sent (whitelist_domains)', () => {
  let peers: Peers;
  let proxy: InProcess;
  before(async () => {
    peers = await peersFor();
    const env = shellEnv(docBlock('access-whitelist', 'sh'));
    proxy = await proxyWith({ ...reach(peers), OAUTH2_PROXY_UPSTREAMS: peers.upstreamUrl, OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...env }, peers.port);
  });

  test('the sign-out rd: listed hosts and ports pass, everything else ends on the signed-out page', async () => {
    const refused = '/oauth2/sign_in?signed_out=1';
    const cases: Array<[string, string]> = [
      ['https://example.com/bye', 'https://example.com/bye'],
      ['https://app.example.com/bye', 'https://app.example.com/bye'],
      ['https://app.example.com:8443/', refused],
      ['https://admin.example.net:8443/', 'https://admin.example.net:8443/'],
      ['https://admin.example.net/', refused],
      ['https://sub.admin.example.net:8443/', refused],
      ['https://x.dev.example:9000/', 'https://x.dev.example:9000/'],
      ['https://dev.example/', 'https://dev.example/'],
      ['https://app.example.com@evil.example/', refused],
      ['https://app.example.com.evil.example/', refused],
      ['//app.example.com/', refused],
      ['/local', '/local'],
    ];
    for (const [rd, expected] of cases) {
      const res = await request(`${proxy.url}/oauth2/sign_out?rd=${encodeURIComponent(rd)}`);
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, expected, `rd=${rd}`);
    }
  });

  test('after a real login the browser lands on an allowed absolute rd, and on / for another', async () => {
    for (const [rd, expected] of [['https://app.example.com/after?x=1', 'https://app.example.com/after?x=1'], ['https://evil.example/', `${proxy.url}/`]]) {
      peers.issuer.loginAs(ALICE.sub);
      const res = await new HttpBrowser().navigate(`${proxy.url}/oauth2/start?rd=${encodeURIComponent(rd!)}`, { stopAt: (u) => u.port !== String(peers.port) && u.port !== String(peers.issuer.port) });
      assert.equal(res.url, new URL(expected!).href, `rd=${rd}`);
    }
  });
});

describe('docs/access.md: a rules file beside email_domains, and the step-up challenge', () => {
  const BOB: DevAccount = { sub: 'bob-1', email: 'bob@example.com', email_verified: true, groups: ['devs'] };
  const CAROL: DevAccount = { sub: 'carol-1', email: 'carol@other.org', email_verified: true, groups: ['admins'] };
  let peers: Peers;
  let proxy: InProcess;
  let stepUp: InProcess;
  before(async () => {
    const ports = [await freePort(), await freePort()];
    peers = await peersFor({ ports, accounts: [ALICE, BOB, CAROL] });
    // Substituted: /etc/portcullis/routes.yaml by a file holding the page's routes-example block.
    const routes = join(dir, 'routes.yaml');
    writeFileSync(routes, docBlock('routes-example', 'yaml'));
    const env = shellEnv(docBlock('routes-env', 'sh').replace('/etc/portcullis/routes.yaml', routes));
    proxy = await proxyWith({ ...reach(peers), OAUTH2_PROXY_UPSTREAMS: peers.upstreamUrl, OAUTH2_PROXY_SCOPE: 'openid email profile groups', ...env }, ports[0]!);
    const fields = join(dir, 'routes-fields.yaml');
    writeFileSync(fields, docBlock('routes-fields', 'yaml'));
    stepUp = await proxyWith({ ...peers.env, OAUTH2_PROXY_ROUTES_FILE: fields }, ports[1]!);
  });

  test('/admin for admins, the rest for everyone signed in, and email_domains on every route', async () => {
    const alice = await login(peers.issuer, proxy.url, ALICE.sub, '/admin');
    assert.equal(alice.status, 200);
    const bob = await login(peers.issuer, proxy.url, BOB.sub);
    assert.equal(bob.status, 200);
    assert.equal((await alice.b.request(`${proxy.url}/admin/users`, { headers: JSON_ACCEPT })).status, 200);
    const denied = await bob.b.request(`${proxy.url}/admin/users`, { headers: JSON_ACCEPT });
    assert.equal(denied.status, 403);
    assert.equal(JSON.parse(denied.body).error, 'ROUTE_NOT_ALLOWED');
    assert.equal((await bob.b.request(`${proxy.url}/reports`, { headers: JSON_ACCEPT })).status, 200);
    const carol = await login(peers.issuer, proxy.url, CAROL.sub, '/admin');
    assert.equal(carol.status, 403, 'an admin from another domain is refused: the global rules still hold');
    assert.match(carol.body, /EMAIL_NOT_ALLOWED/);
  });

  test('an API client whose sign-in falls short of a step-up rule gets the page\'s 401 and challenge', async () => {
    const [statusLine, header] = docBlock('stepup-challenge', 'text').trim().split('\n').map((l) => l.trim()) as [string, string];
    const { b, status } = await login(peers.issuer, stepUp.url, ALICE.sub);
    assert.equal(status, 200);
    const r = await rawRequest(stepUp.url, '/admin', { ...JSON_ACCEPT, cookie: b.cookieHeader(new URL(stepUp.url)) });
    assert.equal(r.text.split('\r\n')[0], statusLine);
    const [name, value] = [header.slice(0, header.indexOf(':')), header.slice(header.indexOf(':') + 2)];
    const got = r.text.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    assert.equal(got?.slice(name.length + 2), value, r.text);
    assert.match(r.text, /STEP_UP_REQUIRED/);
  });
});

describe('docs/identity-jwt.md: the key made with openssl, and the app\'s check with jose', () => {
  let peers: Peers;
  let proxy: InProcess;
  let last: http.IncomingHttpHeaders = {};
  let upstreamHost: string;
  let keyFile: string;
  before(async () => {
    peers = await peersFor();
    const upstream = http.createServer((req, res) => { last = req.headers; res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'); });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanups.push(() => { upstream.closeAllConnections(); upstream.close(); });
    upstreamHost = `127.0.0.1:${(upstream.address() as { port: number }).port}`;
    const block = docBlock('identity-jwt-env', 'sh');
    // The commented openssl line, run as written in a folder of the test's.
    const keys = join(dir, 'keys');
    mkdirSync(keys);
    const openssl = /^# (openssl .*)$/m.exec(block)![1]!;
    execFileSync('bash', ['--noprofile', '--norc', '-c', openssl], { cwd: keys, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
    keyFile = join(keys, 'identity-jwt.pem');
    // Substituted: the key file's path (/run/secrets/identity-jwt.pem) by the file openssl wrote.
    const env = shellEnv(block.replace('/run/secrets/identity-jwt.pem', keyFile));
    proxy = await proxyWith({ ...reach(peers), OAUTH2_PROXY_UPSTREAMS: `http://${upstreamHost}/`, OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_SCOPE: 'openid email profile groups', ...env }, peers.port);
  });

  /**
   * Runs the page's js block in its own node process, as an ES module beside node_modules (so
   * `jose` resolves), with `req` holding the headers the upstream got. Substituted: the proxy's
   * origin https://app.example.com and the upstream's host:port app-backend:8080.
   */
  async function verifyInApp(headers: http.IncomingHttpHeaders): Promise<{ status: number | null; out: string; err: string }> {
    const snippet = docBlock('identity-jwt-verify', 'js').replaceAll('https://app.example.com', proxy.url).replaceAll('app-backend:8080', upstreamHost);
    const file = join(REPO, 'dist', `identity-jwt-snippet-${process.pid}.mjs`);
    writeFileSync(file, `const req = { headers: JSON.parse(process.env.HEADERS) };\n${snippet}\nconsole.log(JSON.stringify(payload));\n`);
    cleanups.push(() => rmSync(file, { force: true }));
    // Asynchronously: the proxy answering the JWKS request runs in this process.
    try {
      const r = await run(process.execPath, [file], { env: { PATH: process.env.PATH ?? '', HEADERS: JSON.stringify(headers) }, timeout: 20_000 });
      return { status: 0, out: r.stdout, err: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { status: typeof e.code === 'number' ? e.code : null, out: e.stdout ?? '', err: e.stderr ?? String(err) };
    }
  }

  test('the proxy signs with the openssl key, and the app\'s snippet verifies the JWT it forwards', async () => {
    const { b, status } = await login(peers.issuer, proxy.url, ALICE.sub);
    assert.equal(status, 200);
    await b.request(`${proxy.url}/page`, { headers: { 'x-forwarded-identity-jwt': 'forged.by.client' } });
    const jwt = String(last['x-forwarded-identity-jwt']);
    assert.notEqual(jwt, 'forged.by.client');
    assert.equal(last.authorization, undefined, 'the header named by the block, not Authorization');
    const jwks = await (await fetch(`${proxy.url}/oauth2/jwks.json`)).json() as { keys: JWK[] };
    const fromOpenssl = await exportJWK(createPublicKey(createPrivateKey(readFileSync(keyFile))));
    assert.deepEqual(jwks.keys.map((k) => k.kid), [await calculateJwkThumbprint(fromOpenssl)], 'the published key is the one openssl made');
    const r = await verifyInApp(last);
    assert.equal(r.status, 0, r.err);
    const payload = JSON.parse(r.out) as Record<string, unknown>;
    assert.equal(payload.sub, ALICE.sub);
    assert.equal(payload.email, ALICE.email);
    assert.deepEqual(payload.groups, ALICE.groups);
    assert.equal(payload.preferred_username, ALICE.preferred_username);
    assert.equal(typeof payload.sid, 'string');
  });

  test('the snippet refuses a token whose signature was changed', async () => {
    const [h, p, s] = String(last['x-forwarded-identity-jwt']).split('.') as [string, string, string];
    const r = await verifyInApp({ ...last, 'x-forwarded-identity-jwt': `${h}.${p}.${s.slice(0, -4)}${s.endsWith('AAAA') ? 'BBBB' : 'AAAA'}` });
    assert.notEqual(r.status, 0);
    assert.match(r.err, /signature verification failed/i);
  });
});

describe('docs/pages.md: display name, banner, footer, logo and a custom error template', () => {
  let peers: Peers;
  let proxy: InProcess;
  const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="#c00"/></svg>';
  before(async () => {
    peers = await peersFor();
    // Substituted: /etc/portcullis/logo.svg and /etc/portcullis/templates by files of the test's.
    const logo = join(dir, 'logo.svg');
    writeFileSync(logo, SVG);
    const templates = join(dir, 'templates');
    mkdirSync(templates);
    writeFileSync(join(templates, 'error.html'), '<!DOCTYPE html>\n<html><head><title>{{.Title}}</title></head>\n<body><p id="custom-error">{{.StatusCode}} {{.Code}}: {{.Message}}</p>\n<footer>{{.Footer}}</footer></body></html>\n');
    const env = shellEnv(docBlock('pages-settings', 'sh').replace('/etc/portcullis/logo.svg', logo).replace('/etc/portcullis/templates', templates));
    proxy = await proxyWith({ ...reach(peers), OAUTH2_PROXY_UPSTREAMS: peers.upstreamUrl, OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...env }, peers.port);
  });

  test('the built-in sign-in page shows the name, the banner and footer as HTML, and the logo inlined', async () => {
    const page = (await new HttpBrowser().request(`${proxy.url}/oauth2/sign_in`)).body;
    assert.match(page, /Sign in with Example SSO/);
    assert.match(page, /<p id="banner">Staff of <b>Example<\/b> only<\/p>/);
    assert.match(page, /<footer>Example Corp · <a href="\/help">help<\/a><\/footer>/);
    assert.ok(page.includes(`<img src="data:image/svg+xml;base64,${Buffer.from(SVG).toString('base64')}" alt="Logo">`), 'the logo file, inlined');
  });

  test('error.html from custom_templates_dir replaces the built-in error page', async () => {
    const res = await new HttpBrowser().request(`${proxy.url}/oauth2/callback?code=x&state=y`);
    assert.ok(res.status >= 400 && res.status < 500, String(res.status));
    assert.match(res.body, new RegExp(`<p id="custom-error">${res.status} LOGIN_STATE_MISSING: `));
    assert.match(res.body, /<footer>Example Corp · <a href="\/help">help<\/a><\/footer>/);
  });
});

describe('docs/upstreams.md: private CA, unix socket, folders of files and a fixed answer', () => {
  test('NODE_EXTRA_CA_CERTS with npx portcullis, as written: an https upstream signed by a private CA is verified and reached', async () => {
    const certs = makeCertificates(['127.0.0.1']);
    cleanups.push(() => certs.remove());
    const upstream = https.createServer({ key: readFileSync(certs.keyFile), cert: readFileSync(certs.certFile) }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tls: true, url: req.url, headers: req.headers }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanups.push(() => { upstream.closeAllConnections(); upstream.close(); });
    const port = await freePort();
    const peers = await peersFor({ ports: [port] });
    // Substituted: the CA file (/etc/ssl/private-ca.pem) and the upstream's host and port
    // (app.internal:8443); "..." stands for the rest of the configuration, given here as variables.
    const command = docBlock('upstreams-private-ca', 'sh')
      .replace('/etc/ssl/private-ca.pem', join(certs.dir, 'ca.crt'))
      .replace('app.internal:8443', `127.0.0.1:${(upstream.address() as { port: number }).port}`)
      .replace(' ...', '');
    const output = await startShellProxy(command, { OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`, ...reach(peers), OAUTH2_PROXY_EMAIL_DOMAINS: '*' });
    const { b, status } = await login(peers.issuer, `http://127.0.0.1:${port}`, ALICE.sub);
    assert.equal(status, 200);
    const r = await b.request(`http://127.0.0.1:${port}/over/tls`, { headers: JSON_ACCEPT });
    assert.equal(r.status, 200, `${r.body}\n${output()}`);
    const seen = JSON.parse(r.body) as { tls: boolean; url: string; headers: Record<string, string> };
    assert.deepEqual([seen.tls, seen.url, seen.headers['x-forwarded-user']], [true, '/over/tls', ALICE.sub]);
  });

  test('the four kinds together, as the variable and as npx flags: the API, a file, the fixed answer and the app each on its route', async () => {
    const block = docBlock('upstreams-kinds', 'sh');
    const named = async (name: string): Promise<string> => {
      const server = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name, url: req.url, headers: req.headers })));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      cleanups.push(() => { server.closeAllConnections(); server.close(); });
      return `127.0.0.1:${(server.address() as { port: number }).port}`;
    };
    const [app, api] = [await named('app'), await named('api')];
    const docs = join(dir, 'srv-docs');
    mkdirSync(docs);
    writeFileSync(join(docs, 'guide.html'), '<!DOCTYPE html><title>guide</title><p>the guide</p>');
    // Substituted: the app's 127.0.0.1:8080, the API's 127.0.0.1:9000 and the folder /srv/docs/.
    const sub = (t: string): string => t.replaceAll('127.0.0.1:8080', app).replaceAll('127.0.0.1:9000', api).replaceAll('/srv/docs/', `${docs}/`);
    const ports = [await freePort(), await freePort()];
    const peers = await peersFor({ ports });
    const fromVariable = await proxyWith({ ...reach(peers), OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...shellEnv(sub(block.split('\n')[0]!)) }, ports[0]!);
    // The flags form: the command from `npx` on (its line continued by `\`), "..." being the rest
    // of the configuration, given here as variables.
    const command = sub(block.slice(block.indexOf('npx portcullis'))).replace(' ...', '');
    await startShellProxy(command, { OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${ports[1]}`, ...reach(peers), OAUTH2_PROXY_EMAIL_DOMAINS: '*' });
    for (const url of [fromVariable.url, `http://127.0.0.1:${ports[1]}`]) {
      const { b, status } = await login(peers.issuer, url, ALICE.sub);
      assert.equal(status, 200, url);
      const json = async (path: string): Promise<{ name: string; url: string; headers: Record<string, string> }> => JSON.parse((await b.request(`${url}${path}`, { headers: JSON_ACCEPT })).body);
      const seen = await json('/api/users');
      assert.deepEqual([seen.name, seen.url, seen.headers['x-forwarded-user']], ['api', '/api/users', ALICE.sub]);
      assert.equal((await json('/else/where')).name, 'app');
      assert.match((await b.request(`${url}/docs/guide.html`)).body, /the guide/);
      const health = await b.request(`${url}/healthz`, { headers: JSON_ACCEPT });
      assert.deepEqual([health.status, health.body], [202, 'Authenticated']);
    }
  });

  test('unix:///run/app/http.sock: the request reaches the socket with the identity headers', async () => {
    const socket = join(dir, 'http.sock');
    const app = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ socket: true, url: req.url, headers: req.headers })));
    await new Promise<void>((r) => app.listen(socket, r));
    cleanups.push(() => { app.closeAllConnections(); app.close(); });
    const peers = await peersFor();
    // Substituted: the socket's path.
    const env = shellEnv(docBlock('upstreams-unix', 'sh').replace('/run/app/http.sock', socket));
    const proxy = await proxyWith({ ...reach(peers), OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...env }, peers.port);
    const { b, status } = await login(peers.issuer, proxy.url, ALICE.sub);
    assert.equal(status, 200);
    const seen = JSON.parse((await b.request(`${proxy.url}/app/x?y=1`, { headers: JSON_ACCEPT })).body) as { socket: boolean; url: string; headers: Record<string, string> };
    assert.deepEqual([seen.socket, seen.url, seen.headers['x-forwarded-email']], [true, '/app/x?y=1', ALICE.email]);
  });

  test('file:// alone, and beside an app under /static/: files served behind the login, the rest to the app', async () => {
    const lines = docBlock('upstreams-file', 'sh').split('\n').filter((l) => l.startsWith('OAUTH2_PROXY_'));
    assert.equal(lines.length, 2);
    const reports = join(dir, 'srv-reports');
    const statics = join(dir, 'srv-app-static');
    mkdirSync(reports);
    mkdirSync(statics);
    writeFileSync(join(reports, 'index.html'), '<!DOCTYPE html><title>reports</title><p>the reports</p>');
    writeFileSync(join(reports, 'q3.csv'), 'quarter,total\nq3,42\n');
    writeFileSync(join(statics, 'app.css'), 'body { color: #123; }\n');
    const ports = [await freePort(), await freePort()];
    const peers = await peersFor({ ports });
    const echo = new URL(peers.upstreamUrl);
    // Substituted: the folders' paths, and the app's port 8080 by the test's echo upstream.
    const sub = (l: string): string => l.replace('/srv/reports/', `${reports}/`).replace('/srv/app/static/', `${statics}/`).replace('127.0.0.1:8080', echo.host);
    const whole = await startInProcess({ ...reach(peers), OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...shellEnv(sub(lines[0]!)) }, peers.port);
    cleanups.push(() => whole.close());
    assert.equal((await request(`${whole.url}/q3.csv`, { headers: JSON_ACCEPT })).status, 401, 'behind the login');
    const one = await login(peers.issuer, whole.url, ALICE.sub);
    assert.equal(one.status, 200);
    assert.match(one.body, /the reports/, 'the folder\'s index.html is the site\'s /');
    const csv = await one.b.request(`${whole.url}/q3.csv`);
    assert.deepEqual([csv.status, csv.body], [200, 'quarter,total\nq3,42\n']);

    const beside = await startInProcess({ ...reach(peers), OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...shellEnv(sub(lines[1]!)) }, ports[1]!);
    cleanups.push(() => beside.close());
    const two = await login(peers.issuer, beside.url, ALICE.sub);
    assert.equal(two.status, 200);
    const css = await two.b.request(`${beside.url}/static/app.css`);
    assert.deepEqual([css.status, css.body, css.headers['content-type']], [200, 'body { color: #123; }\n', 'text/css; charset=utf-8']);
    const app = echoed((await two.b.request(`${beside.url}/dashboard`, { headers: JSON_ACCEPT })).body);
    assert.deepEqual([app.url, app.headers['x-forwarded-email']], ['/dashboard', ALICE.email]);
  });

  test('static://202#/whoami-check answers a signed-in client 202 Authenticated; / still reaches the app', async () => {
    const peers = await peersFor();
    const echo = new URL(peers.upstreamUrl);
    // Substituted: the app's port 8080 by the test's echo upstream.
    const env = shellEnv(docBlock('upstreams-static', 'sh').replace('127.0.0.1:8080', echo.host));
    const proxy = await proxyWith({ ...reach(peers), OAUTH2_PROXY_EMAIL_DOMAINS: '*', ...env }, peers.port);
    assert.equal((await request(`${proxy.url}/whoami-check`, { headers: JSON_ACCEPT })).status, 401, 'behind the login');
    const { b, status } = await login(peers.issuer, proxy.url, ALICE.sub);
    assert.equal(status, 200);
    const check = await b.request(`${proxy.url}/whoami-check`, { headers: JSON_ACCEPT });
    assert.deepEqual([check.status, check.body], [202, 'Authenticated']);
    assert.equal(echoed((await b.request(`${proxy.url}/other`, { headers: JSON_ACCEPT })).body).url, '/other');
  });
});

