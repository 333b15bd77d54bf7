import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isEmailAllowed } from '../src/access/email.js';
import { AccessPolicy, decide, type Verdict } from '../src/access/policy.js';
import type { Session } from '../src/session/codec.js';
import { table } from './support/table.js';

test('email domains', () => {
  table<[string | undefined, string[]], boolean>([
    [['a@example.com', ['example.com']], true],
    [['A@EXAMPLE.COM', ['example.com']], true],
    [['a@sub.example.com', ['example.com']], false],
    [['a@sub.example.com', ['*.example.com']], true],
    [['a@sub.example.com', ['.example.com']], true],
    [['a@example.com', ['*.example.com']], false],
    [['a@evilexample.com', ['*.example.com']], false],
    [['a@example.com.evil.net', ['example.com']], false],
    // More than one @ never passes: the part after the last @ is not the mailbox's domain.
    [['a@b@example.com', ['example.com']], false],
    [['someone@evil.test@example.com', ['example.com']], false],
    [['someone@evil.test@example.com', ['evil.test']], false],
    [['anyone@anywhere', ['*']], true],
    [[undefined, ['*']], true],
    [[undefined, ['example.com']], false],
    [['no-at-sign', ['example.com']], false],
    [['trailing@', ['example.com']], false],
    [['@example.com', ['example.com']], false],
  ], ([email, domains]) => isEmailAllowed(email, domains));
});

test('access decisions: a verdict with the code the user is shown', () => {
  table<[string | undefined, string[]], Verdict['allowed'] | string>([
    [['a@example.com', ['example.com']], true],
    [['a@other.org', ['example.com']], 'EMAIL_NOT_ALLOWED'],
    [[undefined, ['example.com']], 'EMAIL_NOT_ALLOWED'],
    [[undefined, ['*']], true],
  ], ([email, domains]) => {
    const v = decide({ email, groups: [] }, { emailDomains: domains });
    return v.allowed ? true : v.code;
  });
});

test('a session\'s verdict is computed once per session object, and per policy', () => {
  const session = (email: string): Session => ({ v: 1, user: 'u', sub: 'u', email, groups: [], createdAt: 0, expiresAt: Date.now() + 60_000 });
  const strict = new AccessPolicy({ emailDomains: ['other.org'] });
  const loose = new AccessPolicy({ emailDomains: ['example.com'] });
  const s = session('a@example.com');
  const first = strict.forSession(s);
  assert.equal(first.allowed, false);
  assert.equal(strict.forSession(s), first, 'the cached verdict object is returned again');
  assert.equal(loose.forSession(s).allowed, true, 'another policy decides afresh');
  assert.equal(strict.forSession(session('b@other.org')).allowed, true);
});
