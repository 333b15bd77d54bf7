/**
 * `npm run fuzz -- --duration 30m`: runs every property test (dist/test/prop-*.test.js) for a share
 * of the duration, from a random seed (or PROP_SEED), one file after another, and prints how many
 * runs each property passed. A failure prints fast-check's report with the seed and path to replay
 * it (see docs/testing.md, "Property tests and fuzzing"). Exit code 1 when a property failed.
 *
 * Options: --duration <N>[s|m|h] (default 5m); --only <substring of a file name>.
 * Run it with `nice -n 19` on a shared machine.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// This file runs as dist/test/support/fuzz.js; the property files are one level up.
const DIR = fileURLToPath(new URL('..', import.meta.url));

function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text);
  if (!m) throw new Error(`--duration: got ${JSON.stringify(text)}, expected a number of seconds, minutes or hours such as 90s, 30m or 1h`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

interface Line { name: string; runs: number; seed: number; failed: boolean; interrupted: boolean }

async function main(): Promise<number> {
  const total = durationMs(arg('--duration') ?? '5m');
  const only = arg('--only');
  const files = readdirSync(DIR).filter((f) => /^prop-.*\.test\.js$/.test(f) && (!only || f.includes(only))).sort();
  // How many properties each file has: its prop('…') calls.
  const counts = files.map((f) => (readFileSync(join(DIR, f), 'utf8').match(/\bprop\(\s*['"`]/g) ?? []).length);
  const properties = counts.reduce((a, b) => a + b, 0);
  if (properties === 0) throw new Error(`no properties found in ${DIR}prop-*.test.js (run npm run build first)`);
  // Setting up peers (issuers, proxies) takes a few seconds per file: keep that out of the shares.
  const each = Math.max(1000, Math.floor((total - files.length * 5000) / properties));
  const report = join(mkdtempSync(join(tmpdir(), 'portcullis-fuzz-')), 'report.jsonl');
  process.stdout.write(`fuzz: ${properties} properties in ${files.length} files, ${Math.round(each / 1000)} s each, seed ${process.env.PROP_SEED ?? 'random per file'}\n`);
  const failedFiles: string[] = [];
  for (const [k, f] of files.entries()) {
    const started = Date.now();
    const out: string[] = [];
    const code = await new Promise<number | null>((resolve) => {
      // The timeout also bounds the whole file: every property's share, and set-up.
      const child = spawn(process.execPath, ['--test', '--test-concurrency=1', `--test-timeout=${each * (counts[k]! + 2) + 120_000}`, '--test-force-exit', join(DIR, f)], {
        env: { ...process.env, PROP_TIME_MS: String(each), PROP_REPORT: report },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (c: Buffer) => out.push(c.toString('utf8')));
      child.stderr!.on('data', (c: Buffer) => out.push(c.toString('utf8')));
      child.on('exit', resolve);
    });
    process.stdout.write(`fuzz: ${f} ${code === 0 ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s\n`);
    if (code !== 0) {
      failedFiles.push(f);
      process.stdout.write(out.join('').split('\n').filter((l) => /not ok|Counterexample|seed|Replay|Got |error/.test(l)).slice(0, 40).join('\n') + '\n');
    }
  }
  const lines: Line[] = readFileSync(report, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  process.stdout.write('\n| property | runs passed | seed | result |\n|---|---:|---:|---|\n');
  for (const l of lines) process.stdout.write(`| ${l.name} | ${l.failed ? l.runs - 1 : l.runs} | ${l.seed} | ${l.failed ? 'FAILED' : 'passed'} |\n`);
  const runs = lines.reduce((a, l) => a + l.runs, 0);
  process.stdout.write(`\nfuzz: ${runs} runs of ${lines.length} properties; ${failedFiles.length ? `failures in ${failedFiles.join(', ')}` : 'no failure'}\n`);
  return failedFiles.length ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => { process.stderr.write(`fuzz: ${(err as Error).message}\n`); process.exitCode = 2; });
