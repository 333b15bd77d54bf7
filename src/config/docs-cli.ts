/**
 * `npm run docs`: writes `.env.example` and docs/configuration.md's option table from the option table,
 * and docs/troubleshooting.md's sections of error codes from the error catalog.
 * `--check` writes nothing and exits 1 naming each file that drifted (for CI).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { troubleshootingMarkdown } from '../errors.js';
import { ERRORS_MARKERS, envExample, optionsMarkdownTable, replaceBetweenMarkers } from './docs.js';

// This file runs as dist/src/config/docs-cli.js; the repository root is three levels up.
const ROOT = new URL('../../../', import.meta.url);

interface GeneratedFile {
  readonly name: string;
  readonly path: string;
  /** The wanted content, given the current one ('' when the file does not exist). */
  render(current: string): string;
}

const FILES: readonly GeneratedFile[] = [
  { name: '.env.example', path: fileURLToPath(new URL('.env.example', ROOT)), render: () => envExample() },
  { name: 'docs/configuration.md', path: fileURLToPath(new URL('docs/configuration.md', ROOT)), render: (current) => replaceBetweenMarkers(current, optionsMarkdownTable()) },
  { name: 'docs/troubleshooting.md', path: fileURLToPath(new URL('docs/troubleshooting.md', ROOT)), render: (current) => replaceBetweenMarkers(current, troubleshootingMarkdown(), ERRORS_MARKERS) },
];

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

function main(argv: readonly string[]): number {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length) {
    process.stderr.write(`docs: unknown argument(s) ${unknown.join(' ')}; usage: docs-cli.js [--check]\n`);
    return 2;
  }
  const check = argv.includes('--check');
  const drifted: string[] = [];
  for (const f of FILES) {
    const current = readOrEmpty(f.path);
    let wanted: string;
    try {
      wanted = f.render(current);
    } catch (e) {
      process.stderr.write(`docs: ${f.name}: ${(e as Error).message}\n`);
      return 2;
    }
    if (wanted === current) continue;
    drifted.push(f.name);
    if (!check) writeFileSync(f.path, wanted);
  }
  if (check) {
    if (drifted.length === 0) {
      process.stdout.write('docs: .env.example, docs/configuration.md and docs/troubleshooting.md match the option table and the error catalog\n');
      return 0;
    }
    process.stderr.write(`docs: out of date with src/config/options.ts: ${drifted.join(', ')}; run \`npm run docs\`\n`);
    return 1;
  }
  process.stdout.write(drifted.length ? `docs: wrote ${drifted.join(', ')}\n` : 'docs: already up to date\n');
  return 0;
}

process.exitCode = main(process.argv.slice(2));
