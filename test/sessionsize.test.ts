import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { cookieSecretBytes, deriveSealPassword } from '../src/config/secret.js';
import { SessionCodec } from '../src/session/codec.js';
import { chunkValue } from '../src/session/cookies.js';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { ALICE } from './support/stack.js';

/** 300 groups of about 40 characters: the session that locked users out for a week. */
const MANY = Array.from({ length: 300 }, (_, i) => `engineering-platform-team-member-grp-${String(i).padStart(3, '0')}`);

function rawStatus(port: number, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(head));
    let out = '';
    s.on('data', (c: Buffer) => { out += c.toString('latin1'); });
    s.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0)));
    s.on('error', reject);
  });
}

describe('session size: a login too large for cookies is refused, and nobody is locked out', () => {
  let peers: Peers;
  let proxy: InProcess;
  before(async () => {
    peers = await startPeers({ accounts: [{ ...ALICE, groups: MANY }] });
    proxy = await startInProcess(peers.env, peers.port);
  });
  after(async () => { await proxy?.close(); await peers?.close(); });

  test('the login is refused with a page that says why, and no session cookie is set', async () => {
    const b = new HttpBrowser();
    const res = await b.navigate(`${proxy.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 400);
    assert.match(res.body, /too much information/);
    assert.match(res.body, /SESSION_TOO_LARGE/);
    assert.deepEqual([...b.cookies().keys()].filter((n) => /^_oauth2_proxy(_\d+)?$/.test(n)), []);
    assert.equal((await b.request(`${proxy.url}/oauth2/sign_in`)).status, 200, 'the browser can still use the proxy');
  });

  test('a browser still holding a larger session from before can sign out, and every chunk is cleared', async () => {
    const secret = cookieSecretBytes(peers.env.OAUTH2_PROXY_COOKIE_SECRET!)!;
    const codec = new SessionCodec(deriveSealPassword(secret, 'session'), 3_600_000);
    const now = Date.now();
    const sealed = await codec.seal({ v: 1, sid: 'old', user: ALICE.sub, sub: ALICE.sub, email: ALICE.email, groups: MANY, createdAt: now, expiresAt: now + 3_600_000 });
    const chunks = chunkValue('_oauth2_proxy', sealed);
    assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
    const cookie = chunks.map(([n, v]) => `${n}=${v}`).join('; ');
    assert.ok(cookie.length > 16 * 1024, 'more than Node\'s default header limit');
    const b = new HttpBrowser();
    for (const [n, v] of chunks) b.setCookie('127.0.0.1', n, v);
    const page = await b.request(`${proxy.url}/app`, { headers: { accept: 'application/json' } });
    assert.equal(page.status, 200, 'the session still works until it is replaced');
    const out = await b.request(`${proxy.url}/oauth2/sign_out`);
    assert.equal(out.status, 302);
    assert.deepEqual([...b.cookies().keys()].filter((n) => n.startsWith('_oauth2_proxy')), []);
  });

  test('a request head over 32 KiB gets 431, and the proxy keeps serving', async () => {
    const port = Number(new URL(proxy.url).port);
    assert.equal(await rawStatus(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`), 431);
    assert.equal((await fetch(`${proxy.url}/ping`)).status, 200);
  });
});

describe('abandoned logins do not pile up cookies', () => {
  let peers: Peers;
  let proxy: InProcess;
  before(async () => {
    peers = await startPeers();
    proxy = await startInProcess(peers.env, peers.port);
  });
  after(async () => { await proxy?.close(); await peers?.close(); });

  test('thirty abandoned /oauth2/start with a 2 KB rd leave at most 5 login-state cookies, and login still works', async () => {
    const b = new HttpBrowser();
    const longRd = `/app?${'x'.repeat(2000)}`;
    for (let i = 0; i < 30; i++) {
      const res = await b.request(`${proxy.url}/oauth2/start?rd=${encodeURIComponent(i % 2 ? longRd : `/p${i}`)}`);
      assert.equal(res.status, 302, `start #${i}: ${res.status}`);
    }
    const held = [...b.cookies().keys()].filter((n) => n.startsWith('_oauth2_proxy_csrf_'));
    assert.ok(held.length <= 5, `${held.length} login-state cookies`);
    const tooLong = await b.request(`${proxy.url}/oauth2/start?rd=${encodeURIComponent(`/x?${'y'.repeat(3000)}`)}`);
    assert.equal(tooLong.status, 302);
    const done = await b.navigate(tooLong.headers.location!);
    assert.equal(done.status, 200, done.body.slice(0, 200));
    assert.equal(new URL(done.url).pathname, '/', 'an over-long rd falls back to /');
  });
});
