// The pages for people who work on Portcullis hold to the repository: docs/development.md's layout
// names folders and files that exist, its road is the road of src/server/road.ts, the README's
// development commands are scripts and files that exist, and docs/testing.md's replay line runs
// as written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { docBlock, readDoc } from './support/docblock.js';
import { REPO } from './support/proxy.js';
import { commandLines, shellWords } from './support/shell.js';

const run = promisify(execFile);
const exists = (path: string): boolean => existsSync(join(REPO, path));

/** The layout block's entries: a path at the start of a line, and its description (continuation lines joined). */
function layoutEntries(): Array<{ path: string; about: string }> {
  const entries: Array<{ path: string; about: string }> = [];
  for (const line of docBlock('dev-layout', 'text').split('\n')) {
    if (line.trim() === '') continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (m) entries.push({ path: m[1]!, about: m[2]! });
    else entries.at(-1)!.about += ` ${line.trim()}`;
  }
  return entries;
}

test('docs/development.md\'s layout: every folder and file it names exists, each .ts a folder\'s line mentions is in it, and every folder of src/ is on it', () => {
  const entries = layoutEntries();
  assert.ok(entries.length >= 10, `the layout has its entries: ${entries.map((e) => e.path).join(' ')}`);
  const missing: string[] = [];
  for (const { path, about } of entries) {
    if (!exists(path)) { missing.push(path); continue; }
    const isDir = statSync(join(REPO, path)).isDirectory();
    assert.equal(isDir, path.endsWith('/'), `${path}: a folder is written with its slash, a file without`);
    // Paths from the root in the description (src/errors.ts, src/devissuer/) and, for a folder, its files by name.
    for (const m of about.matchAll(/(?<![\w/.])((?:src|test|bench|bin)\/[\w./-]*)/g)) {
      const p = m[1]!.replace(/[.,;:)]+$/, '');
      if (!exists(p)) missing.push(`${p} (on ${path}'s line)`);
    }
    if (isDir) for (const m of about.matchAll(/(?<![\w/])([a-z][\w-]*\.ts)\b/g)) if (!exists(join(path, m[1]!))) missing.push(`${path}${m[1]}`);
  }
  // The contracts table and the prose name files by their path too.
  for (const m of readDoc('docs/development.md').matchAll(/`((?:src|test|bench)\/[\w./-]+)`/g)) if (!exists(m[1]!)) missing.push(`${m[1]} (in the page's text)`);
  assert.deepEqual(missing, [], 'the page names paths that do not exist');
  const mapped = entries.map((e) => `${e.path} ${e.about}`).join(' ');
  const srcFolders = readdirSync(join(REPO, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `src/${d.name}/`);
  assert.deepEqual(srcFolders.filter((f) => !mapped.includes(f)), [], 'a folder of src/ the layout leaves out');
});

test('docs/development.md\'s road is the road of src/server/road.ts, step by step', () => {
  const road = docBlock('dev-road', 'text').trim();
  const source = readFileSync(join(REPO, 'src/server/road.ts'), 'utf8');
  assert.ok(source.includes(` *   ${road}\n`), 'road.ts documents the same road in its comment');
  // The steps of the ROAD list in the source, in order; each of the page's names is one of them.
  const list = /const ROAD: readonly Step\[\] = \[([\s\S]*?)\];/.exec(source);
  assert.ok(list, 'road.ts has its ROAD list');
  const steps = [...list[1]!.replace(/\/\/.*$/gm, '').matchAll(/\b(health|route|matchRoute|skipAuth|trustClient|loadSession|refresh|endpoint|authenticate|authorise|forward)\b/g)].map((m) => m[1]);
  const named: Record<string, string[]> = {
    health: ['health'], route: ['route'], 'skip auth (or routes_file)': ['matchRoute', 'skipAuth'], 'trusted IPs': ['trustClient'],
    'load session': ['loadSession'], refresh: ['refresh'], 'own endpoint': ['endpoint'], authenticate: ['authenticate'], authorise: ['authorise'], forward: ['forward'],
  };
  const fromPage = road.split(' → ').flatMap((name) => {
    assert.ok(named[name], `the page's step "${name}" is not one of road.ts's`);
    return named[name];
  });
  assert.deepEqual(fromPage, steps);
});

test('README.md\'s development commands: each npm script is in package.json and does what its comment says; the files they name exist', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string>; engines: { node: string } };
  const commands = commandLines(docBlock('readme-development', 'sh')).map((l) => shellWords(l, {}));
  const seen: string[] = [];
  for (const words of commands) {
    const line = words.join(' ');
    seen.push(line);
    if (words[0] === 'npm') {
      const script = words[1] === 'run' ? words[2]! : words[1]!;
      if (script === 'install') continue;
      assert.ok(pkg.scripts[script], `${line}: package.json has no script ${script}`);
    } else if (words[0] === 'node') {
      const file = words.at(-1)!;
      assert.match(file, /^dist\/test\/[\w-]+\.test\.js$/, line);
      assert.ok(exists(file.replace(/^dist\//, '').replace(/\.js$/, '.ts')) && exists(file), `${line}: ${file} is built from a test file that exists`);
    } else if (words[0] === 'bash') {
      assert.ok(exists(words[1]!), `${line}: ${words[1]} exists`);
    } else {
      assert.fail(`a command this test does not know: ${line}`);
    }
  }
  assert.deepEqual(seen, ['npm install', 'npm run build', 'npm test', 'node --test --test-force-exit dist/test/nginx.test.js', 'npm run docs', 'npm run bench', 'bash .ci/run']);
  assert.equal(pkg.engines.node, '>=20.19', 'the comment says Node >= 20.19');
  assert.match(pkg.scripts.build!, /^tsc -p \.$/, 'build: TypeScript to dist/');
  assert.match(pkg.scripts.docs!, /dist\/src\/config\/docs-cli\.js/, 'docs: the generator of .env.example and the tables');
  assert.match(pkg.scripts.bench!, /dist\/bench\/run\.js/, 'bench: the benchmark');
  const ci = readFileSync(join(REPO, '.ci/run'), 'utf8');
  for (const step of ['apt-get install', 'npm ci', 'npm test', 'dist/bench/run.js']) assert.ok(ci.includes(step), `.ci/run: ${step}`);
});

test('docs/testing.md\'s replay line runs as written: exactly one property, passing', { timeout: 90_000 }, async () => {
  const line = docBlock('testing-replay', 'sh').trim();
  const words = shellWords(line, {});
  const pattern = words.find((w) => w.startsWith('--test-name-pattern='))!.slice('--test-name-pattern='.length);
  const file = words.at(-1)!;
  // The variables the line sets are the ones test/support/prop.ts reads, and its pattern names one property.
  const prop = readFileSync(join(REPO, 'test/support/prop.ts'), 'utf8');
  for (const w of words.filter((x) => /^[A-Z_]+=/.test(x))) assert.ok(prop.includes(`process.env.${w.slice(0, w.indexOf('='))}`), `${w}: read by test/support/prop.ts`);
  const source = readFileSync(join(REPO, file.replace(/^dist\//, '').replace(/\.js$/, '.ts')), 'utf8');
  assert.equal(source.split(`prop('${pattern}`).length - 1, 1, `one property of ${file} starts with "${pattern}"`);
  // Run in sh from the repository root, outside this test runner (NODE_TEST_CONTEXT would make it report to us).
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const { stdout } = await run('sh', ['-c', line], { cwd: REPO, env, timeout: 80_000 });
  // Node 20 reports TAP when its output is not a terminal (# pass 1); Node 23 and later report spec (ℹ pass 1).
  assert.match(stdout, /^(?:#|ℹ) pass 1$/m, stdout.slice(-600));
  assert.match(stdout, /^(?:#|ℹ) fail 0$/m);
});
