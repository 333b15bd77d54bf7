import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isEmailAllowed } from '../src/access/email.js';
import { parseEmailList, type EmailList } from '../src/access/emailsfile.js';
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
    const v = decide({ email, groups: [] }, { emailDomains: domains, allowedGroups: new Set() });
    return v.allowed ? true : v.code;
  });
});

test('a session\'s verdict is computed once per session object, and per policy', () => {
  const session = (email: string): Session => ({ v: 1, user: 'u', sub: 'u', email, groups: [], createdAt: 0, expiresAt: Date.now() + 60_000 });
  const strict = new AccessPolicy({ emailDomains: ['other.org'], allowedGroups: new Set() });
  const loose = new AccessPolicy({ emailDomains: ['example.com'], allowedGroups: new Set() });
  const s = session('a@example.com');
  const first = strict.forSession(s);
  assert.equal(first.allowed, false);
  assert.equal(strict.forSession(s), first, 'the cached verdict object is returned again');
  assert.equal(loose.forSession(s).allowed, true, 'another policy decides afresh');
  assert.equal(strict.forSession(session('b@other.org')).allowed, true);
});

/** A list whose content and generation a test changes by hand. */
class FakeList implements EmailList {
  emails = new Set<string>();
  generation = 0;
  has(email: string): boolean { return this.emails.has(email.toLowerCase()); }
}

test('the rules combine as in oauth2-proxy: (email domain OR listed address) AND (one allowed group, when set)', () => {
  const listed = new FakeList();
  listed.emails = new Set(['carol@partner.test', 'weird@evil.test@example.com']);
  type Row = [email: string | undefined, groups: string[], domains: string[], allowed: string[], file: boolean];
  table<Row, true | string>([
    // email_domains alone
    [['a@example.com', [], ['example.com'], [], false], true],
    [['a@other.org', [], ['example.com'], [], false], 'EMAIL_NOT_ALLOWED'],
    // the file admits a listed address whatever the domains say, case-insensitively
    [['carol@partner.test', [], ['example.com'], [], true], true],
    [['CAROL@Partner.Test', [], ['example.com'], [], true], true],
    [['carol@partner.test', [], [], [], true], true],
    [['dave@partner.test', [], [], [], true], 'EMAIL_NOT_ALLOWED'],
    [['dave@partner.test', [], ['example.com'], [], true], 'EMAIL_NOT_ALLOWED'],
    [['a@example.com', [], ['example.com'], [], true], true],
    [[undefined, [], [], [], true], 'EMAIL_NOT_ALLOWED'],
    // an address listed exactly is the operator's own choice, even an odd one
    [['weird@evil.test@example.com', [], [], [], true], true],
    // allowed_groups: one group in common is enough; none is refused; exact, case-sensitive names
    [['a@example.com', ['devs'], ['example.com'], ['admins', 'devs'], false], true],
    [['a@example.com', ['ops'], ['example.com'], ['admins', 'devs'], false], 'GROUP_NOT_ALLOWED'],
    [['a@example.com', [], ['example.com'], ['admins'], false], 'GROUP_NOT_ALLOWED'],
    [['a@example.com', ['Admins'], ['example.com'], ['admins'], false], 'GROUP_NOT_ALLOWED'],
    [['a@example.com', ['Domain Admins'], ['example.com'], ['Domain Admins'], false], true],
    [['a@example.com', ['Domain'], ['example.com'], ['Domain Admins'], false], 'GROUP_NOT_ALLOWED'],
    // both rules must pass: a group does not make up for the email, nor the other way round
    [['a@other.org', ['admins'], ['example.com'], ['admins'], false], 'EMAIL_NOT_ALLOWED'],
    [['carol@partner.test', ['admins'], [], ['admins'], true], true],
    [['carol@partner.test', ['guests'], [], ['admins'], true], 'GROUP_NOT_ALLOWED'],
    [['anyone@anywhere', ['admins'], ['*'], ['admins'], false], true],
    [['anyone@anywhere', [], ['*'], ['admins'], false], 'GROUP_NOT_ALLOWED'],
  ], ([email, groups, emailDomains, allowed, file]) => {
    const v = decide({ email, groups }, { emailDomains, allowedGroups: new Set(allowed), authenticatedEmails: file ? listed : undefined });
    return v.allowed ? true : v.code;
  });
});

test('a cached verdict is decided afresh when the emails file changes (its generation moves)', () => {
  const list = new FakeList();
  const policy = new AccessPolicy({ emailDomains: [], allowedGroups: new Set(), authenticatedEmails: list });
  const s: Session = { v: 1, user: 'u', sub: 'u', email: 'carol@partner.test', groups: [], createdAt: 0, expiresAt: Date.now() + 60_000 };
  assert.equal(policy.forSession(s).allowed, false);
  list.emails.add('carol@partner.test');
  assert.equal(policy.forSession(s).allowed, false, 'same generation: the cached verdict stands');
  list.generation++;
  assert.equal(policy.forSession(s).allowed, true, 'new generation: decided again');
  list.emails.clear();
  list.generation++;
  assert.equal(policy.forSession(s).allowed, false, 'and taken back out');
});

test('the emails file is read as oauth2-proxy reads it: first CSV field, # comments, trimmed, lower-cased', () => {
  const text = [
    '# team',
    'Alice@Example.com',
    '  bob@example.com  ',
    '',
    'carol@partner.test, Carol, extra',
    '"dave@partner.test",Dave',
    '\t# indented comment',
    'erin@example.com\r',
  ].join('\n');
  assert.deepEqual([...parseEmailList(text)].sort(), ['alice@example.com', 'bob@example.com', 'carol@partner.test', 'dave@partner.test', 'erin@example.com']);
  assert.deepEqual([...parseEmailList('')], []);
});
