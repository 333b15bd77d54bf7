import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { REPO, freePort, startProxy } from './support/proxy.js';
import { shellWords } from './support/shell.js';

/** A banner line with its ports and padding out of the way (the ports change at every start). */
const bannerShape = (line: string): string => line.replace(/:\d{2,5}\//g, ':PORT/').replace(/\s+/g, ' ').trim();

/**
 * The banner docs/getting-started.md shows, in order, in what the demo printed: every line but the
 * page's `...` (which stands for the lines it leaves out).
 */
function assertPageBanner(printed: readonly string[]): void {
  const page = docBlock('demo-banner', 'text').split('\n').map(bannerShape).filter((l) => l !== '' && !l.includes('...'));
  const actual = printed.map(bannerShape);
  let at = 0;
  for (const line of page) {
    const found = actual.indexOf(line, at);
    assert.ok(found >= 0, `the page's banner line ${JSON.stringify(line)} is not (in that order) in what the demo printed:\n${printed.join('\n')}`);
    at = found + 1;
  }
}

test('with no configuration (and not production) bin/portcullis runs the demo: banner, dev issuer, echo upstream, a working login', async () => {
  const port = await freePort();
  const p = await startProxy({ NODE_ENV: 'development', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` });
  try {
    // The banner goes to stderr after the 'listening' log line on stdout; two pipes, so wait for it (bounded).
    for (let i = 0; i < 100 && !p.lines.some((l) => l.includes('DEMO MODE')); i++) await new Promise((r) => setTimeout(r, 20));
    const out = p.lines.join('\n');
    assert.match(out, /DEMO MODE: not for production/);
    assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${port}/`));
    assertPageBanner(p.lines);
    await p.waitForLog((l) => l.msg === 'issuer ready');
    const b = new HttpBrowser();
    const page = await b.navigate(`${p.url}/hello`);
    // Two dev issuers: the sign-in page offers both by name.
    assert.match(page.body, /Sign in with Acme staff/);
    assert.match(page.body, /id="sign-in-partner" data-provider="partner" href="\/oauth2\/start\?provider=partner&amp;rd=%2Fhello">Sign in with Partner</);
    const atIssuer = await b.navigate(new URL((/id="sign-in-acme" data-provider="acme" href="([^"]+)"/.exec(page.body))![1]!.replace(/&amp;/g, '&'), p.url).href);
    const form = /<form method="post" action="([^"]+)"><input type="hidden" name="sub" value="([^"]+)">/.exec(atIssuer.body);
    assert.ok(form, `the dev issuer shows its sign-in page: ${atIssuer.body.slice(0, 200)}`);
    const posted = await b.request(new URL(form[1]!, atIssuer.url).href, {
      method: 'POST', body: `sub=${encodeURIComponent(form[2]!)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const landed = await b.navigate(new URL(posted.headers.location!, atIssuer.url).href);
    assert.equal(landed.url, `${p.url}/hello`);
    assert.match(landed.body, /Hello, demo@example\.com/);
    // The demo app verified the proxy's identity JWT against its JWKS and shows the claims.
    assert.match(landed.body, /id="jwt-status" class="ok">valid</, landed.body.slice(0, 2000));
    assert.match(landed.body, /<th scope="row">sub<\/th><td>demo-user-1@acme<\/td>/);
    const api = JSON.parse((await b.request(`${p.url}/hello`, { headers: { accept: 'application/json' } })).body) as { headers: Record<string, string> };
    assert.equal(api.headers['x-forwarded-user'], 'demo-user-1@acme', 'curl still gets JSON; with two providers the user is sub@provider');

    // The partner's user has the same sub at its own issuer: another person.
    const other = new HttpBrowser();
    const atPartner = await other.navigate(`${p.url}/oauth2/start?provider=partner&rd=%2Fhello`);
    const pform = /<form method="post" action="([^"]+)"><input type="hidden" name="sub" value="([^"]+)">/.exec(atPartner.body);
    assert.ok(pform, `the partner dev issuer shows its sign-in page: ${atPartner.body.slice(0, 200)}`);
    const pposted = await other.request(new URL(pform[1]!, atPartner.url).href, {
      method: 'POST', body: `sub=${encodeURIComponent(pform[2]!)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await other.navigate(new URL(pposted.headers.location!, atPartner.url).href);
    const papi = JSON.parse((await other.request(`${p.url}/hello`, { headers: { accept: 'application/json' } })).body) as { headers: Record<string, string> };
    assert.equal(papi.headers['x-forwarded-user'], 'demo-user-1@partner');
    assert.equal(papi.headers['x-forwarded-email'], 'pat@partner.example');
  } finally {
    await p.stop();
  }
});

test('NODE_ENV=production with no issuer is a configuration error, not a demo', async () => {
  const p = await startProxy({ NODE_ENV: 'production', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${await freePort()}` }, { waitFor: 'exit' });
  assert.equal(p.child.exitCode, 2);
  assert.doesNotMatch(p.lines.join('\n'), /DEMO/);
  assert.match(p.lines.join('\n'), /OAUTH2_PROXY_OIDC_ISSUER_URL/);
});

test('README: `npm install && npm start` with no issuer starts the demo (npm start\'s command run as written), and `npm test` is what CI runs', { timeout: 60_000 }, async () => {
  // The README's first block and its demo block: the two commands, comments aside.
  const commands = docBlock('readme-commands', 'sh').split('\n').map((l) => shellWords(l, {})).filter((w) => w.length > 0);
  assert.deepEqual(commands, [['npm', 'install', '&&', 'npm', 'start'], ['npm', 'test']]);
  assert.deepEqual(shellWords(docBlock('readme-demo', 'sh'), {}), ['npm', 'install', '&&', 'npm', 'start']);
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.test!, /^npm run build && node --test .*dist\/test\/\*\.test\.js$/, 'npm test builds, then runs every test file');
  // CI runs the README's test command itself (a line of .ci/run that is not a comment).
  const ci = readFileSync(join(REPO, '.ci/run'), 'utf8').split('\n').filter((l) => !/^\s*#/.test(l));
  assert.ok(ci.some((l) => /(^|\s)npm test(\s|$)/.test(l)), '.ci/run runs npm test');
  assert.ok(ci.some((l) => /(^|\s)npm ci(\s|$)/.test(l)), '.ci/run installs the locked dependencies first');

  // `npm start`: its script builds (`npm run build`, what every test here already ran from), then
  // starts the proxy; that second command is run as written, in sh from the repository root, with
  // no issuer configured (npm install is not run: the dependencies are installed already). Only the
  // port is this test's instead of 4180. Rebuilding here would cost a minute on a busy machine.
  const [build, ...start] = pkg.scripts.start!.split('&&').map((c) => c.trim());
  assert.equal(build, 'npm run build');
  assert.equal(pkg.scripts.build, 'tsc -p .');
  assert.deepEqual(start, ['node bin/portcullis'], 'then the command itself');
  const port = await freePort();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('OAUTH2_PROXY_') && k !== 'NODE_ENV' && k !== 'NODE_TEST_CONTEXT') env[k] = v;
  const child = spawn('sh', ['-c', start.join(' && ')], { cwd: REPO, env: { ...env, OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (b: Buffer) => lines.push(...b.toString('utf8').split('\n')));
  try {
    const until = Date.now() + 40_000;
    while (Date.now() < until && child.exitCode === null && !lines.some((l) => l.includes('"msg":"issuer ready"'))) await new Promise((r) => setTimeout(r, 100));
    assert.ok(lines.some((l) => l.includes('PORTCULLIS DEMO MODE: not for production')), `npm start's command printed the demo banner:\n${lines.join('\n')}`);
    assertPageBanner(lines);
    const page = await new HttpBrowser().navigate(`http://127.0.0.1:${port}/hello`);
    assert.match(page.body, /Sign in with Acme staff/);
  } finally {
    // The shell and node bin/portcullis: the whole group this test started.
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
    const killer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 15_000);
    await exited;
    clearTimeout(killer);
  }
});
