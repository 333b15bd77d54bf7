import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { mergeSources } from '../src/config/load.js';
import { parseListenAddress, validateConfig, type Config } from '../src/config/validate.js';
import { createLogger } from '../src/log.js';
import { startPortcullis, type Running } from '../src/run.js';
import { ListenError } from '../src/server/listen.js';
import { HttpBrowser } from './support/browser.js';
import { LogLines, startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { docBlock } from './support/docblock.js';
import { startNginx, docsNginxSnippet, type Nginx } from './support/nginx.js';
import { commentedEnv, envBlock } from './support/shell.js';
import { freePort, startProxy } from './support/proxy.js';
import { ALICE, type Echoed } from './support/stack.js';
import { table } from './support/table.js';
import { makeCertificates, type TestCertificates } from './support/tls.js';

const JSON_ACCEPT = { accept: 'application/json' };
const HOST = 'portcullis.test';

function validate(env: Record<string, string>, readFile?: (p: string) => string): ReturnType<typeof validateConfig> {
  const base = {
    OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://issuer.example.com/', OAUTH2_PROXY_CLIENT_ID: 'c', OAUTH2_PROXY_CLIENT_SECRET: 's',
    OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32), OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080/',
  };
  return validateConfig(mergeSources({ flags: {}, env: { ...base, ...env }, dotenv: {} }), readFile);
}

/** A proxy from a validated configuration as is (startInProcess always sets http_address). */
async function startRunning(config: Config): Promise<Running> {
  return startPortcullis(config, createLogger('info', new LogLines()), { requestLog: new LogLines() });
}

function configOf(env: Record<string, string>): Config {
  const v = validate(env);
  assert.ok(v.ok, `expected a valid configuration: ${v.ok ? '' : v.errors.join('; ')}`);
  return v.config;
}

function errorsOf(env: Record<string, string>): string[] {
  const v = validate(env);
  assert.ok(!v.ok, 'expected configuration errors');
  return v.errors;
}

/**
 * An environment block of docs/tls.md or docs/load-balancer.md as written, with only the values in
 * `replace` swapped for this test's (each must be in the block exactly: a changed page fails here,
 * not silently). Also returns the commented-out alternatives the block offers, replaced the same way.
 */
function pageEnv(name: string, replace: Readonly<Record<string, string>>): { env: Record<string, string>; alternatives: Record<string, string> } {
  const text = docBlock(name, 'sh');
  for (const from of Object.keys(replace)) assert.ok(text.includes(from), `${name}: the block no longer has ${from}`);
  const swap = (env: Record<string, string>): Record<string, string> =>
    Object.fromEntries(Object.entries(env).map(([k, v]) => [k, Object.entries(replace).reduce((acc, [from, to]) => acc.split(from).join(to), v)]));
  return { env: swap(envBlock(text)), alternatives: swap(commentedEnv(text)) };
}

/** Whether a TLS client limited to `maxVersion` completes a handshake with the listener at `url`. */
function handshake(url: string, ca: string, maxVersion: tls.SecureVersion): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: Number(u.port), servername: HOST, ca, maxVersion, timeout: 5000 });
    s.once('secureConnect', () => { const v = s.getProtocol() ?? '?'; s.destroy(); resolve(v); });
    s.once('error', (e) => resolve(`refused (${(e as NodeJS.ErrnoException).code ?? e.message})`));
    s.once('timeout', () => { s.destroy(); resolve('timeout'); });
  });
}

test('listen addresses: unix sockets with oauth2-proxy\'s mode= option', () => {
  table([
    ['unix:///run/p.sock', { kind: 'unix', path: '/run/p.sock' }],
    ['unix:///run/p.sock,mode=0600', { kind: 'unix', path: '/run/p.sock', mode: 0o600 }],
    ['unix:///run/p.sock,mode=0777', { kind: 'unix', path: '/run/p.sock', mode: 0o777 }],
    ['unix:///run/p.sock,mode=660', { kind: 'unix', path: '/run/p.sock', mode: 0o660 }],
    ['UNIX:///run/p.sock', { kind: 'unix', path: '/run/p.sock' }],
    ['unix:///run/p.sock,mode=0999', undefined], ['unix:///run/p.sock,mode=', undefined], ['unix:///run/p.sock,mode=06600', undefined],
    ['unix:///run/p.sock,owner=me', undefined], ['unix:///run/p.sock,mode=0600,mode=0600', undefined], ['unix://run/p.sock', undefined],
  ], parseListenAddress);
});

test('TLS options are checked at start-up, each message naming the variable', () => {
  const certs = makeCertificates([HOST]);
  try {
    const tlsEnv = { OAUTH2_PROXY_TLS_CERT_FILE: certs.certFile, OAUTH2_PROXY_TLS_KEY_FILE: certs.keyFile };
    // Certificates set, http_address left alone: only HTTPS, as oauth2-proxy's flags do.
    const only = configOf(tlsEnv);
    assert.equal(only.listen, undefined);
    assert.deepEqual(only.https?.address, { kind: 'tcp', host: '0.0.0.0', port: 443 });
    assert.equal(only.https?.minVersion, 'TLSv1.2');
    // Both given: both listeners, and a warning while plain HTTP is not redirected.
    const both = validate({ ...tlsEnv, OAUTH2_PROXY_HTTP_ADDRESS: '127.0.0.1:8080', OAUTH2_PROXY_HTTPS_ADDRESS: '127.0.0.1:8443', OAUTH2_PROXY_TLS_MIN_VERSION: 'TLS1.3' });
    assert.ok(both.ok);
    assert.deepEqual(both.config.listen, { kind: 'tcp', host: '127.0.0.1', port: 8080 });
    assert.equal(both.config.https?.minVersion, 'TLSv1.3');
    assert.ok(both.warnings.some((w) => /plain HTTP on 127\.0\.0\.1:8080 .*OAUTH2_PROXY_FORCE_HTTPS=true/.test(w)), both.warnings.join('\n'));
    const forced = validate({ ...tlsEnv, OAUTH2_PROXY_HTTP_ADDRESS: '127.0.0.1:8080', OAUTH2_PROXY_FORCE_HTTPS: 'true' });
    assert.ok(forced.ok && !forced.warnings.some((w) => /plain HTTP/.test(w)));

    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ OAUTH2_PROXY_TLS_CERT_FILE: certs.certFile }, /^OAUTH2_PROXY_TLS_KEY_FILE \(or --tls-key-file\) is required/],
      [{ OAUTH2_PROXY_TLS_KEY_FILE: certs.keyFile }, /^OAUTH2_PROXY_TLS_CERT_FILE \(or --tls-cert-file\) is required/],
      [{ OAUTH2_PROXY_HTTPS_ADDRESS: ':8443' }, /^OAUTH2_PROXY_TLS_CERT_FILE \(or --tls-cert-file\) is required: OAUTH2_PROXY_HTTPS_ADDRESS is set/],
      [{ ...tlsEnv, OAUTH2_PROXY_TLS_CERT_FILE: join(certs.dir, 'missing.crt') }, /^OAUTH2_PROXY_TLS_CERT_FILE: got ".*missing\.crt", expected a readable file \(ENOENT\)/],
      [{ ...tlsEnv, OAUTH2_PROXY_TLS_KEY_FILE: certs.otherKeyFile }, /^OAUTH2_PROXY_TLS_KEY_FILE: got ".*other\.key", expected the private key of the certificate in OAUTH2_PROXY_TLS_CERT_FILE \(they do not match\)/],
      [{ ...tlsEnv, OAUTH2_PROXY_TLS_CERT_FILE: certs.keyFile }, /^OAUTH2_PROXY_TLS_CERT_FILE: got ".*server\.key", expected a PEM certificate/],
      [{ ...tlsEnv, OAUTH2_PROXY_TLS_KEY_FILE: certs.certFile }, /^OAUTH2_PROXY_TLS_KEY_FILE: got ".*server\.crt", expected a PEM private key/],
      [{ ...tlsEnv, OAUTH2_PROXY_TLS_KEY_FILE: certs.encryptedKeyFile }, /^OAUTH2_PROXY_TLS_KEY_FILE: got ".*encrypted\.key", expected a PEM private key without a passphrase/],
      [{ ...tlsEnv, OAUTH2_PROXY_TLS_MIN_VERSION: 'TLS1.1' }, /^OAUTH2_PROXY_TLS_MIN_VERSION: got "TLS1\.1", expected one of TLS1\.2, TLS1\.3/],
      [{ ...tlsEnv, OAUTH2_PROXY_HTTPS_ADDRESS: 'unix:///run/p.sock' }, /^OAUTH2_PROXY_HTTPS_ADDRESS: got "unix:\/\/\/run\/p\.sock", expected host:port or :port \(HTTPS listens on TCP\)/],
      [{ OAUTH2_PROXY_HTTP_ADDRESS: 'unix:///run/p.sock,mode=rw' }, /^OAUTH2_PROXY_HTTP_ADDRESS: got "unix:\/\/\/run\/p\.sock,mode=rw", expected .*unix:\/\/\/path\/to\.sock,mode=0660/],
    ];
    for (const [env, expected] of cases) {
      const errors = errorsOf(env);
      assert.ok(errors.some((e) => expected.test(e)), `${JSON.stringify(env)}: ${errors.join('\n')}`);
      for (const file of [certs.certFile, certs.keyFile, certs.otherKeyFile, certs.encryptedKeyFile]) {
        assert.ok(!errors.join('\n').includes(readFileSync(file, 'utf8').split('\n')[1]!), 'no file content in messages');
      }
    }
  } finally {
    certs.remove();
  }
});

describe('docs/tls.md\'s TLS block as written: HTTPS with the test CA\'s certificate, plain HTTP beside it with force_https', () => {
  let certs: TestCertificates;
  let peers: Peers;
  let proxy: InProcess;
  let strict: Running;
  let httpsPort: number;
  let httpPort: number;
  const browser = (): HttpBrowser => new HttpBrowser({ ca: certs.ca, dial: (u) => (u.hostname === HOST ? { host: '127.0.0.1' } : undefined) });

  before(async () => {
    certs = makeCertificates([HOST, 'localhost', '127.0.0.1']);
    [httpsPort, httpPort] = [await freePort(), await freePort()];
    peers = await startPeers({ redirectUris: [`https://${HOST}:${httpsPort}/oauth2/callback`] });
    // The issuer, client and upstream are this test's; the cookies keep their default (Secure).
    const { OAUTH2_PROXY_COOKIE_SECURE: _plainHttpOnly, ...env } = peers.env;
    // docs/tls.md's block as written; only its addresses and certificate files are this test's.
    const page = pageEnv('tls-https', {
      '0.0.0.0:443': `127.0.0.1:${httpsPort}`, '0.0.0.0:80': `127.0.0.1:${httpPort}`,
      '/etc/portcullis/tls.crt': certs.certFile, '/etc/portcullis/tls.key': certs.keyFile,
    });
    assert.deepEqual(Object.keys(page.env).sort(), ['OAUTH2_PROXY_FORCE_HTTPS', 'OAUTH2_PROXY_HTTPS_ADDRESS', 'OAUTH2_PROXY_HTTP_ADDRESS', 'OAUTH2_PROXY_TLS_CERT_FILE', 'OAUTH2_PROXY_TLS_KEY_FILE']);
    proxy = await startInProcess({ ...env, ...page.env });
    // HTTPS only (http_address left at its default), with the block's commented-out TLS1.3: TLS 1.3 or nothing.
    const { OAUTH2_PROXY_HTTP_ADDRESS: _plain, OAUTH2_PROXY_FORCE_HTTPS: _force, ...httpsOnly } = page.env;
    assert.deepEqual(page.alternatives, { OAUTH2_PROXY_TLS_MIN_VERSION: 'TLS1.3' });
    strict = await startRunning(configOf({ ...env, ...httpsOnly, ...page.alternatives, OAUTH2_PROXY_HTTPS_ADDRESS: '127.0.0.1:0' }));
  });
  after(async () => {
    await proxy?.close();
    await strict?.close(1000);
    await peers?.close();
    certs?.remove();
  });

  test('both listeners run, and the whole login goes through the TLS listener with the default Secure cookies', async () => {
    assert.equal(proxy.running.httpsUrl, `https://127.0.0.1:${httpsPort}`);
    assert.equal(proxy.running.httpUrl, `http://127.0.0.1:${httpPort}`);
    const b = browser();
    const origin = `https://${HOST}:${httpsPort}`;
    const landed = await b.navigate(`${origin}/oauth2/start?rd=${encodeURIComponent('/app?x=1')}`);
    assert.equal(landed.status, 200, `${landed.url}: ${landed.body.slice(0, 300)}`);
    assert.equal(landed.url, `${origin}/app?x=1`);
    const toIssuer = new URL(b.history.find((u) => u.startsWith(peers.issuer.endpoints.authorization))!);
    assert.equal(toIssuer.searchParams.get('redirect_uri'), `${origin}/oauth2/callback`, 'the callback URL says https: TLS ended here');
    const session = b.jar.get(HOST)?.find((c) => c.name === '_oauth2_proxy');
    assert.ok(session?.secure, 'the session cookie is Secure (cookie_secure defaults to true) and was kept for https');

    const e = JSON.parse((await b.request(`${origin}/app`, { headers: JSON_ACCEPT })).body) as Echoed;
    assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(e.headers['x-forwarded-proto'], 'https');
    assert.equal(e.headers['x-forwarded-host'], `${HOST}:${httpsPort}`);
    assert.equal(e.headers['x-forwarded-port'], String(httpsPort));
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
  });

  test('plain HTTP gets a 308 to the same URL on the HTTPS port, where the session works; the Secure cookie never goes over plain HTTP', async () => {
    const b = browser();
    await b.navigate(`https://${HOST}:${httpsPort}/oauth2/start?rd=/`);
    const plain = `http://${HOST}:${httpPort}/deep/page?q=1&r=%2F`;
    assert.equal(b.cookieHeader(new URL(plain)), '', 'a Secure cookie is not sent to a plain-http, non-loopback origin');
    const get = await b.request(plain);
    assert.equal(get.status, 308);
    assert.equal(get.headers.location, `https://${HOST}:${httpsPort}/deep/page?q=1&r=%2F`);
    const post = await b.request(plain, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'kept by a 308' });
    assert.equal(post.status, 308, 'any method: 308 keeps it and its body');
    assert.equal(post.headers.location, `https://${HOST}:${httpsPort}/deep/page?q=1&r=%2F`);
    const followed = await b.navigate(plain, { headers: JSON_ACCEPT });
    assert.equal(followed.status, 200);
    assert.equal((JSON.parse(followed.body) as Echoed).headers['x-forwarded-user'], ALICE.sub);
    // A host written without a port keeps none (port 443 implied), as oauth2-proxy does.
    const bare = await b.request(`http://127.0.0.1:${httpPort}/x`, { headers: { host: 'app.example.com' } });
    assert.equal(bare.headers.location, 'https://app.example.com/x');
  });

  test('force_https leaves the ping and ready paths on plain HTTP (health checkers), and redirects a websocket handshake', async () => {
    const b = browser();
    for (const path of ['/ping', '/ready']) {
      const res = await b.request(`http://${HOST}:${httpPort}${path}`);
      assert.equal(res.status, 200, path);
      assert.ok(path === '/ping' ? res.body === 'OK' : JSON.parse(res.body).ready === true, `${path}: ${res.body}`);
    }
    const upgrade = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: httpPort, path: '/ws', headers: { host: `${HOST}:${httpPort}`, connection: 'Upgrade', upgrade: 'websocket' }, timeout: 5000 });
      req.once('response', (res) => { res.resume(); resolve(res); });
      req.once('upgrade', () => reject(new Error('upgraded over plain HTTP')));
      req.once('error', reject);
      req.end();
    });
    assert.equal(upgrade.statusCode, 308);
    assert.equal(upgrade.headers.location, `https://${HOST}:${httpsPort}/ws`);
  });

  test('tls_min_version: TLS 1.2 and 1.3 by default; TLS1.3 refuses a TLS 1.2 client', async () => {
    assert.equal(await handshake(proxy.running.httpsUrl!, certs.ca, 'TLSv1.2'), 'TLSv1.2');
    assert.equal(await handshake(proxy.running.httpsUrl!, certs.ca, 'TLSv1.3'), 'TLSv1.3');
    assert.equal(strict.httpUrl, undefined, 'http_address left at its default: HTTPS only');
    assert.equal(strict.url, strict.httpsUrl);
    assert.match(await handshake(strict.httpsUrl!, certs.ca, 'TLSv1.2'), /^refused/);
    assert.equal(await handshake(strict.httpsUrl!, certs.ca, 'TLSv1.3'), 'TLSv1.3');
  });

  test('a client that does not trust the test CA does not get through', async () => {
    const res = await new HttpBrowser({ dial: () => ({ host: '127.0.0.1' }) }).request(`https://${HOST}:${httpsPort}/ping`).then(() => 'answered', (e: Error) => String((e as NodeJS.ErrnoException).code));
    assert.equal(res, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});

describe('a unix socket listener, from docs/tls.md\'s block', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sock-'));
  const sock = join(dir, 'portcullis.sock');
  const SOCK_HOST = 'app.sock.test';
  let peers: Peers;
  let proxy: InProcess;
  let umaskBefore: number;
  const umaskNow = (): number => { const u = process.umask(0o022); process.umask(u); return u; };
  const browser = (): HttpBrowser => new HttpBrowser({ dial: (u) => (u.hostname === SOCK_HOST ? { socketPath: sock } : undefined) });

  before(async () => {
    peers = await startPeers({ redirectUris: [`http://${SOCK_HOST}/oauth2/callback`] });
    umaskBefore = umaskNow();
    // docs/tls.md's socket block as written, the socket's path this test's; the test adds its issuer
    // and upstream, and reverse_proxy for the page's last point (a peer on the socket is trusted).
    const page = pageEnv('tls-unix-socket', { '/run/portcullis/portcullis.sock': sock });
    assert.deepEqual(page.env, { OAUTH2_PROXY_HTTP_ADDRESS: `unix://${sock}` });
    proxy = await startInProcess({ ...peers.env, ...page.env, OAUTH2_PROXY_REVERSE_PROXY: 'true' });
  });
  after(async () => {
    await proxy?.close();
    await peers?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the socket file is mode 0660 (owner and group may connect) whatever the umask, and the umask is left as it was', () => {
    assert.equal(proxy.running.url, `unix://${sock}`);
    const st = statSync(sock);
    assert.ok(st.isSocket());
    assert.equal((st.mode & 0o777).toString(8), '660');
    assert.equal(umaskNow(), umaskBefore, 'the process umask is as it was');
  });

  test('login and a proxied request over the unix socket; the upstream gets no X-Forwarded-For for a peer without an address', async () => {
    const b = browser();
    const landed = await b.navigate(`http://${SOCK_HOST}/oauth2/start?rd=${encodeURIComponent('/hello')}`);
    assert.equal(landed.status, 200, `${landed.url}: ${landed.body.slice(0, 300)}`);
    assert.equal(landed.url, `http://${SOCK_HOST}/hello`);
    const toIssuer = new URL(b.history.find((u) => u.startsWith(peers.issuer.endpoints.authorization))!);
    assert.equal(toIssuer.searchParams.get('redirect_uri'), `http://${SOCK_HOST}/oauth2/callback`);
    const e = JSON.parse((await b.request(`http://${SOCK_HOST}/hello`, { headers: JSON_ACCEPT })).body) as Echoed;
    assert.equal(e.url, '/hello');
    assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(e.headers['x-forwarded-email'], ALICE.email);
    assert.equal(e.headers['x-forwarded-for'], undefined);
    assert.equal(e.headers['x-forwarded-proto'], 'http');
    assert.equal(e.headers['x-forwarded-host'], SOCK_HOST);
  });

  test('with reverse_proxy, a peer on the socket is trusted as oauth2-proxy trusts it: its X-Forwarded-* and X-Real-IP are believed', async () => {
    const b = browser();
    await b.navigate(`http://${SOCK_HOST}/oauth2/start?rd=/`);
    const fwd = { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'public.example', 'X-Real-IP': '203.0.113.7' };
    const e = JSON.parse((await b.request(`http://${SOCK_HOST}/trusted`, { headers: { ...JSON_ACCEPT, ...fwd } })).body) as Echoed;
    assert.equal(e.headers['x-forwarded-for'], '203.0.113.7');
    assert.equal(e.headers['x-forwarded-proto'], 'https');
    assert.equal(e.headers['x-forwarded-host'], 'public.example');
    assert.equal(e.headers['x-real-ip'], '203.0.113.7');
    const start = await new HttpBrowser({ dial: () => ({ socketPath: sock }) }).request(`http://${SOCK_HOST}/oauth2/start`, { headers: fwd });
    assert.equal(new URL(start.headers.location!).searchParams.get('redirect_uri'), 'https://public.example/oauth2/callback');
    const line = proxy.logs.lines.find((l) => l.path === '/trusted');
    assert.equal(line?.client, '203.0.113.7');
  });

  test('a live socket is refused, not stolen; a file that is not a socket is refused and left alone', async () => {
    await assert.rejects(startInProcess({ ...peers.env, OAUTH2_PROXY_HTTP_ADDRESS: `unix://${sock}` }),
      (e: unknown) => e instanceof ListenError && e.code === 'EADDRINUSE' && e.option === 'http_address');
    const ping = await browser().request(`http://${SOCK_HOST}/ping`);
    assert.equal(ping.status, 200, 'the first proxy still serves its socket');
    const plainFile = join(dir, 'not-a-socket');
    writeFileSync(plainFile, 'precious');
    await assert.rejects(startInProcess({ ...peers.env, OAUTH2_PROXY_HTTP_ADDRESS: `unix://${plainFile}` }),
      (e: unknown) => e instanceof ListenError && e.code === 'EEXIST' && /exists and is not a socket/.test(e.message));
    assert.equal(readFileSync(plainFile, 'utf8'), 'precious');
    // The command line names the variable and the address.
    const cli = await startProxy({ ...peers.env, OAUTH2_PROXY_HTTP_ADDRESS: `unix://${plainFile}` }, { waitFor: 'exit' });
    assert.ok(cli.lines.some((l) => l.includes(`OAUTH2_PROXY_HTTP_ADDRESS: cannot listen on unix://${plainFile}: ${plainFile} exists and is not a socket`)), cli.lines.join('\n'));
  });

  test('a socket file left by a process that died is replaced; mode= sets the mode', async () => {
    const stale = join(dir, 'stale.sock');
    const child = spawn(process.execPath, ['-e', 'require("net").createServer().listen(process.argv[1], () => console.log("up"))', stale], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the stale-socket maker did not start')), 10_000);
      child.stdout!.once('data', () => { clearTimeout(timer); resolve(); });
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    assert.ok(statSync(stale).isSocket(), 'the killed process left its socket file');
    // The page's other mode (its commented-out line), on the stale socket's path.
    const other = pageEnv('tls-unix-socket', { '/run/portcullis/portcullis.sock': stale }).alternatives;
    assert.deepEqual(other, { OAUTH2_PROXY_HTTP_ADDRESS: `unix://${stale},mode=0600` });
    const second = await startInProcess({ ...peers.env, ...other });
    try {
      assert.equal((statSync(stale).mode & 0o777).toString(8), '600');
      const ping = await new HttpBrowser({ dial: () => ({ socketPath: stale }) }).request('http://x/ping');
      assert.equal(ping.status, 200);
    } finally {
      await second.close();
    }
    assert.throws(() => statSync(stale), /ENOENT/, 'closing removes the socket file');
  });
});

describe('behind nginx ending TLS, Portcullis on a unix socket: the nginx and environment blocks of docs/load-balancer.md as written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-lb-'));
  const sock = join(dir, 'portcullis.sock');
  let certs: TestCertificates;
  let peers: Peers;
  let proxy: InProcess;
  let nginx: Nginx;
  let origin: string;
  const browser = (): HttpBrowser => new HttpBrowser({ ca: certs.ca, dial: (u) => (u.hostname === HOST ? { host: '127.0.0.1' } : undefined) });

  before(async () => {
    certs = makeCertificates([HOST]);
    const nginxPort = await freePort();
    origin = `https://${HOST}:${nginxPort}`;
    peers = await startPeers({ redirectUris: [`${origin}/oauth2/callback`] });
    const { OAUTH2_PROXY_COOKIE_SECURE: _plainHttpOnly, ...env } = peers.env;
    // The page's environment block for Portcullis, as written; only the socket's path is this test's.
    const page = pageEnv('lb-socket-env', { '/run/portcullis/portcullis.sock': sock });
    assert.deepEqual(page.env, { OAUTH2_PROXY_HTTP_ADDRESS: `unix://${sock}`, OAUTH2_PROXY_REVERSE_PROXY: 'true', OAUTH2_PROXY_REDIRECT_URL: '/oauth2/callback' });
    proxy = await startInProcess({ ...env, ...page.env });
    // Only the addresses and files change. The page has Portcullis share a group with nginx's
    // user; here nginx's workers run as the test's own user instead (as root they would be nobody).
    const server = docsNginxSnippet('lb-snippet')
      .replace('listen 443 ssl;', `listen 127.0.0.1:${nginxPort} ssl;`)
      .replace('/run/portcullis/portcullis.sock', sock)
      .replace('/etc/nginx/tls/app.crt', certs.certFile)
      .replace('/etc/nginx/tls/app.key', certs.keyFile);
    nginx = await startNginx(server, nginxPort, { main: process.getuid?.() === 0 ? 'user root;' : '' });
  });
  after(async () => {
    await nginx?.stop();
    await proxy?.close();
    await peers?.close();
    certs?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the login runs through nginx with an https callback URL from X-Forwarded-Proto/-Host, and the Secure cookie works', async () => {
    const b = browser();
    const landed = await b.navigate(`${origin}/oauth2/start?rd=${encodeURIComponent('/app')}`);
    assert.equal(landed.status, 200, `${landed.url}: ${landed.body.slice(0, 300)}`);
    assert.equal(landed.url, `${origin}/app`);
    const toIssuer = new URL(b.history.find((u) => u.startsWith(peers.issuer.endpoints.authorization))!);
    assert.equal(toIssuer.searchParams.get('redirect_uri'), `${origin}/oauth2/callback`);
    assert.ok(b.jar.get(HOST)?.find((c) => c.name === '_oauth2_proxy')?.secure);
  });

  test('the upstream gets nginx\'s forwarding headers, and the log names the client nginx saw, not the one the client claimed', async () => {
    const b = browser();
    await b.navigate(`${origin}/oauth2/start?rd=/`);
    const res = await b.request(`${origin}/behind-nginx`, { headers: { ...JSON_ACCEPT, 'X-Real-IP': '198.51.100.66', 'X-Forwarded-For': '198.51.100.66', 'X-Forwarded-Proto': 'http' } });
    assert.equal(res.status, 200, res.body.slice(0, 300));
    const e = JSON.parse(res.body) as Echoed;
    assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(e.headers['x-forwarded-proto'], 'https');
    assert.equal(e.headers['x-forwarded-host'], new URL(origin).host);
    assert.equal(e.headers['x-forwarded-for'], '198.51.100.66, 127.0.0.1', 'nginx appends its client; nothing more from a socket peer');
    assert.equal(e.headers['x-real-ip'], '127.0.0.1');
    assert.equal(proxy.logs.lines.find((l) => l.path === '/behind-nginx')?.client, '127.0.0.1');
  });
});
