// The manual holds together: every link between pages lands on a file and a heading that exist, and
// every block a reader can copy (a file or a command) is run by some test as written. A block that
// only shows output is fenced ```text; any other fence must sit between <!-- name:start/end -->
// markers whose name a test file quotes (and so reads with docBlock, test/support/docblock.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

import { docPages, markedBlocks, readDoc } from './support/docblock.js';
import { REPO } from './support/proxy.js';

/** GitHub's anchor for a heading: lower case, inline code and link syntax dropped, punctuation removed, spaces to dashes. */
export function headingSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}_\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The lines of a page outside fenced blocks, with their numbers (a `#` in a shell block is no heading). */
function prose(text: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  let fence = false;
  text.split('\n').forEach((line, i) => {
    if (/^\s*```/.test(line)) { fence = !fence; return; }
    if (!fence) out.push([i + 1, line]);
  });
  return out;
}

/** Every anchor a page offers: its headings' slugs (repeats numbered as GitHub does) and explicit ids. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, line] of prose(text)) {
    const h = /^#{1,6} (.*)$/.exec(line);
    if (h) {
      const slug = headingSlug(h[1]!);
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      out.add(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const m of line.matchAll(/<a (?:id|name)="([^"]+)"/g)) out.add(m[1]!);
  }
  return out;
}

/** The links of a page: markdown links and images, and HTML src/href, with their line numbers. */
function links(text: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const [n, line] of prose(text)) {
    const code = line.replace(/`[^`]*`/g, '');
    for (const m of code.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push([n, m[1]!]);
    for (const m of code.matchAll(/(?:src|href)="([^"]+)"/g)) out.push([n, m[1]!]);
  }
  return out;
}

/** What is wrong with each link of each page, as `page:line: link — why`. */
export function brokenLinks(pages: readonly string[] = docPages()): string[] {
  const problems: string[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (page: string): Set<string> => {
    let a = anchorCache.get(page);
    if (!a) anchorCache.set(page, (a = anchors(readFileSync(join(REPO, page), 'utf8'))));
    return a;
  };
  for (const page of pages) {
    for (const [n, target] of links(readDoc(page))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, file: … are outside the repository
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const file = path === '' ? page : normalize(join(dirname(page), decodeURIComponent(path)));
      const where = `${page}:${n}: ${target}`;
      if (file.startsWith('..')) { problems.push(`${where} — leaves the repository`); continue; }
      if (!existsSync(join(REPO, file))) { problems.push(`${where} — no file ${file}`); continue; }
      if (anchor === undefined || anchor === '') continue;
      if (statSync(join(REPO, file)).isDirectory() || !file.endsWith('.md')) { problems.push(`${where} — an anchor on a file that has no headings`); continue; }
      if (!anchorsOf(file).has(anchor)) problems.push(`${where} — ${file} has no heading #${anchor}`);
    }
  }
  return problems;
}

/** The fenced blocks of a page that are neither output (```text) nor inside a pair of markers. */
function unmarkedBlocks(page: string): string[] {
  const text = readDoc(page);
  const marked: Array<[number, number]> = [];
  for (const m of text.matchAll(/<!-- ([a-z0-9-]+):start -->[\s\S]*?<!-- \1:end -->/g)) marked.push([m.index!, m.index! + m[0].length]);
  const out: string[] = [];
  let offset = 0;
  let open: { lang: string; at: number; line: number } | undefined;
  text.split('\n').forEach((line, i) => {
    const fence = /^\s*```(\S*)/.exec(line);
    if (fence) {
      if (!open) open = { lang: fence[1]!, at: offset, line: i + 1 };
      else {
        const { lang, at, line: from } = open;
        open = undefined;
        if (lang !== 'text' && !marked.some(([a, b]) => a <= at && at < b)) out.push(`${page}:${from}: a \`\`\`${lang || '(no language)'} block`);
      }
    }
    offset += line.length + 1;
  });
  return out;
}

/** The source of every test file and test support file, to find which block names they read. */
function testSources(): string {
  const dirs = ['test', 'test/support'];
  return dirs.flatMap((d) => readdirSync(join(REPO, d)).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(REPO, d, f), 'utf8'))).join('\n');
}

test('every link of README.md and docs/ lands on a file and a heading that exist', () => {
  assert.deepEqual(brokenLinks(), []);
});

test('the link checker finds a missing page, a missing heading and a link out of the repository', () => {
  // The checker must be able to fail: the same functions on pages with known bad links.
  assert.equal(headingSlug('Without a client secret: private_key_jwt, mTLS, FAPI 2.0'), 'without-a-client-secret-private_key_jwt-mtls-fapi-20');
  assert.equal(headingSlug('With npx, flags or a `.env` file'), 'with-npx-flags-or-a-env-file');
  const text = '# Title\n\n## Part\n\n## Part\n\n```sh\n# not a heading\n```\n[a](#part-1) [b](#not-a-heading) [c](nope.md) [d](README.md#part) [e](../../etc/passwd)\n';
  assert.deepEqual([...anchors(text)], ['title', 'part', 'part-1']);
  assert.deepEqual(links(text).map(([, t]) => t), ['#part-1', '#not-a-heading', 'nope.md', 'README.md#part', '../../etc/passwd']);
});

test('every block in README.md and docs/ that shows a file or a command is marked, and a test reads it', () => {
  const unmarked = docPages().flatMap(unmarkedBlocks);
  assert.deepEqual(unmarked, [], 'fence output as ```text; put a file or command between <!-- name:start/end --> markers and run it in a test');
  const sources = testSources();
  const unread: string[] = [];
  const repeated: string[] = [];
  for (const [name, blocks] of markedBlocks()) {
    if (blocks.length > 1) repeated.push(`${name}: ${blocks.map((b) => b.page).join(', ')}`);
    if (blocks.every((b) => b.lang === 'text')) continue;
    if (!new RegExp(`['"\`]${name}['"\`]`).test(sources)) unread.push(`${name} (${blocks[0]!.page})`);
  }
  assert.deepEqual(repeated, [], 'a block name must be unique across the pages');
  assert.deepEqual(unread, [], 'no test file names these blocks: read each with docBlock(name) and run it');
});
