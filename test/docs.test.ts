import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { buildProgram } from '../src/cli.js';
import { OPTIONS } from '../src/config/options.js';
import { ERRORS, ERROR_AREAS, PortcullisError, errorsByArea, troubleshootingMarkdown, type ErrorCode, type ErrorSpec } from '../src/errors.js';
import {
  ERRORS_MARKERS, OPTIONS_END_MARKER, OPTIONS_START_MARKER, envExample, helpAllText, helpText, optionsMarkdownTable, replaceBetweenMarkers, textBetweenMarkers,
} from '../src/config/docs.js';
import { MAX_HEADER_BYTES } from '../src/server/listen.js';
import { MAX_CHUNK } from '../src/session/cookies.js';
import { MAX_CHUNKS } from '../src/session/store.js';
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

test("docs/troubleshooting.md's error codes are the ones generated from the error catalog", () => {
  const between = textBetweenMarkers(read('docs/troubleshooting.md'), ERRORS_MARKERS);
  assert.ok(between !== undefined, `docs/troubleshooting.md lacks ${ERRORS_MARKERS.join(' … ')}`);
  assert.equal(between, `\n${troubleshootingMarkdown()}`, `docs/troubleshooting.md's error codes drifted from src/errors.ts: ${FIX}`);
});

test('the error catalog: every code has a likely cause and a fix, and every OAUTH2_PROXY_ variable they name is an option', () => {
  const known = new Set(OPTIONS.map((o) => o.env));
  const unknown: string[] = [];
  for (const [code, e] of Object.entries(ERRORS) as Array<[ErrorCode, ErrorSpec]>) {
    assert.ok(e.cause.trim().length > 40, `${code} has a likely cause`);
    assert.ok(e.fix.trim().length > 20, `${code} says what to do`);
    assert.notEqual(e.cause, e.fix, `${code}: cause and fix say different things`);
    assert.ok(e.area in ERROR_AREAS, `${code} is in a section of the page`);
    for (const text of [e.cause, e.fix]) {
      assert.doesNotMatch(text, /\n/, `${code}: one paragraph each`);
      // Backticks must pair, or the rest of the page turns into code.
      assert.equal((text.match(/`/g) ?? []).length % 2, 0, `${code}: unpaired backtick`);
      for (const [name] of text.matchAll(/OAUTH2_PROXY_[A-Z0-9_]*[A-Z0-9]/g)) if (!known.has(name)) unknown.push(`${code}: ${name}`);
    }
  }
  assert.deepEqual(unknown, [], 'variables named in src/errors.ts that src/config/options.ts does not declare');
  // The check itself must be able to fail: a misspelt variable is caught.
  assert.ok(!known.has('OAUTH2_PROXY_COOKIE_SECRETS') && known.has('OAUTH2_PROXY_COOKIE_SECRET'));
});

test('docs/troubleshooting.md: a section per code, under its area, with its status, its words, its cause and its fix', () => {
  const page = read('docs/troubleshooting.md');
  const lines = page.split('\n');
  const at = (line: string): number => lines.indexOf(line);
  for (const [area, codes] of errorsByArea()) {
    const areaAt = at(`## ${ERROR_AREAS[area].title}`);
    assert.ok(areaAt >= 0, `the page has a section for ${area}`);
    for (const code of codes) {
      const e = ERRORS[code];
      const i = at(`### ${code}`);
      assert.ok(i > areaAt, `docs/troubleshooting.md has "### ${code}" under "${ERROR_AREAS[area].title}"`);
      const next = lines.findIndex((l, n) => n > i && /^#{1,3} /.test(l));
      const section = lines.slice(i, next < 0 ? undefined : next).join('\n');
      assert.ok(section.includes(`**HTTP ${e.status}**`), `${code}: its status`);
      assert.ok(section.includes(`> ${e.message}`), `${code}: what the user sees, quoted`);
      assert.ok(section.includes(`**Likely cause.** ${e.cause}`), `${code}: the likely cause`);
      assert.ok(section.includes(`**What to do.** ${e.fix}`), `${code}: what to do`);
      // The index links to it, by the anchor GitHub makes of the heading.
      assert.ok(page.includes(`[\`${code}\`](#${code.toLowerCase()})`), `the index links to ${code}`);
    }
  }
  // Every code once, whatever the grouping.
  assert.deepEqual(errorsByArea().flatMap(([, codes]) => codes).sort(), Object.keys(ERRORS).sort());
  // The hand-written sections for the problems that have no code stay below the generated part.
  const end = page.indexOf(ERRORS_MARKERS[1]);
  for (const heading of ['## Problems without a code', '### A redirect loop behind a proxy', '### "invalid redirect_uri" at the issuer', '### Cookies too large', '### Clock skew on ID tokens', '### Issuer unreachable at start-up']) {
    assert.ok(page.indexOf(`\n${heading}\n`) > end, `docs/troubleshooting.md has "${heading}" after the generated part`);
  }
});

test("the limits docs/troubleshooting.md's hand-written sections quote are the code's", () => {
  const page = read('docs/troubleshooting.md');
  const words = ['no', 'one', 'two', 'three', 'four', 'five'];
  assert.ok(page.includes(`more than ${words[MAX_CHUNKS]} cookies`), `session cookies at most: ${MAX_CHUNKS}`);
  assert.ok(page.includes(`${MAX_CHUNK.toLocaleString('en')} characters each`), `chunk size: ${MAX_CHUNK}`);
  assert.ok(page.includes(`up to ${MAX_HEADER_BYTES / 1024} KiB and answers \`431\``), `request head limit: ${MAX_HEADER_BYTES}`);
  const limit = OPTIONS.find((o) => o.name === 'cookie_csrf_per_request_limit')!;
  assert.ok(page.includes(`\`${limit.env}\` (${limit.default})`), `login-state cookies kept: ${limit.default}`);
});

test('every OAUTH2_PROXY_ variable docs/troubleshooting.md names is an option', () => {
  const known = new Set(OPTIONS.map((o) => o.env));
  const named = new Set([...read('docs/troubleshooting.md').matchAll(/OAUTH2_PROXY_[A-Z0-9_]*[A-Z0-9]/g)].map((m) => m[0]));
  assert.deepEqual([...named].filter((n) => !known.has(n)), []);
});

test('the error catalog: every code has a 4xx/5xx status, a title, words for the user, a cause and a fix; errors carry name and cause', () => {
  for (const [code, e] of Object.entries(ERRORS)) {
    assert.ok(e.status >= 400 && e.status < 600, `${code} status ${e.status}`);
    assert.ok(e.title && e.message.endsWith('.') && e.fix.length > 20 && e.cause.length > 20, `${code} is fully described`);
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
