import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO } from './proxy.js';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** Screenshots and other artifacts of browser tests (gitignored). */
export const ARTIFACTS = join(REPO, 'test-results');

/**
 * Headless Chromium with a fresh profile, as test/browser.test.ts starts it. A missing browser fails
 * the test with how to install it (CI installs it in .ci/run); `hostRules` maps test host names to
 * loopback (--host-resolver-rules), for pages that must not be on a "potentially trustworthy" origin.
 */
export async function launchChromium(o: { hostRules?: string } = {}): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM),
    `Chromium not found at ${CHROMIUM}: this test needs a real browser. Install it with `
    + '`apt-get update && apt-get install -y chromium` (CI does this in .ci/run), or set CHROMIUM_PATH.');
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(o.hostRules ? [`--host-resolver-rules=${o.hostRules}`] : [])],
  });
}
