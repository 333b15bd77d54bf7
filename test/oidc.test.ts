import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import type { ProviderConfig } from '../src/config/validate.js';
import { PortcullisError } from '../src/errors.js';
import { classify, refreshEndsSession } from '../src/oidc/classify.js';
import { claimAt, identityFromClaims, needsUserinfo } from '../src/oidc/identity.js';
import { table } from './support/table.js';

const P = { emailClaim: 'email', groupsClaim: 'groups', allowUnverifiedEmail: false } as ProviderConfig;

test('claims → identity: subject, email, groups, username; email_verified=false refused unless allowed', () => {
  const run = ([trusted, extra, p]: [Record<string, unknown>, Record<string, unknown> | undefined, Partial<ProviderConfig>?]): unknown => {
    try {
      return identityFromClaims(trusted, extra, { ...P, ...p });
    } catch (e) {
      return (e as PortcullisError).code;
    }
  };
  table<[Record<string, unknown>, Record<string, unknown> | undefined, Partial<ProviderConfig>?], unknown>([
    [[{ sub: 'a', email: 'a@x', groups: ['g'], preferred_username: 'al' }, undefined],
      { user: 'a', sub: 'a', email: 'a@x', groups: ['g'], preferredUsername: 'al' }],
    // Userinfo fills what the verified ID token lacks, and never overrides it.
    [[{ sub: 'a' }, { sub: 'evil', email: 'a@x', groups: 'one' }], { user: 'a', sub: 'a', email: 'a@x', groups: ['one'], preferredUsername: undefined }],
    [[{ sub: 'a', email: 'a@x' }, { email: 'other@x' }], { user: 'a', sub: 'a', email: 'a@x', groups: [], preferredUsername: undefined }],
    [[{ sub: '' }, undefined], 'NO_IDENTITY'],
    [[{ email: 'a@x' }, undefined], 'NO_IDENTITY'],
    [[{ sub: 5 }, undefined], 'NO_IDENTITY'],
    [[{ sub: 'a', email: 'a@x', email_verified: false }, undefined], 'EMAIL_UNVERIFIED'],
    [[{ sub: 'a', email: 'a@x', email_verified: 'false' }, undefined], 'EMAIL_UNVERIFIED'],
    [[{ sub: 'a', email: 'a@x' }, { email_verified: false }], 'EMAIL_UNVERIFIED'],
    // email_verified speaks of the email claim: another claim read as the email is not judged by it (oauth2-proxy).
    [[{ sub: 'a', email: 'a@x', email_verified: false, upn: 'a@corp' }, undefined, { emailClaim: 'upn' }],
      { user: 'a', sub: 'a', email: 'a@corp', groups: [], preferredUsername: undefined }],
    [[{ sub: 'a', email: 'a@x', email_verified: false }, undefined, { allowUnverifiedEmail: true }],
      { user: 'a', sub: 'a', email: 'a@x', groups: [], preferredUsername: undefined }],
    [[{ sub: 'a', email_verified: false }, undefined], { user: 'a', sub: 'a', email: undefined, groups: [], preferredUsername: undefined }],
    // The user (X-Forwarded-User) is the subject whatever other claims say, as in oauth2-proxy.
    [[{ sub: 'a', mail: 'm@x', roles: ['r', 3, ''], uid: 'u1' }, undefined, { emailClaim: 'mail', groupsClaim: 'roles' }],
      { user: 'a', sub: 'a', email: 'm@x', groups: ['r'], preferredUsername: undefined }],
  ], run);
});

test('a claim by its configured name: the whole name first, then a path of dot-separated keys (oauth2-proxy\'s reading)', () => {
  const claims = {
    sub: 'a',
    realm_access: { roles: ['admin', 'ops'] },
    resource_access: { portal: { roles: ['viewer'] } },
    'https://example.com/groups': ['namespaced'],
    'a.b': 'whole name',
    a: { b: 'path', list: [{ c: 'in a list' }] },
    empty: null,
  };
  table<string, unknown>([
    ['sub', 'a'],
    ['realm_access.roles', ['admin', 'ops']],
    ['resource_access.portal.roles', ['viewer']],
    // A namespaced claim (Auth0) is a claim of that whole name, dots and all.
    ['https://example.com/groups', ['namespaced']],
    // The whole name wins over the path that spells it.
    ['a.b', 'whole name'],
    ['realm_access.missing', undefined],
    ['realm_access.roles.0', undefined],
    ['a.list.0.c', undefined],
    ['empty.x', undefined],
    ['sub.length', undefined],
    ['missing', undefined],
    ['.', undefined],
    ['realm_access.', undefined],
    // Only the claims' own keys: nothing inherited from Object.prototype.
    ['constructor', undefined],
    ['a.constructor', undefined],
    ['__proto__', undefined],
  ], (name) => claimAt(claims, name));
});

test('nested claims in the identity: Keycloak\'s realm_access.roles as groups, a nested email; userinfo is asked when the path is missing', () => {
  const keycloak = { sub: 'k', realm_access: { roles: ['admin', 'offline_access'] }, ext: { uid: 'u-7', mail: 'k@x' } };
  const p = { ...P, groupsClaim: 'realm_access.roles', emailClaim: 'ext.mail' } as ProviderConfig;
  assert.deepEqual(identityFromClaims(keycloak, undefined, p), { user: 'k', sub: 'k', email: 'k@x', groups: ['admin', 'offline_access'], preferredUsername: undefined });
  // The path in userinfo when the ID token lacks it; the ID token's own value when it has it.
  assert.deepEqual(identityFromClaims({ sub: 'k' }, { realm_access: { roles: ['from-userinfo'] } }, p).groups, ['from-userinfo']);
  assert.equal(needsUserinfo({ sub: 'k', ext: { mail: 'k@x' } }, p), true, 'realm_access.roles is missing from the ID token');
  assert.equal(needsUserinfo(keycloak, p), false);
  // Each source is read on its own, the verified one first (a merge of the two would lose or swap these).
  assert.deepEqual(identityFromClaims({ sub: 'k', realm_access: { other: 1 } }, { realm_access: { roles: ['admin'] } }, p).groups, ['admin'],
    'the ID token\'s realm_access without roles does not hide userinfo\'s');
  assert.deepEqual(identityFromClaims({ sub: 'k', realm_access: { roles: ['viewer'] } }, { 'realm_access.roles': ['admin'] }, p).groups, ['viewer'],
    'userinfo\'s claim of the whole dotted name never outranks the verified ID token\'s path');
  assert.deepEqual(identityFromClaims({ sub: 'k', groups: null }, { groups: ['from-userinfo'] }, P).groups, ['from-userinfo'], 'null counts as missing');
  assert.equal(needsUserinfo({ sub: 'k', email: 'k@x', groups: null }, P), true);
  // A routes_file rule's claim is read the same way, and kept under the name the rule gives it.
  assert.deepEqual(identityFromClaims(keycloak, undefined, { ...p, keptClaims: ['realm_access.roles', 'ext'] }).claims, { 'realm_access.roles': ['admin', 'offline_access'] });
});

test('issuer failures are sorted by their code, and an unknown one is never "token invalid"', () => {
  const coded = (code: string, cause?: unknown): Error => Object.assign(new client.ClientError('x', { cause }), { code });
  const bodyError = (status: number): Error => new oauth.ResponseBodyError('x', {
    cause: { error: status >= 500 ? 'server_error' : 'invalid_grant' }, response: new Response(null, { status: status === 204 ? 200 : status }),
  });
  const net = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  table<Error, string>([
    [coded('OAUTH_TIMEOUT'), 'ISSUER_UNAVAILABLE'],
    [coded('OAUTH_ABORT'), 'ISSUER_UNAVAILABLE'],
    [net, 'ISSUER_UNAVAILABLE'],
    [bodyError(503), 'ISSUER_UNAVAILABLE'],
    [bodyError(400), 'LOGIN_REDEEM_FAILED'],
    [coded(oauth.RESPONSE_IS_NOT_CONFORM, new Response(null, { status: 502 })), 'ISSUER_UNAVAILABLE'],
    [coded(oauth.RESPONSE_IS_NOT_CONFORM, new Response(null, { status: 404 })), 'ISSUER_BAD_RESPONSE'],
    [coded(oauth.RESPONSE_IS_NOT_JSON), 'ISSUER_BAD_RESPONSE'],
    [coded(oauth.PARSE_ERROR), 'ISSUER_BAD_RESPONSE'],
    [coded(oauth.INVALID_SERVER_METADATA), 'ISSUER_BAD_RESPONSE'],
    [coded(oauth.INVALID_RESPONSE), 'LOGIN_TOKEN_INVALID'],
    [coded(oauth.INVALID_RESPONSE, { claims: { iss: 'x' } }), 'LOGIN_TOKEN_INVALID'],
    // The same code for an answer of the wrong shape (no access_token, not an object): the library attaches the body.
    [coded(oauth.INVALID_RESPONSE, { body: [] }), 'ISSUER_BAD_RESPONSE'],
    [coded(oauth.JWT_CLAIM_COMPARISON), 'LOGIN_TOKEN_INVALID'],
    // A fresh ID token that looks expired or not yet valid: the clocks disagree, and the page says so.
    [coded(oauth.JWT_TIMESTAMP_CHECK), 'LOGIN_CLOCK_SKEW'],
    // The same from jose, where Portcullis verifies ID tokens itself (oidc_extra_audiences).
    [Object.assign(new Error('x'), { code: 'ERR_JWT_EXPIRED' }), 'LOGIN_CLOCK_SKEW'],
    [Object.assign(new Error('x'), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'nbf' }), 'LOGIN_CLOCK_SKEW'],
    [Object.assign(new Error('x'), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' }), 'LOGIN_TOKEN_INVALID'],
    [Object.assign(new Error('x'), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' }), 'LOGIN_TOKEN_INVALID'],
    [Object.assign(new Error('x'), { code: 'ERR_JWKS_NO_MATCHING_KEY' }), 'LOGIN_TOKEN_INVALID'],
    [Object.assign(new Error('x'), { code: 'ERR_JWKS_TIMEOUT' }), 'ISSUER_UNAVAILABLE'],
    [coded(oauth.KEY_SELECTION), 'LOGIN_TOKEN_INVALID'],
    [coded('SOMETHING_NEW'), 'ISSUER_BAD_RESPONSE'],
    [new client.ClientError('something went wrong'), 'ISSUER_BAD_RESPONSE'],
    [new TypeError('Cannot read properties of undefined'), 'INTERNAL'],
    [new RangeError('bug'), 'INTERNAL'],
    [new PortcullisError('NO_IDENTITY'), 'NO_IDENTITY'],
  ], (e) => classify(e).code);
  const err = coded('OAUTH_TIMEOUT');
  assert.equal(classify(err).cause, err, 'the original error is kept as the cause');

  // What a failed refresh means: only the issuer's refusal ends a session, never its outage.
  table<Error, boolean>([
    [bodyError(400), true], // invalid_grant
    [coded(oauth.INVALID_RESPONSE), true],
    [coded(oauth.JWT_CLAIM_COMPARISON), true],
    [new PortcullisError('NO_IDENTITY'), true],
    [net, false],
    [coded('OAUTH_TIMEOUT'), false],
    [bodyError(503), false],
    [coded(oauth.RESPONSE_IS_NOT_JSON), false],
    [coded(oauth.RESPONSE_IS_NOT_CONFORM, new Response(null, { status: 502 })), false],
    [coded(oauth.JWT_TIMESTAMP_CHECK), false],
    [new RangeError('bug'), false],
  ], (e) => refreshEndsSession(classify(e)));
  assert.equal(classify(err).name, 'PortcullisError');
});
