import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpBrowser } from './support/browser.js';
import { startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { startRedis, type RedisServer, startReady } from './support/redis.js';
import { ALICE, type Echoed } from './support/stack.js';
import type { DevAccount } from '../src/devissuer/issuer.js';

const BOB: DevAccount = { sub: 'bob-subject-0002', email: 'bob@example.com', email_verified: true, name: 'Bob', preferred_username: 'bob', groups: ['devs'] };
const JSON_ACCEPT = { accept: 'application/json' };

/** Logs `who` in through `proxy` in a fresh browser (or the one given); returns it with its cookie jar. */
async function login(peers: Peers, proxy: InProcess, who: DevAccount, browser = new HttpBrowser()): Promise<HttpBrowser> {
  peers.issuer.loginAs(who.sub);
  const res = await browser.navigate(`${proxy.url}/oauth2/start?rd=/after-login`);
  assert.equal(res.status, 200, `login ends on the upstream, got ${res.status} at ${res.url}: ${res.body.slice(0, 200)}`);
  return browser;
}

/** The user the upstream saw, or the status and error code the proxy answered with. */
async function whoAmI(browser: HttpBrowser, proxy: InProcess, cookie?: string): Promise<string> {
  const headers = cookie === undefined ? JSON_ACCEPT : { ...JSON_ACCEPT, cookie };
  const res = await browser.request(`${proxy.url}/whoami`, { headers });
  if (res.status !== 200) return `${res.status} ${(JSON.parse(res.body) as { error: string }).error}`;
  return String((JSON.parse(res.body) as Echoed).headers['x-forwarded-user']);
}

/** Polls (at most `ms`) until `check` holds; pub/sub messages reach the other replica within milliseconds. */
async function eventually(check: () => Promise<boolean>, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Redis session store (a real redis-server, standalone)', () => {
  let redis: RedisServer;
  let peers: Peers;
  let a: InProcess;
  let b: InProcess;
  let env: Record<string, string>;

  before(async () => {
    redis = await startRedis({ appendonly: true });
    const ports = [await freePort(), await freePort()];
    peers = await startPeers({ accounts: [ALICE, BOB], ports });
    env = { ...peers.env, OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: redis.url, OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true', OAUTH2_PROXY_COOKIE_EXPIRE: '2h' };
    a = await startReady(env, ports[0]);
    b = await startReady(env, ports[1]);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await peers?.close();
    await redis?.close();
  });

  test('the cookie holds only a ticket; Redis holds the session sealed with a per-session key, living cookie_expire', async () => {
    const browser = await login(peers, a, ALICE);
    const ticket = browser.cookies().get('_oauth2_proxy')!;
    assert.match(ticket, /^Fe26\.2\*/);
    assert.ok(ticket.length < 400, `a ticket is small (${ticket.length} characters)`);
    assert.equal(await whoAmI(browser, a), ALICE.sub);
    const keys = redis.cli('--scan', '--pattern', 'portcullis:_oauth2_proxy:session:*').trim().split('\n').filter(Boolean);
    assert.equal(keys.length, 1);
    const stored = redis.cli('get', keys[0]!);
    assert.match(stored, /^Fe26\.2\*/, 'the session in Redis is sealed');
    // pass_access_token puts the access token in the session; a dump of Redis shows neither it nor the email.
    const dump = redis.cli('--scan').split('\n').filter(Boolean).map((k) => `${k} ${redis.cli('type', k).trim() === 'string' ? redis.cli('get', k) : redis.cli('smembers', k)}`).join('\n');
    assert.doesNotMatch(dump, /alice/i);
    assert.doesNotMatch(dump, new RegExp(ALICE.sub));
    const ttl = Number(redis.cli('pttl', keys[0]!));
    assert.ok(ttl > 2 * 3600_000 - 60_000 && ttl <= 2 * 3600_000, `TTL follows cookie_expire=2h (got ${ttl} ms)`);
  });

  test('two replicas on one Redis: a login through one works through the other; sign-out through one ends it on both', async () => {
    const browser = await login(peers, a, ALICE);
    const cookie = `_oauth2_proxy=${browser.cookies().get('_oauth2_proxy')}`;
    assert.equal(await whoAmI(browser, a, cookie), ALICE.sub, 'A knows it (and has it cached now)');
    assert.equal(await whoAmI(browser, b, cookie), ALICE.sub, 'B knows it');
    const out = await browser.request(`${b.url}/oauth2/sign_out`);
    assert.equal(out.status, 302);
    assert.equal(await whoAmI(browser, b, cookie), '401 UNAUTHENTICATED', 'ended on B, which signed out');
    assert.ok(await eventually(async () => (await whoAmI(browser, a, cookie)) === '401 UNAUTHENTICATED'), 'ended on A, which had it cached');
  });

  test('every login issues a new ticket: a ticket planted in the browser is never reused', async () => {
    const mallory = await login(peers, a, BOB);
    const planted = mallory.cookies().get('_oauth2_proxy')!;
    const victim = new HttpBrowser();
    victim.setCookie('127.0.0.1', '_oauth2_proxy', planted);
    assert.equal(await whoAmI(victim, a), BOB.sub, 'the planted ticket is the attacker\'s own session');
    await login(peers, a, ALICE, victim);
    const issued = victim.cookies().get('_oauth2_proxy')!;
    assert.notEqual(issued, planted);
    assert.equal(await whoAmI(victim, a), ALICE.sub);
    assert.equal(await whoAmI(mallory, b, `_oauth2_proxy=${planted}`), BOB.sub, 'the planted ticket still names the attacker\'s session, not the victim\'s');
  });

  test('Redis down: 503 for requests that need a session, /ready says so, anonymous visitors still get the sign-in page; all recovers by itself', async () => {
    const browser = await login(peers, a, ALICE);
    assert.equal(await whoAmI(browser, a), ALICE.sub);
    assert.equal((await fetch(`${a.url}/ready`)).status, 200);
    await redis.stop();
    try {
      assert.ok(await eventually(async () => (await fetch(`${a.url}/ready`)).status === 503), '/ready turns 503');
      const ready = await (await fetch(`${a.url}/ready`)).text();
      const report = JSON.parse(ready) as { failed: string[]; checks: Record<string, { detail?: string }> };
      assert.deepEqual(report.failed, ['session_store']);
      assert.match(String(report.checks.session_store?.detail), /^redis: \w+/);
      assert.doesNotMatch(ready, /127\.0\.0\.1|:\d{2,5}/, 'no address on a public endpoint');
      assert.equal(await whoAmI(browser, a), '503 SESSION_STORE_UNAVAILABLE', 'a cached session is not believed while out of step');
      const page = await browser.request(`${a.url}/app`);
      assert.equal(page.status, 503);
      assert.match(page.body, /SESSION_STORE_UNAVAILABLE/);
      assert.equal((await fetch(`${a.url}/ping`)).status, 200);
      const anonymous = new HttpBrowser();
      assert.equal((await anonymous.request(`${a.url}/app`)).status, 302, 'no cookie: sent to sign in, no Redis needed');
      peers.issuer.loginAs(BOB.sub);
      const attempt = await anonymous.navigate(`${a.url}/oauth2/start?rd=/x`);
      assert.equal(attempt.status, 503, 'the login ends on a 503 page, not in a loop');
      assert.match(attempt.body, /SESSION_STORE_UNAVAILABLE/);
    } finally {
      await redis.start();
    }
    assert.ok(await eventually(async () => (await fetch(`${a.url}/ready`)).status === 200, 10_000), '/ready turns 200 again by itself');
    assert.equal(await whoAmI(browser, a), ALICE.sub, 'the session kept in Redis (appendonly) works again');
    assert.equal(await whoAmI(await login(peers, b, BOB), b), BOB.sub, 'a new login works');
    assert.ok(a.logs.lines.some((l) => l.event === 'redis_lost'), 'the outage is logged');
  });
});
