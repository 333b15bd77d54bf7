import assert from 'node:assert/strict';

/**
 * Runs a table of cases: every failing row is reported, not just the first, so one run shows the
 * whole shape of a regression.
 */
export function table<I, O>(rows: ReadonlyArray<readonly [I, O]>, fn: (input: I) => O): void {
  const failures = rows.flatMap(([input, expected]) => {
    let actual: O | string;
    try { actual = fn(input); } catch (e) { actual = `threw ${(e as Error).message}`; }
    try { assert.deepEqual(actual, expected); return []; } catch { return [`${JSON.stringify(input)} → ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`]; }
  });
  assert.deepEqual(failures, []);
}
