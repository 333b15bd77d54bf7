import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO } from './support/proxy.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

/** The package a bare import specifier names (`@scope/pkg/sub` → `@scope/pkg`), or undefined for relative and built-in ones. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

test('every package the code imports is declared: production code in dependencies, the rest in either list', () => {
  const problems: string[] = [];
  for (const dir of ['src', 'test', 'bench']) {
    for (const file of sources(join(REPO, dir))) {
      const rel = relative(REPO, file);
      const text = readFileSync(file, 'utf8');
      // Static imports, dynamic imports and import types all name a package that must resolve.
      for (const m of text.matchAll(/(?:^|\s)(?:import|export)\s[^'"`;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
        const name = packageOf(m[1] ?? m[2]!);
        if (!name || name.startsWith('@types/')) continue;
        // src/devissuer and the demo are started only in demo mode, which needs the dev dependencies.
        const production = rel.startsWith('src/') && !rel.startsWith('src/devissuer/');
        const declared = production ? pkg.dependencies[name] : pkg.dependencies[name] ?? pkg.devDependencies[name];
        if (!declared) problems.push(`${rel} imports ${name}, which is not in ${production ? 'dependencies' : 'dependencies or devDependencies'}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

/** Relative imports of one source file (static, dynamic, `import type` and re-exports alike), resolved to repository paths. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\s)(?:import|export)\s[^'"`;]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|^import\s+['"](\.[^'"]+)['"]/gm)) {
    const spec = (m[1] ?? m[2] ?? m[3])!;
    out.push(relative(REPO, join(file, '..', spec.replace(/\.js$/, '.ts'))));
  }
  return out;
}

/** Every import cycle among the files under `dirs` (Tarjan's strongly connected components of two or more files, or one importing itself). */
function importCycles(dirs: readonly string[]): string[][] {
  const graph = new Map<string, string[]>();
  for (const dir of dirs) for (const file of sources(join(REPO, dir))) graph.set(relative(REPO, file), relativeImports(file));
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1 || graph.get(v)!.includes(v)) cycles.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

test('no import cycles in src/: each module sits below the ones that use it (type imports count too)', () => {
  assert.deepEqual(importCycles(['src']), []);
});

test('src/config/ imports nothing from the modules above it (oidc, session, upstream, server, pages)', () => {
  const problems: string[] = [];
  for (const file of sources(join(REPO, 'src/config'))) {
    for (const target of relativeImports(file)) {
      if (/^src\/(oidc|session|upstream|server|pages|demo|devissuer)\//.test(target)) problems.push(`${relative(REPO, file)} imports ${target}`);
    }
  }
  assert.deepEqual(problems, []);
});

/** Every package name a file imports: static and dynamic imports, and require() (src/ loads CommonJS packages with createRequire). */
function importedPackages(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(/(?:^|\s)(?:import|export)\s[^'"`;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:\brequire|\))\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
    const name = packageOf(m[1] ?? m[2] ?? m[3]!);
    if (name && !name.startsWith('@types/')) names.push(name);
  }
  return names;
}

test('every production dependency is used by production code: one only the bench, the tests or nothing imports belongs in devDependencies (or nowhere)', () => {
  const usedBy = new Map<string, Set<string>>();
  for (const dir of ['src', 'test', 'bench']) {
    for (const file of sources(join(REPO, dir))) {
      const rel = relative(REPO, file);
      // The dev issuer and the demo run only in demo mode, on the dev dependencies.
      const where = rel.startsWith('src/') && !rel.startsWith('src/devissuer/') ? 'production' : rel.split('/')[0]!;
      for (const name of importedPackages(readFileSync(file, 'utf8'))) {
        if (!usedBy.has(name)) usedBy.set(name, new Set());
        usedBy.get(name)!.add(where);
      }
    }
  }
  const problems = Object.keys(pkg.dependencies).flatMap((name) => {
    const users = usedBy.get(name);
    if (users?.has('production')) return [];
    const who = users && [...users].sort().map((d) => `${d}/`).join(' and ');
    return [`${name} is in dependencies, but ${who ? `only ${who} import${users!.size === 1 ? 's' : ''} it: move it to devDependencies` : 'nothing imports it: remove it'}, so the image does not carry it`];
  });
  assert.deepEqual(problems, []);
});
