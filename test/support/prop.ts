// How the property tests (test/prop-*.test.ts) run: under `npm test` each property runs a bounded
// number of times from a fixed seed, so CI is repeatable; under `npm run fuzz` (test/support/fuzz.ts)
// each runs for a share of a time budget from a random seed. A failure prints the seed, the path
// of the shrunk counterexample and the command that replays it.
//
// Variables (all optional):
//   PROP_SEED=<int>        the seed of every property (default: fixed, or random while fuzzing)
//   PROP_PATH=<path>       replay one counterexample (from a failure message), with its seed
//   PROP_RUNS_SCALE=<num>  multiply each property's bounded run count (default 1)
//   PROP_TIME_MS=<ms>      fuzz: run each property this long instead (random seed unless PROP_SEED)
//   PROP_REPORT=<file>     append one JSON line per property: name, runs, seed, failed

import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';

/** The seed `npm test` uses: the same runs every time. */
export const FIXED_SEED = 20261207;

const timeMs = Number(process.env.PROP_TIME_MS ?? 0);
const seed = process.env.PROP_SEED !== undefined ? Number(process.env.PROP_SEED)
  : timeMs > 0 ? (Math.random() * 2 ** 31) | 0 : FIXED_SEED;
const scale = Number(process.env.PROP_RUNS_SCALE ?? 1);

/**
 * Checks a property: `runs` times under `npm test` (times PROP_RUNS_SCALE), or for PROP_TIME_MS
 * while fuzzing. Throws fast-check's report (seed, shrunk counterexample, path) and how to replay it.
 */
export async function check<Ts>(name: string, property: fc.IAsyncProperty<Ts> | fc.IProperty<Ts>, runs: number): Promise<void> {
  const params: fc.Parameters<Ts> = timeMs > 0
    ? { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: timeMs, markInterruptAsFailure: false }
    : { seed, numRuns: Math.max(1, Math.round(runs * scale)) };
  params.includeErrorInReport = true;
  if (process.env.PROP_PATH) Object.assign(params, { path: process.env.PROP_PATH, endOnFailure: true });
  const details = await fc.check(property as fc.IAsyncProperty<Ts>, params);
  if (process.env.PROP_REPORT) {
    appendFileSync(process.env.PROP_REPORT, `${JSON.stringify({ name, runs: details.numRuns, seed: details.seed, failed: details.failed, interrupted: details.interrupted })}\n`);
  }
  if (details.failed) {
    const report = await fc.asyncDefaultReportMessage(details);
    // node --test runs each file in a process of its own: argv[1] is the test file.
    const file = process.argv[1] ? relative(process.cwd(), process.argv[1]) : 'dist/test/<this file>.js';
    const pattern = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/'/g, '.');
    throw new Error(`${report}\n\nReplay: PROP_SEED=${details.seed} PROP_PATH=${JSON.stringify(details.counterexamplePath)} node --test --test-name-pattern='${pattern}' ${file}`);
  }
}

/** A node:test test named `name` that checks the property `make()` builds (at run time, after any before hooks). */
export function prop<Ts>(name: string, runs: number, make: () => fc.IAsyncProperty<Ts> | fc.IProperty<Ts>, options: { timeout?: number } = {}): void {
  // Fuzzing runs a property for PROP_TIME_MS: the test's own timeout must leave room for it.
  test(name, { timeout: Math.max(options.timeout ?? 120_000, timeMs * 2 + 60_000) }, () => check(name, make(), runs));
}
