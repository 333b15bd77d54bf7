import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { docBlock } from './docblock.js';
import { REPO } from './proxy.js';

/**
 * A shell value as the shell reads it: "…" and '…' lose their quotes, an unquoted value ends at
 * whitespace (so a trailing `# comment` is not part of it). A page's placeholder (`<client id from
 * hydra>`, `<tenant>.auth0.com`) is kept whole, spaces and all, for the test to fill in.
 */
function shellValue(raw: string): string {
  const q = /^"([^"]*)"|^'([^']*)'/.exec(raw);
  if (q) return q[1] ?? q[2]!;
  const placeholder = /^<[^>]*>\S*/.exec(raw);
  return placeholder ? placeholder[0] : /^\S*/.exec(raw)![0];
}

/**
 * The `KEY=VALUE` lines of an environment block, as a shell would set them: quotes stripped,
 * `# comments` and commented-out lines ignored. `commented: true` reads only the commented-out
 * assignments instead (`# OAUTH2_PROXY_X=…`: the lines a page tells the reader to uncomment when needed).
 */
export function envOfText(text: string, o: { commented?: boolean } = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = o.commented ? /^\s*#\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line) : /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]!] = shellValue(m[2]!);
  }
  return env;
}

/** {@link envOfText} of the marked `sh` block `name`. */
export function envBlock(name: string, o: { commented?: boolean } = {}): Record<string, string> {
  return envOfText(docBlock(name, 'sh'), o);
}

/**
 * Replaces every occurrence of each key by its value in every value of `env`: the hosts, ports and
 * paths a test substitutes (and nothing else), in one visible table.
 */
export function substitute(env: Record<string, string>, table: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    let s = v;
    for (const [from, to] of Object.entries(table)) s = s.split(from).join(to);
    out[k] = s;
  }
  return out;
}

/** Runs a shell command line as written with bash in `cwd`, `env` added to PATH; its stdout. */
export function runShell(line: string, o: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): string {
  return execFileSync('bash', ['-c', line], { cwd: o.cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...o.env }, encoding: 'utf8', timeout: o.timeoutMs ?? 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Makes `dir` a project where Portcullis is installed (node_modules/portcullis and its .bin link, as
 * `npm install portcullis` leaves them, pointing at this checkout), so a page's `npx portcullis …`
 * runs there as written. The variables returned keep npx offline: it never asks the registry.
 */
export function portcullisInstalledIn(dir: string): Record<string, string> {
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  if (!existsSync(join(dir, 'node_modules', 'portcullis'))) symlinkSync(REPO, join(dir, 'node_modules', 'portcullis'));
  if (!existsSync(join(dir, 'node_modules', '.bin', 'portcullis'))) symlinkSync('../portcullis/bin/portcullis', join(dir, 'node_modules', '.bin', 'portcullis'));
  return { npm_config_offline: 'true', npm_config_update_notifier: 'false', HOME: dir };
}
