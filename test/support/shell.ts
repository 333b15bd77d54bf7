// Reading the docs' shell blocks the way sh reads them, so a test can run a block as written: its
// words (quotes, $VARS, $(commands), comments), the KEY=VALUE lines of an environment block, and the
// parts of a `docker run` line. No block is ever handed to a real shell as a whole: a test runs only
// the commands it understands, with what it substitutes (hosts, ports, paths) said in the test.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

/** How `$(…)` is expanded: by default the command runs in sh (openssl, tr), as the reader's shell would. */
export type CommandSubstitution = (command: string) => string;
const runInSh: CommandSubstitution = (command) => execFileSync('sh', ['-c', command], { encoding: 'utf8', timeout: 20_000 }).replace(/\n+$/, '');

/**
 * The words of a POSIX shell command line, as sh would split them: backslash-newline joins lines,
 * single quotes keep everything, double quotes keep spaces and expand $NAME, ${NAME} and $(command),
 * unquoted ones expand too, and an unquoted `#` at the start of a word comments out the rest of the
 * line. A variable the test does not set is an error: a block may use only the ones the test provides.
 */
export function shellWords(text: string, vars: Readonly<Record<string, string>>, substitute: CommandSubstitution = runInSh): string[] {
  const words: string[] = [];
  let word: string | undefined;
  const expand = (at: number): [string, number] => {
    if (text.startsWith('$(', at)) {
      let depth = 0;
      let end = at + 1;
      for (; end < text.length; end++) {
        if (text[end] === '(') depth++;
        else if (text[end] === ')' && --depth === 0) break;
      }
      assert.ok(end < text.length, `an unclosed $( in: ${text}`);
      return [substitute(text.slice(at + 2, end)), end + 1];
    }
    const m = /^\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))/.exec(text.slice(at));
    if (!m) return ['$', at + 1];
    const name = m[1] ?? m[2]!;
    if (!(name in vars)) throw new Error(`the page's command uses $${name}, which the test does not set`);
    return [vars[name]!, at + m[0].length];
  };
  for (let i = 0; i < text.length;) {
    const c = text[i]!;
    if (c === '\\' && text[i + 1] === '\n') { i += 2; continue; }
    if (/\s/.test(c)) { if (word !== undefined) words.push(word); word = undefined; i++; continue; }
    if (c === '#' && word === undefined) { const nl = text.indexOf('\n', i); i = nl < 0 ? text.length : nl; continue; }
    word ??= '';
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (text[i] !== '"') {
        if (text[i] === '\\' && /["\\$`]/.test(text[i + 1]!)) { word += text[i + 1]; i += 2; } else if (text[i] === '$') { const [v, next] = expand(i); word += v; i = next; } else { word += text[i]; i++; }
      }
      i++;
    } else if (c === '$') {
      const [v, next] = expand(i);
      word += v;
      i = next;
    } else if (c === '\\') {
      word += text[i + 1];
      i += 2;
    } else {
      word += c;
      i++;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * An environment block (`KEY=VALUE` lines, as in a .env file or a shell): the variables it sets,
 * quotes stripped as sh strips them, `# comments` and commented-out lines ignored. Any other word
 * on a line is an error: such a block is not only variables.
 */
export function envBlock(text: string, vars: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    for (const word of shellWords(line, vars)) {
      const m = /^([A-Za-z_]\w*)=([\s\S]*)$/.exec(word);
      assert.ok(m, `not a KEY=VALUE assignment in the environment block: ${JSON.stringify(word)} (line ${JSON.stringify(line)})`);
      env[m[1]!] = m[2]!;
    }
  }
  return env;
}

/** The commented-out assignments of an environment block (`# KEY=VALUE  # why`): the alternatives a page offers. */
export function commentedEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*#\s*([A-Z][A-Z0-9_]*=.*)$/.exec(line);
    if (m) Object.assign(env, envBlock(m[1]!));
  }
  return env;
}

/** `docker run [options] IMAGE [args]`: the -e variables, the -v mounts, the image and the arguments after it. */
export function dockerRun(words: readonly string[]): { env: Record<string, string>; volumes: Array<{ host: string; container: string; mode?: string }>; image: string; args: string[] } {
  assert.deepEqual(words.slice(0, 2), ['docker', 'run']);
  const env: Record<string, string> = {};
  const volumes: Array<{ host: string; container: string; mode?: string }> = [];
  const withValue = new Set(['-p', '--publish', '--name', '--restart', '--network', '-u', '--user']);
  let i = 2;
  for (; i < words.length && words[i]!.startsWith('-'); i++) {
    const w = words[i]!;
    if (w === '-e' || w === '--env') {
      const kv = words[++i]!;
      assert.ok(kv.includes('='), `docker run ${w} ${kv}: this test reads only NAME=VALUE`);
      env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    } else if (w === '-v' || w === '--volume') {
      const [host, container, mode] = words[++i]!.split(':') as [string, string, string | undefined];
      volumes.push({ host, container, ...(mode ? { mode } : {}) });
    } else if (withValue.has(w)) {
      i++;
    } else {
      assert.ok(['-d', '--detach', '--rm', '-it', '-i', '-t'].includes(w), `docker run option ${w} is not understood by this test`);
    }
  }
  return { env, volumes, image: words[i]!, args: words.slice(i + 1) };
}

/** The commands of a block, one per logical line (backslash-newline joined; blank lines and comment lines dropped). */
export function commandLines(text: string): string[] {
  return text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** A ```console block: each `$ command` with the output shown under it. */
export function consoleSession(text: string): Array<{ command: string; output: string[] }> {
  const out: Array<{ command: string; output: string[] }> = [];
  for (const line of text.split('\n')) {
    const l = line.replace(/^\s+/, '');
    if (l.startsWith('$ ')) out.push({ command: l.slice(2), output: [] });
    else if (l !== '') {
      assert.ok(out.length > 0, `output before any $ command in the console block: ${l}`);
      out.at(-1)!.output.push(l);
    }
  }
  return out;
}
