// Facts about a run for its report: machine, versions of everything measured, the command, and
// where the raw JSON results go.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { REPO } from '../test/support/proxy.js';

export const RESULTS = join(REPO, 'bench', 'results');
export const DOC = join(REPO, 'docs', 'benchmarks.md');

function tryRun(cmd: string, args: string[]): string {
  try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim(); } catch { return ''; }
}

function pkgVersion(name: string): string {
  try { return (JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version; } catch { return 'missing'; }
}

export function machine(): string {
  const cpus = os.cpus();
  return `${os.availableParallelism()} CPUs (nproc), ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 1024 ** 3)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

export function versions(): string {
  const deb = (pkg: string): string => tryRun('dpkg-query', ['-W', '-f', '${Version}', pkg]) || 'not installed';
  const commit = tryRun('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']);
  return [
    `portcullis ${JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string} (${commit})`,
    `http-proxy ${pkgVersion('http-proxy')}`, `http-proxy-3 ${pkgVersion('http-proxy-3')}`,
    `express ${pkgVersion('express')}`, `express-openid-connect ${pkgVersion('express-openid-connect')}`,
    `http-proxy-middleware ${pkgVersion('http-proxy-middleware')}`, `oidc-provider ${pkgVersion('oidc-provider')} (dev issuer)`,
    `nginx-light ${deb('nginx-light')}`, `apache2 ${deb('apache2')}`, `libapache2-mod-auth-openidc ${deb('libapache2-mod-auth-openidc')}`,
    `wrk ${deb('wrk')}`, `autocannon ${pkgVersion('autocannon')}`,
  ].join(', ');
}

export function commandLine(): string {
  const args = process.argv.slice(2).join(' ');
  return process.env.npm_lifecycle_event === 'bench' ? `npm run bench${args ? ` -- ${args}` : ''}` : `node dist/bench/run.js${args ? ` ${args}` : ''}`;
}

export function writeResults(mode: string, out: string | undefined, data: object): string {
  mkdirSync(RESULTS, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = out ?? join(RESULTS, `${mode}-latest.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  if (!out) copyFileSync(file, join(RESULTS, `${mode}-${stamp}.json`));
  return file;
}


/** "2026-11-24 14:05 UTC" */
export function runDate(): string {
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
