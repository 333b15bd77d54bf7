// docs/benchmarks.md's "Reproduce" commands take minutes on a quiet machine, so they are checked, not
// run: each line's script exists and every flag it passes is one that script's parseArgs declares.
// CI runs the benchmark itself briefly (.ci/run: run.js --smoke, soak.js --quick).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { docBlock } from './support/docblock.js';
import { REPO } from './support/proxy.js';
import { commandLines, shellWords } from './support/shell.js';

/** The long option names a bench script's parseArgs declares, read from its source. */
function declaredFlags(source: string): Set<string> {
  const at = source.indexOf('options: {');
  assert.ok(at >= 0, 'the script parses its arguments with parseArgs({ options: { … } })');
  let depth = 0;
  let end = at + 'options: '.length;
  for (; end < source.length; end++) {
    if (source[end] === '{') depth++;
    else if (source[end] === '}' && --depth === 0) break;
  }
  const body = source.slice(at, end);
  return new Set([...body.matchAll(/(?:'([a-z][a-z0-9-]*)'|\b([a-z][a-zA-Z0-9]*)): \{ type:/g)].map((m) => m[1] ?? m[2]!));
}

test('every command of docs/benchmarks.md names a script that exists, with flags that script accepts', () => {
  const lines = commandLines(docBlock('bench-reproduce', 'sh'));
  assert.ok(lines.length >= 5);
  const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const problems: string[] = [];
  for (const line of lines) {
    const words = shellWords(line.replace(/\s+#.*$/, ''), {});
    if (words[0] === 'npm') {
      assert.deepEqual(words.slice(1, 2), ['run'], line);
      if (!scripts[words[2]!]?.includes('dist/bench/run.js')) problems.push(`${line}: package.json's ${words[2]} does not run dist/bench/run.js`);
      continue;
    }
    assert.equal(words[0], 'node', line);
    const m = /^dist\/bench\/([a-z-]+)\.js$/.exec(words[1]!);
    if (!m) { problems.push(`${line}: not a bench script`); continue; }
    const source = join(REPO, 'bench', `${m[1]}.ts`);
    if (!existsSync(source)) { problems.push(`${line}: no bench/${m[1]}.ts`); continue; }
    const flags = declaredFlags(readFileSync(source, 'utf8'));
    for (const w of words.slice(2)) {
      const flag = /^--([a-z][a-z0-9-]*)/.exec(w)?.[1];
      if (flag && !flags.has(flag)) problems.push(`${line}: bench/${m[1]}.ts has no --${flag} (it has ${[...flags].join(', ')})`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the flag reader finds what parseArgs declares, and nothing else', () => {
  const src = "parseArgs({ args, options: { rounds: { type: 'string' }, 'baseline-bin': { type: 'string' }, help: { type: 'boolean', short: 'h' } } }); const x = { other: { type: 'string' } };";
  assert.deepEqual([...declaredFlags(src)].sort(), ['baseline-bin', 'help', 'rounds']);
});
