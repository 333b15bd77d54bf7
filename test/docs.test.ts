import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { buildProgram } from '../src/cli.js';
import { OPTIONS } from '../src/config/options.js';
import { ERRORS, PortcullisError, errorsMarkdownTable, type ErrorCode } from '../src/errors.js';
import {
  ERRORS_MARKERS, OPTIONS_END_MARKER, OPTIONS_START_MARKER, envExample, optionsMarkdownTable, replaceBetweenMarkers, textBetweenMarkers,
} from '../src/config/docs.js';

// This file runs as dist/test/docs.test.js; the repository root is two levels up.
const ROOT = new URL('../../', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, ROOT), 'utf8');
const FIX = 'run `npm run docs` and commit the result';

test('.env.example is the one generated from the option table', () => {
  assert.equal(read('.env.example'), envExample(), `.env.example drifted from src/config/options.ts: ${FIX}`);
});

test("README.md's option table is the one generated from the option table", () => {
  const between = textBetweenMarkers(read('README.md'));
  assert.ok(between !== undefined, `README.md lacks ${OPTIONS_START_MARKER} … ${OPTIONS_END_MARKER}`);
  assert.equal(between, `\n${optionsMarkdownTable()}`, `README.md's option table drifted from src/config/options.ts: ${FIX}`);
});

test('.env.example names every option, commented out, and never carries a secret', () => {
  const text = read('.env.example');
  for (const spec of OPTIONS) {
    const line = text.split('\n').find((l) => l.startsWith(`#${spec.env}=`));
    assert.ok(line, `${spec.env} is missing from .env.example`);
    if (spec.type === 'secret') assert.equal(line, `#${spec.env}=`, `${spec.env} is a secret and must have no value`);
  }
  assert.ok(!text.split('\n').some((l) => /^\s*OAUTH2_PROXY_/.test(l)), 'every variable in .env.example is commented out');
});

test('the README table has one row per option, in table order, with flag and default', () => {
  const rows = optionsMarkdownTable().trimEnd().split('\n').slice(2);
  assert.equal(rows.length, OPTIONS.length);
  OPTIONS.forEach((spec, i) => {
    const row = rows[i]!;
    assert.ok(row.startsWith(`| \`${spec.env}\` | \`${spec.flag}\` | `), row);
    assert.ok(row.includes(spec.default === '' ? ' | — | ' : ` | \`${spec.default}\` | `), row);
  });
});

test('replaceBetweenMarkers replaces only the marked text, is idempotent, and throws without markers', () => {
  const doc = `# T\n\nbefore\n${OPTIONS_START_MARKER}\nold | table\n${OPTIONS_END_MARKER}\nafter\n`;
  const once = replaceBetweenMarkers(doc, '| a |\n');
  assert.equal(once, `# T\n\nbefore\n${OPTIONS_START_MARKER}\n| a |\n${OPTIONS_END_MARKER}\nafter\n`);
  assert.equal(replaceBetweenMarkers(once, '| a |\n'), once);
  assert.throws(() => replaceBetweenMarkers('# no markers\n', '| a |\n'), /markers/);
  assert.throws(() => replaceBetweenMarkers(`${OPTIONS_END_MARKER}\n${OPTIONS_START_MARKER}\n`, 'x'), /markers/);
});

test('a | in a cell is escaped so it cannot split the row', () => {
  for (const row of optionsMarkdownTable().trimEnd().split('\n')) {
    const unescaped = row.replace(/\\\|/g, '').split('|').length - 1;
    assert.equal(unescaped, 6, row);
  }
});

test('--help lists every option with its flag, its variable and its default', () => {
  // Commander wraps to the terminal width; compare with whitespace folded so a wrap cannot matter.
  const help = buildProgram().helpInformation().replace(/\s+/g, ' ');
  for (const spec of OPTIONS) {
    const escaped = spec.flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(help, new RegExp(`(^|[\\s,])${escaped}(\\s|$)`), `--help lacks ${spec.flag}`);
    assert.ok(help.includes(spec.env), `--help lacks ${spec.env} (for ${spec.flag})`);
    if (spec.default !== '') {
      assert.ok(help.includes(`${spec.env}, default ${spec.default}]`), `--help lacks the default of ${spec.flag} (${spec.default})`);
    }
  }
});

test("README.md's table of error codes is the one generated from the error catalog", () => {
  const between = textBetweenMarkers(read('README.md'), ERRORS_MARKERS);
  assert.ok(between !== undefined, `README.md lacks ${ERRORS_MARKERS.join(' … ')}`);
  assert.equal(between, `\n${errorsMarkdownTable()}`, `README.md's error table drifted from src/errors.ts: ${FIX}`);
});

test('the error catalog: every code has a 4xx/5xx status, a title, words for the user and a fix; errors carry name and cause', () => {
  for (const [code, e] of Object.entries(ERRORS)) {
    assert.ok(e.status >= 400 && e.status < 600, `${code} status ${e.status}`);
    assert.ok(e.title && e.message.endsWith('.') && e.fix.length > 20, `${code} is fully described`);
    const cause = new Error('underlying');
    const err = new PortcullisError(code as ErrorCode, { detail: 'd', cause });
    assert.equal(err.name, 'PortcullisError');
    assert.equal(err.code, code);
    assert.equal(err.status, e.status);
    assert.equal(err.message, e.message);
    assert.equal(err.cause, cause);
    assert.equal(err.detail, 'd');
  }
  // Codes a client switches on stay put: removing or renumbering one is a breaking change.
  assert.deepEqual(
    Object.fromEntries(['UNAUTHENTICATED', 'EMAIL_NOT_ALLOWED', 'ISSUER_UNAVAILABLE', 'UPSTREAM_UNAVAILABLE', 'LOGIN_STATE_MISSING'].map((c) => [c, ERRORS[c as ErrorCode].status])),
    { UNAUTHENTICATED: 401, EMAIL_NOT_ALLOWED: 403, ISSUER_UNAVAILABLE: 503, UPSTREAM_UNAVAILABLE: 502, LOGIN_STATE_MISSING: 400 },
  );
});
