import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO } from './proxy.js';

/**
 * The documentation a reader copies from: README.md and every page under docs/. A block a test runs
 * is fenced between `<!-- name:start -->` and `<!-- name:end -->`; names are unique across all pages
 * (test/docs-links.test.ts checks it), so a page can move without its test following it.
 */
export function docPages(): string[] {
  const pages = ['README.md'];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(REPO, dir), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.md')) pages.push(rel);
    }
  };
  walk('docs');
  return pages;
}

/** The text of a page, by its path from the repository root (`docs/nginx.md`). */
export function readDoc(page: string): string {
  return readFileSync(join(REPO, page), 'utf8');
}

/** A named block: the page it is on, its fence's language and its text exactly as written. */
export interface DocBlock { readonly page: string; readonly lang: string; readonly text: string }

const MARKED = /<!-- ([a-z0-9-]+):start -->\s*```([a-zA-Z0-9-]*)\n([\s\S]*?)```\s*<!-- \1:end -->/g;

/** Every marked block of every page, by name. */
export function markedBlocks(): Map<string, DocBlock[]> {
  const out = new Map<string, DocBlock[]>();
  for (const page of docPages()) {
    for (const m of readDoc(page).matchAll(MARKED)) {
      const list = out.get(m[1]!) ?? [];
      list.push({ page, lang: m[2]!, text: m[3]! });
      out.set(m[1]!, list);
    }
  }
  return out;
}

/**
 * The block fenced between `<!-- name:start/end -->` on whichever page holds it, exactly as written.
 * Throws when no page (or more than one) has it, or when its fence is not `lang` (when given).
 */
export function docBlock(name: string, lang?: string): string {
  return docBlockAt(name, lang).text;
}

/** {@link docBlock}, with the page it was found on. */
export function docBlockAt(name: string, lang?: string): DocBlock {
  const found = markedBlocks().get(name) ?? [];
  if (found.length !== 1) {
    throw new Error(found.length === 0
      ? `no page of README.md or docs/ has a block between <!-- ${name}:start --> and <!-- ${name}:end -->`
      : `the block ${name} is on ${found.length} pages (${found.map((b) => b.page).join(', ')}); names must be unique`);
  }
  const b = found[0]!;
  if (lang !== undefined && b.lang !== lang) throw new Error(`${relative(REPO, join(REPO, b.page))}: the block ${name} is fenced as \`\`\`${b.lang}, expected \`\`\`${lang}`);
  return b;
}
