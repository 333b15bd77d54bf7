/**
 * Rewrites docs/testing.md's "OpenID RP test plan" table from test/support/rp-plan-table.ts:
 * `npx tsc -p . && node dist/test/support/rp-plan-docs.js`. test/rp-plan.test.ts checks for drift.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { replaceBetweenMarkers } from '../../src/config/docs.js';
import { RP_PLAN_MARKERS, rpPlanMarkdownTable } from './rp-plan-table.js';

// This file runs as dist/test/support/rp-plan-docs.js; the repository root is three levels up.
const README = fileURLToPath(new URL('../../../docs/testing.md', import.meta.url));
const current = readFileSync(README, 'utf8');
const wanted = replaceBetweenMarkers(current, rpPlanMarkdownTable(), RP_PLAN_MARKERS);
if (wanted !== current) writeFileSync(README, wanted);
process.stdout.write(wanted === current ? 'rp-plan: docs/testing.md already up to date\n' : 'rp-plan: wrote docs/testing.md\n');
