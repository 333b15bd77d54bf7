import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSources } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { docBlock } from './support/docblock.js';
import { freePort } from './support/proxy.js';
import { commentedEnv, envBlock } from './support/shell.js';
import { ALICE, type Echoed } from './support/stack.js';

const JSON_ACCEPT = { accept: 'application/json' };

/** What a client (or a load balancer) says about the original request. */
const FORWARDED = {
  'X-Forwarded-For': '203.0.113.7',
  'X-Forwarded-Host': 'app.example.com',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Port': '443',
  'X-Real-IP': '203.0.113.7',
  Forwarded: 'for=203.0.113.7;proto=https',
  'CF-Connecting-IP': '203.0.113.8',
};

function validate(env: Record<string, string>): ReturnType<typeof validateConfig> {
  return validateConfig(mergeSources({
    flags: {},
    env: {
      OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://issuer.example.com/', OAUTH2_PROXY_CLIENT_ID: 'c', OAUTH2_PROXY_CLIENT_SECRET: 's',
      OAUTH2_PROXY_COOKIE_SECRET: 'x'.repeat(32), OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080/', ...env,
    },
    dotenv: {},
  }));
}

test('trusted_proxy_ips, real_client_ip_header and a relative redirect_url are validated, each message naming the variable', () => {
  const bad = validate({ OAUTH2_PROXY_REVERSE_PROXY: 'true', OAUTH2_PROXY_TRUSTED_PROXY_IPS: '10.0.0.0/8, 10.0.0.1/8,lb.internal,fd00::/129' });
  assert.ok(!bad.ok);
  assert.match(bad.errors.join('\n'), /^OAUTH2_PROXY_TRUSTED_PROXY_IPS: got "10\.0\.0\.0\/8, 10\.0\.0\.1\/8,lb\.internal,fd00::\/129", expected IP addresses or CIDR ranges such as 10\.0\.0\.0\/8, 192\.168\.1\.7 or fd00::\/8 \("10\.0\.0\.1\/8": bits are set past the \/8 prefix \(write the network address\); "lb\.internal": not an IP address; "fd00::\/129": the prefix must be 0 to 128\)$/m);
  const empty = validate({ OAUTH2_PROXY_REVERSE_PROXY: 'true', OAUTH2_PROXY_TRUSTED_PROXY_IPS: '' });
  assert.ok(!empty.ok);
  assert.match(empty.errors.join('\n'), /^OAUTH2_PROXY_TRUSTED_PROXY_IPS: got "", expected the addresses of your load balancers: with none, OAUTH2_PROXY_REVERSE_PROXY=true would believe no one/m);
  const header = validate({ OAUTH2_PROXY_REAL_CLIENT_IP_HEADER: 'X-Client-IP' });
  assert.ok(!header.ok);
  assert.match(header.errors.join('\n'), /^OAUTH2_PROXY_REAL_CLIENT_IP_HEADER: got "X-Client-IP", expected one of X-Real-IP, X-Forwarded-For, X-ProxyUser-IP, X-Envoy-External-Address, CF-Connecting-IP$/m);
  const relative = validate({ OAUTH2_PROXY_REDIRECT_URL: '/elsewhere' });
  assert.ok(!relative.ok);
  assert.match(relative.errors.join('\n'), /^OAUTH2_PROXY_REDIRECT_URL: got "\/elsewhere", expected a URL whose path is \/oauth2\/callback .*or that path alone/m);

  const ok = validate({ OAUTH2_PROXY_REAL_CLIENT_IP_HEADER: 'cf-connecting-ip', OAUTH2_PROXY_REDIRECT_URL: '/oauth2/callback', OAUTH2_PROXY_TRUSTED_PROXY_IPS: '10.0.0.0/8' });
  assert.ok(ok.ok, ok.ok ? '' : ok.errors.join('\n'));
  assert.equal(ok.config.realClientIpHeader, 'cf-connecting-ip');
  assert.equal(ok.config.provider.redirectUrl, undefined, 'a relative redirect_url is built from each request');
  assert.ok(ok.warnings.some((w) => w === 'OAUTH2_PROXY_TRUSTED_PROXY_IPS has no effect without OAUTH2_PROXY_REVERSE_PROXY=true'), ok.warnings.join('\n'));
  const dflt = validate({ OAUTH2_PROXY_REVERSE_PROXY: 'true' });
  assert.ok(dflt.ok);
  assert.deepEqual(dflt.config.trustedProxies.entries, ['127.0.0.0/8', '::1'], 'the default trusts loopback only');
  assert.ok(dflt.config.trustedProxies.has('127.0.0.1') && !dflt.config.trustedProxies.has('10.0.0.1'));
});

/** docs/load-balancer.md's block for a balancer reaching Portcullis over TCP, as written, its listen address this test's. */
function tcpBalancerBlock(port: number): { env: Record<string, string>; alternatives: Record<string, string> } {
  const text = docBlock('lb-tcp', 'sh');
  assert.ok(text.includes('0.0.0.0:4180'), 'the block listens on 0.0.0.0:4180');
  const env = envBlock(text);
  assert.equal(env.OAUTH2_PROXY_HTTP_ADDRESS, '0.0.0.0:4180');
  return { env: { ...env, OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` }, alternatives: commentedEnv(text) };
}

test('docs/load-balancer.md\'s TCP block: the balancers it names, IPv4, IPv6 and IPv4 on a dual-stack socket, and nothing wider', () => {
  const { env, alternatives } = tcpBalancerBlock(4180);
  for (const extra of [{}, alternatives]) {
    const v = validate({ ...env, ...extra });
    assert.ok(v.ok, v.ok ? '' : v.errors.join('\n'));
    assert.equal(v.config.reverseProxy, true);
    const trusted = v.config.trustedProxies;
    for (const peer of ['10.0.4.7', '::ffff:10.0.4.7', 'fd00:4::1', 'fd00:4::ffff:1']) assert.ok(trusted.has(peer), `${peer} is a listed balancer`);
    for (const peer of ['10.0.5.1', '10.0.3.255', '127.0.0.1', '::1', 'fd00:5::1', '192.168.4.7']) assert.ok(!trusted.has(peer), `${peer} is not`);
    assert.deepEqual(v.warnings, []);
  }
  assert.deepEqual(alternatives, { OAUTH2_PROXY_REAL_CLIENT_IP_HEADER: 'X-Forwarded-For' });
  const alt = validate({ ...env, ...alternatives });
  assert.ok(alt.ok);
  assert.equal(alt.config.realClientIpHeader.toLowerCase(), 'x-forwarded-for');
});

describe('reverse_proxy believes forwarding headers only from trusted_proxy_ips', () => {
  let peers: Peers;
  /** docs/load-balancer.md's TCP block (balancers in 10.0.4.0/24, fd00:4::/64): this test's 127.0.0.1 is a peer outside the trusted list. */
  let outside: InProcess;
  /** trusted_proxy_ips=127.0.0.1: this test stands for the load balancer. */
  let inside: InProcess;
  /** reverse_proxy=false. */
  let direct: InProcess;

  before(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    peers = await startPeers({ ports });
    const common = { ...peers.env, OAUTH2_PROXY_REDIRECT_URL: '/oauth2/callback' };
    outside = await startInProcess({ ...peers.env, ...tcpBalancerBlock(ports[0]!).env }, ports[0]);
    inside = await startInProcess({ ...common, OAUTH2_PROXY_REVERSE_PROXY: 'true', OAUTH2_PROXY_TRUSTED_PROXY_IPS: '127.0.0.1' }, ports[1]);
    direct = await startInProcess(common, ports[2]);
  });
  after(async () => {
    await Promise.all([outside?.close(), inside?.close(), direct?.close()]);
    await peers?.close();
  });

  async function signedIn(proxy: InProcess): Promise<HttpBrowser> {
    const b = new HttpBrowser();
    const res = await b.navigate(`${proxy.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 200, `login: ${res.status} at ${res.url}`);
    return b;
  }

  async function echoed(proxy: InProcess, path: string): Promise<Echoed> {
    const b = await signedIn(proxy);
    const res = await b.request(`${proxy.url}${path}`, { headers: { ...JSON_ACCEPT, ...FORWARDED } });
    assert.equal(res.status, 200, res.body.slice(0, 300));
    return JSON.parse(res.body) as Echoed;
  }

  async function callbackFor(proxy: InProcess): Promise<string | null> {
    const res = await new HttpBrowser().request(`${proxy.url}/oauth2/start`, { headers: FORWARDED });
    assert.equal(res.status, 302);
    return new URL(res.headers.location!).searchParams.get('redirect_uri');
  }

  const requestLog = (proxy: InProcess, path: string): Record<string, unknown> | undefined => proxy.logs.lines.find((l) => l.path === path);

  test('from a peer outside the list, the client\'s X-Forwarded-*, Forwarded and X-Real-IP are dropped and replaced by the proxy\'s own', async () => {
    const e = await echoed(outside, '/outside');
    assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(e.headers['x-forwarded-host'], new URL(outside.url).host);
    assert.equal(e.headers['x-forwarded-proto'], 'http');
    assert.equal(e.headers['x-forwarded-port'], new URL(outside.url).port);
    assert.equal(e.headers.forwarded, undefined);
    assert.equal(e.headers['x-real-ip'], undefined);
    assert.equal(e.headers['cf-connecting-ip'], undefined);
    assert.equal(requestLog(outside, '/outside')?.client, '127.0.0.1', 'the log has the peer, not the claimed client');
  });

  test('from a peer outside the list, the callback URL takes the request\'s own Host and scheme', async () => {
    assert.equal(await callbackFor(outside), `${outside.url}/oauth2/callback`);
  });

  test('from a peer in the list, its X-Forwarded-* and X-Real-IP reach the upstream, with its own address appended to X-Forwarded-For', async () => {
    const e = await echoed(inside, '/inside');
    assert.equal(e.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(e.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(e.headers['x-forwarded-host'], 'app.example.com');
    assert.equal(e.headers['x-forwarded-proto'], 'https');
    assert.equal(e.headers['x-forwarded-port'], '443');
    assert.equal(e.headers['x-real-ip'], '203.0.113.7');
    assert.equal(e.headers.forwarded, 'for=203.0.113.7;proto=https');
    assert.equal(requestLog(inside, '/inside')?.client, '203.0.113.7', 'real_client_ip_header (X-Real-IP) names the client in the log');
  });

  test('from a peer in the list, a relative redirect_url takes the forwarded scheme and host', async () => {
    assert.equal(await callbackFor(inside), 'https://app.example.com/oauth2/callback');
  });

  test('without reverse_proxy, X-Real-IP and the other client-address headers never reach the upstream', async () => {
    const e = await echoed(direct, '/direct');
    assert.equal(e.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(e.headers['x-real-ip'], undefined);
    assert.equal(e.headers['cf-connecting-ip'], undefined);
    assert.equal(e.headers['x-forwarded-proto'], 'http');
    assert.equal(await callbackFor(direct), `${direct.url}/oauth2/callback`);
  });

  test('a header value that is not an address is not logged as the client', async () => {
    const b = await signedIn(inside);
    await b.request(`${inside.url}/garbage`, { headers: { ...JSON_ACCEPT, 'X-Real-IP': '<script>' } });
    assert.equal(requestLog(inside, '/garbage')?.client, '127.0.0.1');
  });
});

describe('force_https behind a load balancer: its X-Forwarded-Proto counts only when it is trusted', () => {
  let trusted: InProcess;
  let untrusted: InProcess;
  let peers: Peers;
  before(async () => {
    peers = await startPeers();
    const env = { ...peers.env, OAUTH2_PROXY_REVERSE_PROXY: 'true', OAUTH2_PROXY_FORCE_HTTPS: 'true' };
    trusted = await startInProcess({ ...env, OAUTH2_PROXY_TRUSTED_PROXY_IPS: '127.0.0.1' });
    untrusted = await startInProcess({ ...env, OAUTH2_PROXY_TRUSTED_PROXY_IPS: '10.0.0.0/8' });
  });
  after(async () => {
    await Promise.all([trusted?.close(), untrusted?.close()]);
    await peers?.close();
  });

  test('a trusted X-Forwarded-Proto: https is served; http, or none, gets a 308 to the forwarded host', async () => {
    const b = new HttpBrowser();
    const https = await b.request(`${trusted.url}/app`, { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'app.example.com' } });
    assert.equal(https.status, 302, 'served: an anonymous browser is sent to sign in');
    assert.equal(https.headers.location, '/oauth2/sign_in?rd=%2Fapp');
    const http = await b.request(`${trusted.url}/app?x=1`, { headers: { 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'app.example.com' } });
    assert.equal(http.status, 308);
    assert.equal(http.headers.location, 'https://app.example.com/app?x=1');
    const none = await b.request(`${trusted.url}/app`);
    assert.equal(none.status, 308);
    assert.equal(none.headers.location, 'https://127.0.0.1/app', 'a port in Host becomes the HTTPS one: 443 without a TLS listener here');
  });

  test('an untrusted X-Forwarded-Proto: https changes nothing: still a 308, to the request\'s own Host', async () => {
    const res = await new HttpBrowser().request(`${untrusted.url}/app`, { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example' } });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, 'https://127.0.0.1/app');
    const ping = await new HttpBrowser().request(`${untrusted.url}/ping`);
    assert.equal(ping.status, 200);
  });

  test('a request with no usable Host is refused, not served over plain HTTP', async () => {
    const res = await new HttpBrowser().request(`${untrusted.url}/app`, { headers: { host: 'bad host', ...JSON_ACCEPT } });
    assert.equal(res.status, 400);
    assert.equal(JSON.parse(res.body).error, 'BAD_REQUEST');
  });
});
