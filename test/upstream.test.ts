import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Session } from '../src/session/codec.js';
import { stripClientIdentityHeaders } from '../src/upstream/headers.js';
import { IdentityHeaders, OWNED_IDENTITY_HEADERS, groupsValue, headerValue, isOwnedIdentityHeader } from '../src/upstream/identity.js';
import { routeMatches } from '../src/upstream/upstream.js';
import { table } from './support/table.js';

test('upstream routes: longest prefix, on path boundaries', () => {
  const longestFirst = (routes: string[]) => (p: string): string | undefined =>
    [...routes].sort((a, b) => b.length - a.length).find((r) => routeMatches(r, p));
  table([
    ['/anything', '/anything'], ['/anything/x', '/anything'], ['/anything/deep/1', '/anything/deep'],
    ['/anythingelse', '/'], ['/api', '/api/'], ['/api/v1', '/api/'], ['/', '/'], ['/other', '/'],
  ], longestFirst(['/anything/deep', '/anything', '/api/', '/']));
  table([['/anything', '/anything'], ['/anything/', '/anything'], ['/anythingelse', undefined], ['/', undefined]],
    longestFirst(['/anything']));
});

test('owned identity headers, in every spelling', () => {
  table([
    ['x-forwarded-user', true], ['x_forwarded_user', true], ['x-forwarded_email', true], ['x.forwarded.user', true],
    ['X-Forwarded-User', true], ['x-forwarded-groups', true], ['x-forwarded-preferred-username', true],
    ['x_forwarded_preferred_username', true], ['x-forwarded-access-token', true], ['x-auth-request-user', true],
    ['x_auth_request_email', true], ['x.auth.request.groups', true], ['x-auth-request-anything-new', true], ['gap-auth', true],
    ['x-forwarded-for', false], ['x-forwarded-proto', false], ['x-forwarded-host', false], ['authorization', false],
    ['x-forwarded-users', false], ['cookie', false],
  ], isOwnedIdentityHeader);
  const h = stripClientIdentityHeaders({ 'x-forwarded-user': 'm', x_forwarded_email: 'm', 'x.forwarded.groups': 'm', 'x-forwarded-for': '1.2.3.4', accept: '*/*' });
  assert.deepEqual(h, { 'x-forwarded-for': '1.2.3.4', accept: '*/*' });
});

/** x-a-b-c → x_a.b_c: a spelling that mixes both foldings. */
const mixed = (name: string): string => { let i = 0; return name.replace(/-/g, () => (i++ % 2 ? '.' : '_')); };

test('every identity header the proxy can emit is stripped when a client sends it, in every spelling', () => {
  const full: Session = {
    v: 1, user: 'u', sub: 'u', email: 'u@example.com', groups: ['g'], preferredUsername: 'p', accessToken: 't',
    createdAt: 0, expiresAt: Date.now() + 60_000,
  };
  const all = new IdentityHeaders({ passUserHeaders: true, passAccessToken: true });
  const emitted = [...all.forUpstream(full), ...all.forResponse(full)].map(([n]) => n);
  assert.equal(emitted.length, 10, 'five upstream and five forward-auth headers for a full session');
  for (const name of emitted) {
    assert.ok(OWNED_IDENTITY_HEADERS.has(name), `${name} is in the owned set`);
    const spellings = [name, name.toUpperCase(), name.replace(/-/g, '_'), name.replace(/-/g, '.'), mixed(name)];
    for (const s of spellings) assert.ok(isOwnedIdentityHeader(s.toLowerCase()), `${s} is stripped`);
  }
});

test('identity headers follow pass_user_headers and pass_access_token, and are built once per session', () => {
  const s: Session = { v: 1, user: 'u', sub: 'u', groups: [], accessToken: 't', createdAt: 0, expiresAt: Date.now() + 60_000 };
  assert.deepEqual(new IdentityHeaders({ passUserHeaders: true, passAccessToken: false }).forUpstream(s), [['x-forwarded-user', 'u']]);
  assert.deepEqual(new IdentityHeaders({ passUserHeaders: false, passAccessToken: true }).forUpstream(s), [['x-forwarded-access-token', 't']]);
  const h = new IdentityHeaders({ passUserHeaders: true, passAccessToken: true });
  assert.equal(h.forUpstream(s), h.forUpstream(s), 'the same list object for the same session');
});

test('a forward-auth answer carries every X-Auth-Request-* header it documents, empty for a claim the session lacks; upstream gets only the ones with values', () => {
  // Caddy 2.5-2.8's copy_headers sets a header missing from the answer to its placeholder's text (docs/caddy.md).
  const s: Session = { v: 1, user: 'u', sub: 'u', email: 'u@example.com', groups: [], createdAt: 0, expiresAt: Date.now() + 60_000 };
  const h = new IdentityHeaders({ passUserHeaders: true, passAccessToken: false });
  assert.deepEqual(h.forResponse(s), [['x-auth-request-user', 'u'], ['x-auth-request-email', 'u@example.com'], ['x-auth-request-groups', ''], ['x-auth-request-preferred-username', '']]);
  assert.deepEqual(h.forUpstream(s), [['x-forwarded-user', 'u'], ['x-forwarded-email', 'u@example.com']], 'no empty header upstream: the proxy strips the client\'s copies itself');
  const full = { ...s, groups: ['a', 'b'], preferredUsername: 'pu' };
  assert.deepEqual(h.forResponse(full).slice(2), [['x-auth-request-groups', 'a,b'], ['x-auth-request-preferred-username', 'pu']]);
  assert.deepEqual(new IdentityHeaders({ passUserHeaders: false, passAccessToken: false }).forResponse(s), [], 'nothing chosen, nothing answered');
  assert.deepEqual(new IdentityHeaders({ passUserHeaders: false, passAccessToken: false, passIdToken: true }).forResponse(s), [], 'never an empty Authorization');
});

test('header values: claims a header cannot carry are percent-encoded, injectively', () => {
  table([
    ['alice', 'alice'], ['alice@example.com', 'alice@example.com'], ['a b', 'a b'], ['', ''],
    ['josé', 'jos%C3%A9'], ['jos%C3%A9', 'jos%25C3%25A9'], ['100%', '100%25'],
    [' alice ', '%20alice%20'], ['alice ', 'alice%20'], [' ', '%20'],
    ['line\r\nX-Evil: 1', 'line%0D%0AX-Evil: 1'], ['tab\there', 'tab%09here'], ['日本', '%E6%97%A5%E6%9C%AC'], ['😀', '%F0%9F%98%80'],
  ], headerValue);
  table<string[], string>([
    [['admins', 'devs'], 'admins,devs'], [['users,admins'], 'users%2Cadmins'], [['a', 'b,c'], 'a,b%2Cc'], [['50%'], '50%25'],
  ], groupsValue);
  // Decoding gives every claim back, so no two claims share a header value.
  const claims = ['josé', 'jos%C3%A9', ' alice ', 'alice', 'a%20', 'a ', '%', '%25', 'x\ny'];
  const encoded = claims.map(headerValue);
  assert.equal(new Set(encoded).size, claims.length);
  assert.deepEqual(encoded.map(decodeURIComponent), claims);
  assert.deepEqual(groupsValue(['users,admins', 'x']).split(',').map(decodeURIComponent), ['users,admins', 'x']);
});

test('Authorization is the client\'s unless configured: then the proxy sets it and removes the client\'s copy', () => {
  const s: Session = { v: 1, user: 'u-1', sub: 'u-1', email: 'ana@example.com', groups: [], idToken: 'ey.id.tok', createdAt: 0, expiresAt: Date.now() + 60_000 };
  assert.equal(OWNED_IDENTITY_HEADERS.has('authorization'), false, 'never stripped at the door: API clients send their own');
  const plain = new IdentityHeaders({ passUserHeaders: true, passAccessToken: false });
  assert.deepEqual(plain.replaces, []);
  const bearer = new IdentityHeaders({ passUserHeaders: false, passAccessToken: false, passIdToken: true });
  assert.deepEqual(bearer.forUpstream(s), [['authorization', 'Bearer ey.id.tok']]);
  assert.deepEqual(bearer.forResponse(s), [['authorization', 'Bearer ey.id.tok']], 'set_authorization_header on forward-auth answers');
  assert.deepEqual(bearer.replaces, ['authorization']);
  assert.deepEqual(bearer.forUpstream({ ...s, idToken: undefined }), [], 'no ID token, no header (the client\'s is still removed)');
  const basic = new IdentityHeaders({ passUserHeaders: false, passAccessToken: false, basicAuthPassword: 'pw' });
  assert.deepEqual(basic.forUpstream(s), [['authorization', `Basic ${Buffer.from('u-1:pw').toString('base64')}`]]);
  assert.deepEqual(basic.forResponse(s), [['authorization', `Basic ${Buffer.from('u-1:pw').toString('base64')}`]], 'set_basic_auth on forward-auth answers (the road builds that instance only with it)');
  const basicEmail = new IdentityHeaders({ passUserHeaders: true, passAccessToken: false, basicAuthPassword: 'pw', basicUserIsEmail: true });
  assert.deepEqual(basicEmail.forResponse(s), [['x-auth-request-user', 'u-1'], ['x-auth-request-email', 'ana@example.com'], ['x-auth-request-groups', ''], ['x-auth-request-preferred-username', ''], ['authorization', `Basic ${Buffer.from('ana@example.com:pw').toString('base64')}`]], 'set_basic_auth with prefer_email_to_user: the email in Basic only');
  assert.deepEqual(basic.replaces, ['authorization']);
  const utf8 = new IdentityHeaders({ passUserHeaders: false, passAccessToken: false, basicAuthPassword: 'pä' });
  assert.equal(utf8.forUpstream({ ...s, user: 'josé' })[0]![1], `Basic ${Buffer.from('josé:pä', 'utf8').toString('base64')}`);
});

test('prefer_email_to_user: the email is the user (upstream and Basic), no X-Forwarded-Email; the user when there is no email', () => {
  const s: Session = { v: 1, user: 'u-1', sub: 'u-1', email: 'ana@example.com', groups: ['g'], createdAt: 0, expiresAt: Date.now() + 60_000 };
  const h = new IdentityHeaders({ passUserHeaders: true, passAccessToken: false, basicAuthPassword: 'pw', preferEmailToUser: true });
  assert.deepEqual(h.forUpstream(s), [
    ['x-forwarded-user', 'ana@example.com'], ['x-forwarded-groups', 'g'], ['authorization', `Basic ${Buffer.from('ana@example.com:pw').toString('base64')}`],
  ]);
  const noEmail = { ...s, email: undefined };
  assert.deepEqual(h.forUpstream(noEmail).slice(0, 1), [['x-forwarded-user', 'u-1']]);
});
