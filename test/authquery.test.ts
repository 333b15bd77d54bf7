import { test } from 'node:test';
import { checkAuthQuery, parseAuthQuery } from '../src/access/authquery.js';
import { table } from './support/table.js';

const ALICE = { email: 'alice@example.com', groups: ['admins', 'devs'] };

test('/oauth2/auth query constraints, read as oauth2-proxy reads them: every one given must pass', () => {
  type Who = { email?: string; groups: string[] };
  table<string | [string, Who], string>([
    ['', 'none'],
    ['?rd=/x', 'none'],
    ['?allowed_groups=', 'none'],
    ['?allowed_groups=,,', 'none'],
    ['?allowed_groups=admins', 'allowed'],
    ['?allowed_groups=ops,admins', 'allowed'],
    ['?allowed_groups=ops&allowed_groups=devs', 'allowed'],
    ['?allowed_groups=ops,auditors', 'GROUP_NOT_ALLOWED'],
    ['?allowed_groups=Admins', 'GROUP_NOT_ALLOWED'],
    ['?allowed_groups=admin', 'GROUP_NOT_ALLOWED'],
    ['?allowed_groups=Domain+Admins', 'GROUP_NOT_ALLOWED'],
    // A semicolon is no separator: one group named "admins;ops", which fails closed (Go drops such a pair).
    ['?allowed_groups=ops;admins', 'GROUP_NOT_ALLOWED'],
    [['?allowed_groups=Domain%20Admins', { groups: ['Domain Admins'] }], 'allowed'],
    // Go's query parsing decodes the keys too.
    ['?allowed%5Fgroups=ops', 'GROUP_NOT_ALLOWED'],
    [['?allowed_groups=admins', { groups: [] }], 'GROUP_NOT_ALLOWED'],
    ['?allowed_emails=alice@example.com', 'allowed'],
    ['?allowed_emails=bob@example.com,alice@example.com', 'allowed'],
    ['?allowed_emails=Alice@example.com', 'EMAIL_NOT_ALLOWED'],
    ['?allowed_emails=bob@example.com', 'EMAIL_NOT_ALLOWED'],
    [['?allowed_emails=alice@example.com', { groups: [] }], 'EMAIL_NOT_ALLOWED'],
    ['?allowed_email_domains=example.com', 'allowed'],
    ['?allowed_email_domains=EXAMPLE.com', 'allowed'],
    ['?allowed_email_domains=.example.com', 'allowed'],
    ['?allowed_email_domains=*.example.com', 'allowed'],
    ['?allowed_email_domains=other.org,example.com', 'allowed'],
    ['?allowed_email_domains=ample.com', 'EMAIL_NOT_ALLOWED'],
    ['?allowed_email_domains=.ample.com', 'EMAIL_NOT_ALLOWED'],
    ['?allowed_email_domains=mail.example.com', 'EMAIL_NOT_ALLOWED'],
    [['?allowed_email_domains=.example.com', { email: 'a@eu.example.com', groups: [] }], 'allowed'],
    [['?allowed_email_domains=example.com', { email: 'a@eu.example.com', groups: [] }], 'EMAIL_NOT_ALLOWED'],
    [['?allowed_email_domains=example.com', { email: 'a@evil.test@example.com', groups: [] }], 'EMAIL_NOT_ALLOWED'],
    [['?allowed_email_domains=example.com', { groups: [] }], 'EMAIL_NOT_ALLOWED'],
    ['?allowed_email_domains=.', 'EMAIL_NOT_ALLOWED'],
    // All given must pass: one failing refuses.
    ['?allowed_groups=admins&allowed_emails=alice@example.com&allowed_email_domains=example.com', 'allowed'],
    ['?allowed_groups=admins&allowed_emails=bob@example.com', 'EMAIL_NOT_ALLOWED'],
    ['?allowed_groups=ops&allowed_email_domains=example.com', 'GROUP_NOT_ALLOWED'],
  ], (row) => {
    const [search, who] = typeof row === 'string' ? [row, ALICE] : row;
    const q = parseAuthQuery(search);
    if (!q) return 'none';
    const v = checkAuthQuery(q, who);
    return v.allowed ? 'allowed' : v.code;
  });
});
