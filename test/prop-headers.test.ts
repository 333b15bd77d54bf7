// Identity headers, end to end through a real proxy and the echo upstream: whatever spelling of the
// proxy's header names a client sends (any case, `_` or `.` for `-`, repeated, folded onto a second
// line, named in Connection), none of its values reaches the upstream; the headers the proxy emits
// for a session always do. Requests go byte for byte over a socket, as no client library would.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OWNED_IDENTITY_HEADERS, foldHeaderName } from '../src/upstream/identity.js';
import { echoedIn } from './support/echoed.js';
import { exchange } from './support/http.js';
import { prop } from './support/prop.js';
import { loginThrough, startRig, type Rig } from './support/rig.js';

const NAMES = [...OWNED_IDENTITY_HEADERS, 'x-auth-request-anything', 'x-forwarded-user'];
/** The headers the proxy emits for the rig's session, by name. */
const EMITTED = ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-forwarded-preferred-username'];

/** One spelling of a header name: each letter in either case, each `-` as `-`, `_` or `.`. */
const spelling = fc.constantFrom(...NAMES).chain((name) => fc.tuple(
  fc.constant(name),
  fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }),
  fc.array(fc.constantFrom('-', '_', '.'), { minLength: name.length, maxLength: name.length }),
).map(([n, upper, dash]) => [...n].map((c, i) => (c === '-' ? dash[i]! : upper[i] ? c.toUpperCase() : c)).join('')));

const header = fc.record({
  name: spelling,
  value: fc.constantFrom('mallory', 'mallory@evil.example', 'admins,mallory', 'Bearer mallory'),
  // Node refuses a folded line (400): rarer, so most requests get through to be judged.
  form: fc.oneof({ arbitrary: fc.constantFrom('plain', 'empty-then', 'spaces'), weight: 12 }, { arbitrary: fc.constant('folded'), weight: 1 }),
});
const connection = fc.subarray([...NAMES, 'keep-alive', 'close', 'x-forwarded-for', 'cookie', 'x-other']);

function lines(hs: ReadonlyArray<{ name: string; value: string; form: string }>, conn: readonly string[]): string {
  const out = hs.map(({ name, value, form }) => {
    switch (form) {
      case 'folded': return `${name}: x\r\n ${value}`;
      case 'empty-then': return `${name}:\r\n${name}: ${value}`;
      case 'spaces': return `${name}:   ${value}   `;
      default: return `${name}: ${value}`;
    }
  });
  if (conn.length) out.push(`Connection: ${conn.join(', ')}`);
  return out.join('\r\n');
}

describe('identity headers a client sends never reach the upstream; the emitted ones always do', () => {
  let rig: Rig;
  let cookie: string;
  const counts = { answered: 0, refused: 0 };
  before(async () => {
    rig = await startRig({ env: { OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/public/', OAUTH2_PROXY_REQUEST_LOGGING: 'false' } });
    const b = await loginThrough(rig.proxy.url);
    cookie = `_oauth2_proxy=${b.cookies().get('_oauth2_proxy')}`;
  });
  after(async () => { await rig?.close(); });

  const send = (path: string, extra: string, withCookie: boolean): Promise<string> => exchange(rig.proxy.url, [
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n${withCookie ? `Cookie: ${cookie}\r\n` : ''}${extra}${extra ? '\r\n' : ''}Connection: close\r\n\r\n`,
  ]).then((x) => x.text);

  prop('signed in: the upstream sees the session\'s identity, every emitted header, and none of the client\'s values', 200, () => fc.asyncProperty(fc.array(header, { minLength: 1, maxLength: 6 }), connection, async (hs, conn) => {
    const text = await send('/app', lines(hs, conn), true);
    if (/^HTTP\/1\.1 400 /.test(text)) { counts.refused++; return; } // a header block Node's parser refuses (obs-fold, say)
    counts.answered++;
    const e = echoedIn(text);
    assert.ok(e, text.slice(0, 300));
    const planted = Object.entries(e.headers).filter(([, v]) => /mallory/.test(String(v))).map(([k]) => k);
    assert.deepEqual(planted, [], 'no value the client wrote');
    assert.equal(e.headers['x-forwarded-user'], rig.account.sub);
    assert.equal(e.headers['x-forwarded-email'], rig.account.email);
    for (const name of EMITTED) assert.ok(typeof e.headers[name] === 'string' && e.headers[name] !== '', `${name} is emitted`);
  }));

  prop('without a session on a public path: no header in the proxy\'s names at all', 200, () => fc.asyncProperty(fc.array(header, { minLength: 1, maxLength: 6 }), connection, async (hs, conn) => {
    const text = await send('/public/x', lines(hs, conn), false);
    if (/^HTTP\/1\.1 400 /.test(text)) { counts.refused++; return; }
    counts.answered++;
    const e = echoedIn(text);
    assert.ok(e, text.slice(0, 300));
    const owned = Object.keys(e.headers).filter((k) => OWNED_IDENTITY_HEADERS.has(foldHeaderName(k)) || foldHeaderName(k).startsWith('x-auth-request-'));
    assert.deepEqual(owned, []);
    assert.deepEqual(Object.entries(e.headers).filter(([, v]) => /mallory/.test(String(v))).map(([k]) => k), []);
  }));

  test('most of those requests reached the upstream (the properties are not passed by 400s alone)', () => {
    assert.ok(counts.answered > counts.refused, JSON.stringify(counts));
  });
});
