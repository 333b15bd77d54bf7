// Properties of the session and login-state cookies: sealing, chunking, the seal's `~N` suffix and
// revocations. Generators build sessions field by field, and mutate real seals where they are
// structured (iron's `*`-separated fields, the `~2` version suffix, chunk names and order).
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SessionCodec, type Session } from '../src/session/codec.js';
import { chunkValue, isChunkOf, parseCookies, readChunked } from '../src/session/cookies.js';
import { LoginStateCookies, type LoginState } from '../src/session/loginstate.js';
import { Revocations, type Revocation } from '../src/session/revocations.js';
import type { CookieConfig } from '../src/config/validate.js';
import { prop } from './support/prop.js';

const PASSWORD = randomBytes(32).toString('base64url');
const OTHER_PASSWORD = randomBytes(32).toString('base64url');
const TTL_MS = 7 * 86_400_000;
const NOW = Date.now();

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const token = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~'), minLength: 1, maxLength: 300 });
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

/** A session as the proxy makes them: every field, optional ones present or not, claims as lists of strings. */
const sessionArb: fc.Arbitrary<Session> = fc.record({
  sid: opt(fc.base64String({ minLength: 4, maxLength: 24 })),
  user: text, sub: text, issuerSid: opt(text), email: opt(fc.emailAddress()),
  groups: fc.array(text, { maxLength: 8 }), preferredUsername: opt(text), acr: opt(text),
  authTime: opt(fc.integer({ min: 0, max: 2 ** 31 })),
  claims: opt(fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => k !== '__proto__'), fc.array(text, { maxLength: 4 }), { maxKeys: 4 }).map((d) => ({ ...d }))),
  createdAt: fc.integer({ min: NOW - TTL_MS, max: NOW }),
  expiresAt: fc.integer({ min: NOW + 60_000, max: NOW + TTL_MS }),
  accessToken: opt(token), refreshToken: opt(token), idToken: opt(token),
}, { requiredKeys: ['user', 'sub', 'groups', 'createdAt', 'expiresAt'] }).map((s) => {
  // JSON drops undefined: the session as it comes back has no such keys.
  const out: Record<string, unknown> = { v: 1 };
  for (const [k, v] of Object.entries(s)) if (v !== undefined) out[k] = v;
  return out as unknown as Session;
});

/** One structured change to a seal: where iron's fields, its `~2` suffix and its characters are. */
const sealMutation = fc.oneof(
  fc.record({ kind: fc.constant('char' as const), at: fc.nat(), to: fc.constantFrom(...'AZaz09-_*~.=+/ %') }),
  fc.record({ kind: fc.constant('field' as const), field: fc.nat({ max: 8 }), to: fc.oneof(fc.constant(''), fc.base64String({ maxLength: 60 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'))) }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat({ max: 8 }), b: fc.nat({ max: 8 }) }),
  fc.record({ kind: fc.constant('suffix' as const), to: fc.constantFrom('', '~', '~1', '~3', '~20', '~2~2', '~2x', '~2 ', '~02', '*~2') }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), s: fc.string({ maxLength: 8 }) }),
);
type SealMutation = typeof sealMutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(sealed: string, m: SealMutation): string {
  const [body, ...rest] = sealed.split('~');
  const suffix = rest.length ? `~${rest.join('~')}` : '';
  const fields = body!.split('*');
  switch (m.kind) {
    case 'char': { const i = m.at % sealed.length; return sealed.slice(0, i) + m.to + sealed.slice(i + 1); }
    case 'field': { const f = [...fields]; f[m.field % f.length] = m.to; return f.join('*') + suffix; }
    case 'swap': { const f = [...fields]; const a = m.a % f.length; const b = m.b % f.length; [f[a], f[b]] = [f[b]!, f[a]!]; return f.join('*') + suffix; }
    case 'suffix': return body + m.to;
    case 'truncate': return sealed.slice(0, m.at % sealed.length);
    case 'append': return sealed + m.s;
  }
}

/** The bytes each iron field stands for: a mutation that changes no decoded byte is the same seal, spelt otherwise. */
function sameSealBytes(a: string, b: string): boolean {
  const fa = a.split('*');
  const fb = b.split('*');
  if (fa.length !== fb.length) return false;
  return fa.every((x, i) => x === fb[i] || (/^[A-Za-z0-9_-]+(~2)?$/.test(x) && /^[A-Za-z0-9_-]+(~2)?$/.test(fb[i]!)
    && x.endsWith('~2') === fb[i]!.endsWith('~2') && Buffer.from(x.replace(/~2$/, ''), 'base64url').equals(Buffer.from(fb[i]!.replace(/~2$/, ''), 'base64url'))));
}

const COOKIE: CookieConfig = { name: '_oauth2_proxy', secure: true, sameSite: 'lax' } as CookieConfig;

describe('session cookies', () => {
  prop('seal → unseal round-trips every session (a fresh codec: no cache)', 60, () => fc.asyncProperty(sessionArb, async (s) => {
    const sealed = await new SessionCodec(PASSWORD, TTL_MS).seal(s);
    assert.deepEqual(await new SessionCodec(PASSWORD, TTL_MS).unseal(sealed, NOW), s);
  }));

  prop('a seal mutated in any field, suffix or character never unseals (and never throws), unless it spells the same bytes', 150, () => {
    const sealed = new SessionCodec(PASSWORD, TTL_MS).seal({ v: 1, sid: 'abc', user: 'u', sub: 'u', groups: ['g'], createdAt: NOW, expiresAt: NOW + TTL_MS });
    return fc.asyncProperty(fc.array(sealMutation, { minLength: 1, maxLength: 3 }), async (ms) => {
      const original = await sealed;
      const changed = ms.reduce(mutate, original);
      const got = await new SessionCodec(PASSWORD, TTL_MS).unseal(changed, NOW);
      if (changed === original) assert.ok(got);
      else assert.equal(got, undefined, `a session for ${JSON.stringify(changed)}`);
    });
  });

  prop('bytes the codec did not seal, and seals by another secret, are no session', 100, () => fc.asyncProperty(
    fc.oneof(fc.string({ maxLength: 400 }), fc.base64String({ maxLength: 400 }).map((b) => `Fe26.2**${b}~2`),
      sessionArb.chain((s) => fc.constant(s)).map((s) => ({ foreign: s }))),
    async (x) => {
      const value = typeof x === 'string' ? x : await new SessionCodec(OTHER_PASSWORD, TTL_MS).seal(x.foreign);
      assert.equal(await new SessionCodec(PASSWORD, TTL_MS).unseal(value, NOW), undefined);
    }));

  prop('an expired session never comes back, cached or not', 40, () => fc.asyncProperty(sessionArb, fc.integer({ min: 0, max: TTL_MS }), async (s, late) => {
    const codec = new SessionCodec(PASSWORD, TTL_MS);
    const sealed = await codec.seal(s);
    codec.prime(sealed, s);
    const at = s.expiresAt + late;
    assert.equal(await codec.unseal(sealed, at), undefined);
    assert.equal(await new SessionCodec(PASSWORD, TTL_MS).unseal(sealed, at), undefined);
  }));

  prop('chunks: a Cookie header with the chunks in any order, among other cookies, reassembles to the seal; a missing, repeated or altered chunk never makes a session', 80, () => {
    const big: Session = { v: 1, sid: 'chunky', user: 'u', sub: 'u', groups: Array.from({ length: 300 }, (_, i) => `group-number-${i}`), createdAt: NOW, expiresAt: NOW + TTL_MS };
    const sealed = new SessionCodec(PASSWORD, TTL_MS).seal(big);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), value: fc.string({ maxLength: 20 }) }),
      fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), to: fc.constantFrom('_oauth2_proxy_09', '_oauth2_proxy_1x', '_oauth2_proxy', '_oauth2_proxy_-1', '_oauth2_proxy_7') }),
      fc.record({ kind: fc.constant('other' as const), name: fc.constantFrom('a', 'session', '_oauth2_proxy_csrf', '_oauth2_proxyx'), value: fc.string({ maxLength: 20 }).filter((v) => !/[;]/.test(v)) }),
    );
    return fc.asyncProperty(fc.array(op, { maxLength: 4 }), fc.infiniteStream(fc.nat()), async (ops, order) => {
      const value = await sealed;
      let pairs = chunkValue('_oauth2_proxy', value);
      assert.ok(pairs.length > 1, 'the session needs chunks');
      for (const o of ops) {
        const i = 'at' in o ? o.at % Math.max(1, pairs.length) : 0;
        if (o.kind === 'drop' && pairs.length) pairs = pairs.filter((_, k) => k !== i);
        if (o.kind === 'dup' && pairs.length) pairs = [...pairs, [pairs[i]![0], o.value]];
        if (o.kind === 'rename' && pairs.length) pairs = pairs.map((p, k) => (k === i ? [o.to, p[1]] : p));
        if (o.kind === 'other') pairs = [...pairs, [o.name, o.value]];
      }
      const it = order[Symbol.iterator]();
      const shuffled = pairs.map((p) => [it.next().value as number, p] as const).sort((a, b) => a[0] - b[0]).map(([, p]) => p);
      const jar = parseCookies(shuffled.map(([n, v]) => `${n}=${v}`).join('; '));
      const read = readChunked(jar, '_oauth2_proxy');
      const got = read === undefined ? undefined : await new SessionCodec(PASSWORD, TTL_MS).unseal(read, NOW);
      if (read === value) assert.deepEqual(got, big);
      else assert.equal(got, undefined, 'only the exact seal is a session');
    });
  });

  // The reading every earlier release did, word for word: parseCookies scans by hand for speed
  // and must give the same map for any header, whitespace of every kind and odd separators included.
  const bySplit = (header: string): Map<string, string> => {
    const out = new Map<string, string>();
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const name = part.slice(0, eq).trim();
      if (name && !out.has(name)) out.set(name, part.slice(eq + 1).trim());
    }
    return out;
  };
  const cookieChar = fc.constantFrom(...'ab_=;; \t\n\u000b\u00a0\u2028\ufeff\u3000"é,'.split(''));
  prop('parseCookies reads any Cookie header as splitting on ; and trimming each name and value does', 2000, () => fc.property(
    fc.oneof(fc.string({ unit: cookieChar, maxLength: 40 }), fc.string({ maxLength: 40 }), fc.array(fc.tuple(fc.string({ unit: cookieChar, maxLength: 6 }), fc.string({ unit: cookieChar, maxLength: 6 })), { maxLength: 6 }).map((ps) => ps.map(([n, v]) => `${n}=${v}`).join('; '))),
    (header) => assert.deepEqual([...parseCookies(header)], [...bySplit(header)])));

  prop('chunk names: a cookie belongs to the session exactly when it is NAME or NAME_<digits>', 500, () => fc.property(
    fc.constantFrom('_oauth2_proxy', 's', 'a_b'), fc.oneof(fc.string({ maxLength: 20 }), fc.tuple(fc.constantFrom('', '_', '__', '_0', '_1', '_12', '_x', '_1_2', '0', '_٣'), fc.string({ unit: fc.constantFrom(...'0123456789:/_x٣ -.'), maxLength: 4 })).map(([a, b]) => a + b)),
    (base, tail) => {
      const name = tail.startsWith(base) ? tail : base + tail;
      assert.equal(isChunkOf(name, base), name === base || new RegExp(`^${base}_[0-9]+$`).test(name));
    }));
});

describe('login-state cookies', () => {
  const loginState: fc.Arbitrary<LoginState> = fc.record({
    state: fc.base64String({ minLength: 8, maxLength: 60 }), nonce: fc.base64String({ minLength: 8, maxLength: 60 }),
    codeVerifier: fc.base64String({ minLength: 43, maxLength: 128 }), rd: fc.webPath().map((p) => `/${p.replace(/^\/+/, '')}`),
    redirectUri: fc.webUrl(), startedAt: fc.integer({ min: NOW - 600_000, max: NOW }),
  });
  const cookies = new LoginStateCookies(PASSWORD, COOKIE, '/oauth2');
  const jarOf = (setCookie: string): Map<string, string> => parseCookies(setCookie.split(';')[0]);

  prop('what setCookie sealed, read gives back for its own state, and for no other state', 60, () => fc.asyncProperty(loginState, fc.base64String({ minLength: 8, maxLength: 60 }), async (ls, other) => {
    const jar = jarOf(await cookies.setCookie(ls, undefined));
    assert.deepEqual(await cookies.read(jar, ls.state), JSON.parse(JSON.stringify(ls)));
    if (other !== ls.state) assert.equal(await cookies.read(jar, other), undefined);
  }));

  prop('a login-state seal mutated anywhere, or one sealed with another secret, is no login', 100, () => fc.asyncProperty(loginState, fc.array(sealMutation, { minLength: 1, maxLength: 2 }), fc.boolean(), async (ls, ms, foreign) => {
    const set = await (foreign ? new LoginStateCookies(OTHER_PASSWORD, COOKIE, '/oauth2') : cookies).setCookie(ls, undefined);
    const [name, value] = set.split(';')[0]!.split(/=(.*)/s) as [string, string];
    const changed = foreign ? value : ms.reduce(mutate, value);
    const got = await cookies.read(new Map([[name, changed]]), ls.state);
    if (!foreign && (changed === value || sameSealBytes(changed, value))) return;
    assert.equal(got, undefined);
  }));
});

describe('revocations', () => {
  const TTL = 1000;
  const op = fc.record({
    kind: fc.constantFrom('id', 'sid', 'sub') as fc.Arbitrary<Revocation['kind']>,
    value: fc.constantFrom('a', 'b', 'c'),
    at: fc.integer({ min: 0, max: 5000 }),
  });
  const sessionAt = fc.record({ id: fc.constantFrom('a', 'b', 'c', 'd'), sid: fc.option(fc.constantFrom('a', 'b', 'c', 'd'), { nil: undefined }), sub: fc.constantFrom('a', 'b', 'c', 'd'), createdAt: fc.integer({ min: 0, max: 5000 }) });

  prop('a live session is covered exactly when some revocation still in force names its id, its issuer sid, or its subject at or after its start', 500, () => fc.property(fc.array(op, { maxLength: 12 }), sessionAt, fc.integer({ min: 0, max: 7000 }), (ops, s, now) => {
    // As the store makes them: a revocation at `at` lasts until every session it can cover has expired.
    const r = new Revocations();
    const sorted = ops.filter((o) => o.at <= now).sort((a, b) => a.at - b.at);
    for (const o of sorted) {
      const revocation: Revocation = o.kind === 'sub' ? { kind: 'sub', value: o.value, before: o.at } : { kind: o.kind, value: o.value };
      r.add({ revocation, until: o.at + TTL }, o.at);
    }
    fc.pre(s.createdAt + TTL > now && s.createdAt <= now); // only a live session matters
    const session = { v: 1 as const, user: s.sub, sub: s.sub, groups: [], createdAt: s.createdAt, expiresAt: s.createdAt + TTL, ...(s.sid ? { issuerSid: s.sid } : {}) };
    const model = sorted.some((o) => o.at + TTL > now && (
      (o.kind === 'id' && o.value === s.id) || (o.kind === 'sid' && o.value === s.sid) || (o.kind === 'sub' && o.value === s.sub && o.at >= s.createdAt)));
    assert.equal(r.covers(session, s.id, now), model);
  }));
});
