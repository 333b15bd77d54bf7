import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { buildProgram } from '../src/cli.js';
import { OPTIONS } from '../src/config/options.js';
import { ERRORS, PortcullisError, errorsMarkdownTable, type ErrorCode } from '../src/errors.js';
import {
  ERRORS_MARKERS, OPTIONS_END_MARKER, OPTIONS_START_MARKER, envExample, helpAllText, helpText, optionsMarkdownTable, replaceBetweenMarkers, textBetweenMarkers,
} from '../src/config/docs.js';
import { BIN } from './support/proxy.js';

// This file runs as dist/test/docs.test.js; the repository root is two levels up.
const ROOT = new URL('../../', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, ROOT), 'utf8');
const FIX = 'run `npm run docs` and commit the result';

test('.env.example is the one generated from the option table', () => {
  assert.equal(read('.env.example'), envExample(), `.env.example drifted from src/config/options.ts: ${FIX}`);
});

test("docs/configuration.md's option table is the one generated from the option table", () => {
  const between = textBetweenMarkers(read('docs/configuration.md'));
  assert.ok(between !== undefined, `docs/configuration.md lacks ${OPTIONS_START_MARKER} … ${OPTIONS_END_MARKER}`);
  assert.equal(between, `\n${optionsMarkdownTable()}`, `docs/configuration.md's option table drifted from src/config/options.ts: ${FIX}`);
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

test('the configuration reference has one row per option, in table order, with flag and default', () => {
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

test('--help lists every option by its flag; --help-all gives each one in full, with its variable and its default', () => {
  // Both wrap to the terminal's width; compare with whitespace folded so a wrap cannot matter.
  const help = buildProgram().helpInformation().replace(/\s+/g, ' ');
  const all = helpAllText(80).replace(/\s+/g, ' ');
  for (const spec of OPTIONS) {
    const escaped = spec.flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(help, new RegExp(`(^|[\\s,])${escaped}(\\s|$)`), `--help lacks ${spec.flag}`);
    assert.match(all, new RegExp(`(^|[\\s,])${escaped}(\\s|$)`), `--help-all lacks ${spec.flag}`);
    assert.ok(all.includes(spec.help.replace(/\s+/g, ' ')), `--help-all lacks the whole help of ${spec.flag}`);
    assert.ok(all.includes(spec.env), `--help-all lacks ${spec.env} (for ${spec.flag})`);
    if (spec.default !== '') {
      assert.ok(all.includes(`${spec.env}, default ${spec.default}]`), `--help-all lacks the default of ${spec.flag} (${spec.default})`);
    }
  }
});

test('--help at 80 columns: the quick start and the demo first, the essentials next, every line at most 80 characters, grouped by the option table\'s groups', () => {
  for (const width of [80, 100]) {
    const text = helpText(width);
    const lines = text.trimEnd().split('\n');
    const long = lines.filter((l) => l.length > width);
    assert.deepEqual(long, [], `lines longer than ${width}`);
    const at = (s: string): number => { const i = lines.findIndex((l) => l.startsWith(s)); assert.ok(i >= 0, `--help has "${s}"`); return i; };
    assert.ok(at('Quick start') < 16, 'the quick start is at the top');
    assert.ok(at('Try it') < at('Quick start'), 'the demo comes first');
    const quick = lines.slice(at('Quick start') + 1, at('Essential options')).filter((l) => l.trim() !== '');
    assert.equal(quick.length, 5, `a five-line quick start: ${quick.join('\n')}`);
    for (const flag of ['--upstream', '--oidc-issuer-url', '--client-id', '--cookie-secret', '--email-domain']) {
      assert.ok(quick.join(' ').includes(flag), `the quick start sets ${flag}`);
    }
    const essentials = at('Essential options');
    for (const flag of ['--upstream', '--oidc-issuer-url', '--client-id', '--cookie-secret', '--email-domain']) {
      const i = lines.findIndex((l, n) => n > essentials && l.startsWith(`  ${flag} `));
      assert.ok(i > essentials && i < at('Server'), `${flag} is among the essentials`);
    }
    let last = essentials;
    for (const group of ['Server', 'Upstream', 'Provider', 'Access', 'Cookie', 'Session store', 'Headers', 'Pages', 'Logging']) {
      const i = lines.indexOf(group);
      assert.ok(i > last, `the group ${group} follows, in the table's order`);
      last = i;
    }
    assert.ok(text.includes('--help-all'), '--help says where the rest is');
  }
  // Compatibility notes are for --help-all, not --help.
  assert.doesNotMatch(helpText(80), /Portcullis addition/);
  assert.match(helpAllText(80), /Portcullis addition/);
  assert.deepEqual(helpAllText(80).split('\n').filter((l) => l.length > 80), [], '--help-all fits 80 columns too');
});

test('portcullis --help, run as a user runs it (stdout not a terminal: 80 columns), and --help-all', () => {
  const help = execFileSync(process.execPath, [BIN, '--help'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  assert.equal(help, helpText(80));
  assert.ok(help.split('\n').every((l) => l.length <= 80));
  const all = execFileSync(process.execPath, [BIN, '--help-all'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  assert.equal(all, helpAllText(80));
});

test("docs/troubleshooting.md's table of error codes is the one generated from the error catalog", () => {
  const between = textBetweenMarkers(read('docs/troubleshooting.md'), ERRORS_MARKERS);
  assert.ok(between !== undefined, `docs/troubleshooting.md lacks ${ERRORS_MARKERS.join(' … ')}`);
  assert.equal(between, `\n${errorsMarkdownTable()}`, `docs/troubleshooting.md's error table drifted from src/errors.ts: ${FIX}`);
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
