import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { isSafeRedirect, safeRedirectPath } from '../src/access/redirect.js';

// Inputs are what the handler sees after the query string was decoded once.
const cases: ReadonlyArray<readonly [input: string | null | undefined, expected: string]> = [
  // Accepted: local absolute paths, returned unchanged.
  ['/', '/'],
  ['/app', '/app'],
  ['/app/', '/app/'],
  ['/app?x=1&y=2#frag', '/app?x=1&y=2#frag'],
  ['/a/b/../c', '/a/b/../c'],
  ['/a/./b', '/a/./b'],
  ['/app%20name/%C3%A9t%C3%A9', '/app%20name/%C3%A9t%C3%A9'],
  // Browsers never decode %2F/%5C in a path when navigating, so these stay on
  // our site as one odd path segment; the URL check confirms the pathname.
  ['/%2F%2Fevil.com', '/%2F%2Fevil.com'],
  ['/%2fsomething', '/%2fsomething'],
  ['/%5C%5Cevil.com', '/%5C%5Cevil.com'],
  // Off-site URLs in the query, fragment or a later path segment are just data.
  ['/?rd=//evil.com', '/?rd=//evil.com'],
  ['/app#//evil.com', '/app#//evil.com'],
  ['/app/https://evil.com', '/app/https://evil.com'],
  ['/app//x', '/app//x'],
  ['/' + 'a'.repeat(2047), '/' + 'a'.repeat(2047)],

  // Rejected: scheme-relative and slash/backslash confusion.
  ['//evil.com', '/'],
  ['///evil.com', '/'],
  ['////evil.com', '/'],
  ['//evil.com/app', '/'],
  ['/\\evil.com', '/'],
  ['\\\\evil.com', '/'],
  ['\\/evil.com', '/'],
  ['/app\\..\\..\\\\evil.com', '/'],
  // Browsers drop tab/CR/LF inside URLs, so "/<TAB>/evil.com" is "//evil.com".
  ['/\t/evil.com', '/'],
  ['/\n/evil.com', '/'],
  ['/\r\n/evil.com', '/'],
  [decodeURIComponent('/%09/evil.com'), '/'],
  ['/ /evil.com', '/'],
  [' /app', '/'],
  ['/app\x00', '/'],
  ['/app\x7f', '/'],
  ['/\u00a0/evil.com', '/'],
  ['/\u3002evil.com', '/'],
  ['\uff0f\uff0fevil.com', '/'],
  ['/r\u00e9sum\u00e9', '/'],
  // Paths that normalise to "//host".
  ['/.//evil.com', '/'],
  ['/..//evil.com', '/'],
  ['/a/..//evil.com', '/'],
  ['/%2e%2e//evil.com', '/'],
  // Absolute URLs and other schemes.
  ['https://evil.com', '/'],
  ['HTTPS://evil.com/app', '/'],
  ['http://evil.com', '/'],
  ['http:/evil.com', '/'],
  ['http:evil.com', '/'],
  ['https:\\\\evil.com', '/'],
  ['javascript:alert(1)', '/'],
  ['JaVaScRiPt:alert(1)', '/'],
  ['data:text/html,<script>alert(1)</script>', '/'],
  ['vbscript:msgbox(1)', '/'],
  // Not absolute paths: they resolve relative to the callback URL.
  ['evil.com', '/'],
  ['app', '/'],
  ['./app', '/'],
  ['../app', '/'],
  ['?next=/app', '/'],
  ['#frag', '/'],
  ['@evil.com', '/'],
  ['', '/'],
  [undefined, '/'],
  [null, '/'],
  ['/' + 'a'.repeat(2048), '/'],
  ['/' + 'a'.repeat(5000), '/'],
];

test(`safeRedirectPath table (${cases.length} cases)`, () => {
  const failures: string[] = [];
  for (const [input, expected] of cases) {
    const got = safeRedirectPath(input);
    if (got !== expected) {
      failures.push(`safeRedirectPath(${JSON.stringify(input)}) = ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
    }
    if (typeof input === 'string') {
      const safe = isSafeRedirect(input);
      if (safe !== (expected === input)) {
        failures.push(`isSafeRedirect(${JSON.stringify(input)}) = ${safe}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

test('safeRedirectPath uses the given fallback', () => {
  assert.equal(safeRedirectPath('//evil.com', '/home'), '/home');
  assert.equal(safeRedirectPath(undefined, '/signed-out'), '/signed-out');
  assert.equal(safeRedirectPath('/app', '/home'), '/app');
});

const payloadFile = new URL('../../test/fixtures/openredirects.txt', import.meta.url);
const payloads = readFileSync(payloadFile, 'utf8')
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => {
    try {
      return decodeURIComponent(line);
    } catch {
      return line;
    }
  });

test(`oauth2-proxy openredirects.txt: all ${payloads.length} payloads leave the browser on our site`, (t) => {
  const site = 'https://proxy.example.com';
  const failures: string[] = [];
  let rejected = 0;
  let kept = 0;
  for (const payload of payloads) {
    const result = safeRedirectPath(payload, '/');
    let origin: string;
    try {
      origin = new URL(result, `${site}/`).origin;
    } catch {
      origin = '(unparseable)';
    }
    if (origin !== site) failures.push(`${JSON.stringify(payload)} -> ${JSON.stringify(result)} lands on ${origin}`);

    if (isSafeRedirect(payload)) {
      kept++;
      if (result !== payload) failures.push(`${JSON.stringify(payload)} accepted but returned as ${JSON.stringify(result)}`);
      if (!result.startsWith('/') || result.startsWith('//') || result.startsWith('/\\')) {
        failures.push(`${JSON.stringify(payload)} kept but is not a plain local path`);
      }
    } else {
      rejected++;
      if (result !== '/') failures.push(`${JSON.stringify(payload)} rejected but returned ${JSON.stringify(result)}`);
    }
  }
  t.diagnostic(`${rejected} rejected, ${kept} kept as local paths`);
  assert.equal(rejected + kept, payloads.length);
  assert.deepEqual(failures, []);
});
