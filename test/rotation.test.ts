import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { runShell } from './support/docenv.js';
import { startPeers, type InProcess } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { startRedis, startReady } from './support/redis.js';
import { ALICE, type Echoed } from './support/stack.js';

const JSON_ACCEPT = { accept: 'application/json' };

/** The user the upstream saw with this session cookie (or the status), and the session cookie the answer set, if any. */
async function use(url: string, value: string): Promise<{ user: string; setCookie?: string }> {
  const b = new HttpBrowser();
  const res = await b.request(`${url}/page`, { headers: { ...JSON_ACCEPT, cookie: `_oauth2_proxy=${value}` } });
  const set = (res.headers['set-cookie'] ?? []).find((c) => c.startsWith('_oauth2_proxy='));
  const user = res.status === 200 ? String((JSON.parse(res.body) as Echoed).headers['x-forwarded-user']) : String(res.status);
  return { user, setCookie: set && set.slice('_oauth2_proxy='.length, set.indexOf(';')) };
}

/**
 * Rotation across restarts: sign in under secret A; restart with B first and A after: the old
 * cookie still works and comes back re-sealed with B; restart with B alone: the old cookie is gone,
 * the re-sealed one lives on.
 */
async function rotate(extra: Record<string, string>, secretsEnv: (secrets: string[]) => Record<string, string>, given?: readonly [string, string]): Promise<void> {
  const port = await freePort();
  const peers = await startPeers({ ports: [port] });
  const [A, B] = given ?? [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')];
  const env = (secrets: string[]): Record<string, string> => {
    const e: Record<string, string> = { ...peers.env, ...extra, ...secretsEnv(secrets) };
    if (e.OAUTH2_PROXY_COOKIE_SECRET_FILE) delete e.OAUTH2_PROXY_COOKIE_SECRET;
    return e;
  };
  let proxy: InProcess | undefined;
  try {
    proxy = await startReady(env([A]), port);
    const browser = new HttpBrowser();
    assert.equal((await browser.navigate(`${proxy.url}/oauth2/start?rd=/page`)).status, 200);
    const old = browser.cookies().get('_oauth2_proxy')!;
    const first = await use(proxy.url, old);
    assert.equal(first.user, ALICE.sub);
    assert.equal(first.setCookie, undefined, 'a cookie sealed with the newest secret is left alone');
    await proxy.close();

    proxy = await startReady(env([B, A]), port);
    const during = await use(proxy.url, old);
    assert.equal(during.user, ALICE.sub, 'the old cookie works after the rotation');
    assert.ok(during.setCookie && during.setCookie !== old, 'and comes back re-sealed with the new secret');
    const resealed = during.setCookie;
    // The old cookie is now in the process's session cache: a client that did not take the new
    // one (a forward-auth answer's cookies never reach the browser) still gets it re-sealed.
    const cached = await use(proxy.url, old);
    assert.equal(cached.user, ALICE.sub);
    assert.ok(cached.setCookie && cached.setCookie !== old, 'the old cookie, read again from the cache, is re-sealed again');
    const again = await use(proxy.url, resealed);
    assert.equal(again.user, ALICE.sub);
    assert.equal(again.setCookie, undefined, 'the re-sealed cookie needs no more re-sealing');
    await proxy.close();

    proxy = await startReady(env([B]), port);
    assert.equal((await use(proxy.url, old)).user, '401', 'with the old secret dropped, the old cookie is gone');
    assert.equal((await use(proxy.url, resealed)).user, ALICE.sub, 'the re-sealed one is not');
  } finally {
    await proxy?.close();
    await peers.close();
  }
}

test('cookie sessions: cookie_secret=B,A re-seals an A cookie on use; dropping A ends the cookies not re-sealed', async () => {
  await rotate({}, (secrets) => ({ OAUTH2_PROXY_COOKIE_SECRET: secrets.join(',') }));
});

test('docs/sessions.md as written: its two steps, run by bash, rotate without signing anyone out', async () => {
  const steps = docBlock('sessions-rotate-secret', 'sh').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('OAUTH2_PROXY_COOKIE_SECRET='));
  assert.equal(steps.length, 2);
  const OLD = randomBytes(32).toString('base64url');
  const value = (line: string, env: Record<string, string>): string => runShell(`${line}\nprintf %s "$OAUTH2_PROXY_COOKIE_SECRET"`, { cwd: tmpdir(), env });
  const step1 = value(steps[0]!, { OLD_SECRET: OLD });
  const [NEW, old] = step1.split(',');
  assert.equal(old, OLD, 'step 1 keeps the old secret second');
  assert.match(NEW!, /^[A-Za-z0-9_-]{43}=$/, 'a new random 32-byte secret, base64url');
  const step2 = value(steps[1]!, { NEW_SECRET: NEW! });
  assert.equal(step2, NEW);
  // The proxy before (OLD), after step 1 and after step 2, each time with the value the shell set.
  const byPhase = (secrets: string[]): string => (secrets.length === 2 ? step1 : secrets[0] === OLD ? OLD : step2);
  await rotate({}, (secrets) => ({ OAUTH2_PROXY_COOKIE_SECRET: byPhase(secrets) }), [OLD, NEW!]);
});

test('Redis sessions with cookie_secret_file (one secret per line): the ticket is re-sealed the same way', async () => {
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-secrets-'));
  const file = join(dir, 'cookie-secret');
  try {
    await rotate({ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: redis.url }, (secrets) => {
      writeFileSync(file, `${secrets.join('\n')}\n`);
      return { OAUTH2_PROXY_COOKIE_SECRET_FILE: file };
    });
  } finally {
    await redis.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a login under way when the secret rotates still completes (its login-state cookie is unsealed with the older secret)', async () => {
  const port = await freePort();
  const peers = await startPeers({ ports: [port] });
  const [A, B] = [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')];
  let proxy: InProcess | undefined;
  try {
    proxy = await startReady({ ...peers.env, OAUTH2_PROXY_COOKIE_SECRET: A }, port);
    const browser = new HttpBrowser();
    const atCallback = await browser.navigate(`${proxy.url}/oauth2/start?rd=/page`, { stopAt: (u) => u.pathname === '/oauth2/callback' });
    await proxy.close();
    proxy = await startReady({ ...peers.env, OAUTH2_PROXY_COOKIE_SECRET: `${B},${A}` }, port);
    const landed = await browser.navigate(atCallback.url);
    assert.equal(landed.status, 200, landed.body.slice(0, 200));
    assert.equal((await use(proxy.url, browser.cookies().get('_oauth2_proxy')!)).user, ALICE.sub);
    await proxy.close();
    proxy = await startReady({ ...peers.env, OAUTH2_PROXY_COOKIE_SECRET: B }, port);
    assert.equal((await use(proxy.url, browser.cookies().get('_oauth2_proxy')!)).user, ALICE.sub, 'the session it made is sealed with the new secret');
  } finally {
    await proxy?.close();
    await peers.close();
  }
});
