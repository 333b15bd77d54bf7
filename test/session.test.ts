import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sealData } from 'iron-session';
import { deriveSealPassword } from '../src/config/secret.js';
import type { CookieConfig } from '../src/config/validate.js';
import { SessionCodec, type Session } from '../src/session/codec.js';
import { chunkValue, cookieDomainFor, isChunkOf, parseCookies, readChunked } from '../src/session/cookies.js';
import { LoginStateCookies, type LoginState } from '../src/session/loginstate.js';
import { createSessionStore, type LoadedSession, type SessionStore } from '../src/session/store.js';
import { table } from './support/table.js';

test('cookies: parsing, chunking and cookie domains', () => {
  assert.deepEqual([...parseCookies('a=1; b=2;c=3; a=dup; bad; =x')], [['a', '1'], ['b', '2'], ['c', '3']]);
  const long = 'x'.repeat(9000);
  const parts = chunkValue('_p', long);
  assert.deepEqual(parts.map(([n, v]) => [n, v.length]), [['_p_0', 3800], ['_p_1', 3800], ['_p_2', 1400]]);
  assert.equal(readChunked(new Map(parts), '_p'), long);
  assert.deepEqual(chunkValue('_p', 'short'), [['_p', 'short']]);
  assert.equal(readChunked(new Map([['_p_1', 'x']]), '_p'), undefined, 'no chunk 0, no session');
  table<[string, string[]], string | undefined>([
    [['app.example.com', ['.example.com']], '.example.com'],
    [['app.example.com:8443', ['example.com', 'app.example.com']], 'app.example.com'],
    [['example.org', ['.example.com']], undefined],
    [['badexample.com', ['example.com']], undefined],
  ], ([host, domains]) => cookieDomainFor(host, domains));
});


test('chunk names: the cookie itself or NAME_<digits>, nothing else', () => {
  table<string, boolean>([
    ['_p', true], ['_p_0', true], ['_p_12', true],
    ['_p_', false], ['_p_x', false], ['_p_1x', false], ['_p0', false], ['_pp_0', false], ['_p_csrf_abc', false], ['x_p_0', false],
  ], (n) => isChunkOf(n, '_p'));
});

const SECRET = Buffer.alloc(32, 7);
const COOKIE: CookieConfig = { name: '_p', secret: SECRET, previousSecrets: [], domains: [], path: '/', expireMs: 3_600_000, refreshMs: 0, secure: true, httpOnly: true, sameSite: 'lax' };
const fields = { user: 'alice', sub: 'alice', email: 'a@example.com', groups: ['g'] };
const jar = (setCookies: string[]): Map<string, string> =>
  new Map(setCookies.map((c) => c.split(';')[0]!).filter((kv) => !kv.endsWith('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const loaded = async (store: SessionStore, cookies: Map<string, string>): Promise<LoadedSession | undefined> => store.load(cookies);

test('codec: a session seals and unseals; expired, tampered, suffixed and foreign seals are refused', async () => {
  const codec = new SessionCodec(deriveSealPassword(SECRET, 'session'), 3_600_000);
  const now = Date.now();
  const s: Session = { v: 1, sid: 'x', ...fields, createdAt: now, expiresAt: now + 60_000 };
  const sealed = await codec.seal(s);
  assert.match(sealed, /^Fe26\.2\*.*~2$/);
  assert.deepEqual(await codec.unseal(sealed), s);
  assert.equal(await codec.unseal(sealed, now + 61_000), undefined, 'expired by its own expiresAt');
  const fresh = new SessionCodec(deriveSealPassword(SECRET, 'session'), 3_600_000);
  for (const variant of [`${sealed}x`, `${sealed}~2`, sealed.replace(/~2$/, '~2 '), sealed.replace(/~2$/, ''), sealed.slice(0, -10) + 'AAAAAAAA~2', `${sealed.slice(0, 20)}${sealed.slice(21)}`]) {
    assert.equal(await fresh.unseal(variant), undefined, `refused: …${variant.slice(-12)}`);
  }
  const foreign = new SessionCodec(deriveSealPassword(Buffer.alloc(32, 8), 'session'), 3_600_000);
  assert.equal(await foreign.unseal(sealed), undefined);
  const notASession = await sealData({ v: 1, user: 5 }, { password: deriveSealPassword(SECRET, 'session'), ttl: 3600 });
  assert.equal(await fresh.unseal(notASession), undefined, 'a valid seal of the wrong shape');
});

test('codec cache: bounded, oldest out first, and honours expiry on a hit', async () => {
  const codec = new SessionCodec(deriveSealPassword(SECRET, 'session'), 3_600_000, 2);
  const now = Date.now();
  const seals = await Promise.all([0, 1, 2].map((i) => codec.seal({ v: 1, ...fields, user: `u${i}`, createdAt: now, expiresAt: now + 60_000 })));
  for (const s of seals) await codec.unseal(s);
  assert.equal(typeof codec.cached(seals[0]!), 'symbol', 'the oldest entry was evicted');
  assert.equal((codec.cached(seals[2]!) as Session).user, 'u2');
  assert.equal(codec.cached(seals[2]!, now + 61_000), undefined, 'an expired hit is no session');
  assert.equal(typeof codec.cached(seals[2]!), 'symbol', 'and is forgotten');
});

test('store: save gives a new id each login; sign-out revokes that id whatever the cookie spelling', async () => {
  const store = createSessionStore(COOKIE);
  const a = await store.save(fields, new Map(), undefined);
  const b = await store.save(fields, new Map(), undefined);
  assert.ok(a.session.sid && b.session.sid && a.session.sid !== b.session.sid);
  const cookies = jar(a.cookies);
  const first = await loaded(store, cookies);
  assert.equal(first?.id, a.session.sid);
  assert.equal(store.load(cookies) instanceof Promise, false, 'a cached session loads without a promise');
  const cleared = await store.clear(first, cookies, undefined);
  assert.match(cleared[0]!, /^_p=; Path=\/; Max-Age=0/);
  assert.equal(await loaded(store, cookies), undefined, 'the signed-out cookie is refused');
  assert.equal(await loaded(store, new Map([['_p', `${cookies.get('_p')}x`]])), undefined, 'so is a suffixed copy');
  assert.ok(await loaded(store, jar(b.cookies)), 'another login of the same user is untouched');
});

test('store: a large session is chunked, and stale chunks of a previous session are cleared', async () => {
  const store = createSessionStore(COOKIE);
  const big = await store.save({ ...fields, groups: Array.from({ length: 200 }, (_, i) => `group-number-${i}`) }, new Map(), undefined);
  const names = big.cookies.map((c) => c.split('=')[0]);
  assert.ok(names.length >= 2 && names.every((n) => /^_p_\d+$/.test(n!)), names.join());
  assert.equal((await loaded(store, jar(big.cookies)))?.session.groups.length, 200);
  const small = await store.save(fields, jar(big.cookies), undefined);
  assert.deepEqual(small.cookies.map((c) => c.split(';')[0]!.replace(/=.+/, '=…')), ['_p=…', ...names.map((n) => `${n}=`)]);
  assert.ok(store.ownsCookie('_p_3') && !store.ownsCookie('_p_csrf_x') && !store.ownsCookie('app'));
});

test('login state: read back only with the matching state, the same secret, and a well-formed seal', async () => {
  const ls = new LoginStateCookies(deriveSealPassword(SECRET, 'login-state'), COOKIE, '/oauth2');
  const state: LoginState = { state: 's'.repeat(43), nonce: 'n', codeVerifier: 'v', rd: '/x', redirectUri: 'http://127.0.0.1/oauth2/callback', startedAt: Date.now() };
  const setCookie = await ls.setCookie(state, undefined);
  // Kept an hour, past the 15-minute window, so that a late login is told it was late.
  assert.match(setCookie, /; Path=\/oauth2; Max-Age=3600;.*HttpOnly; Secure; SameSite=Lax$/);
  const cookies = jar([setCookie]);
  const name = ls.nameFor(state.state);
  for (const [s, c, want] of [[state.state, cookies, '/x'], ['t'.repeat(43), cookies, undefined], [state.state, new Map([[name, `${cookies.get(name)!.slice(0, -3)}x~2`]]), undefined], [state.state, new Map([[name, 'garbage']]), undefined], [state.state, new Map(), undefined],
    // Found by test/prop-session.test.ts: iron-session reads anything after `~2` as version 2.
    [state.state, new Map([[name, `${cookies.get(name)!} `]]), undefined], [state.state, new Map([[name, `${cookies.get(name)!}x`]]), undefined]] as const) {
    assert.equal((await ls.read(c, s))?.rd, want);
  }
  const other = new LoginStateCookies(deriveSealPassword(Buffer.alloc(32, 9), 'login-state'), COOKIE, '/oauth2');
  assert.equal(await other.read(cookies, state.state), undefined, 'another secret cannot read it');
});
