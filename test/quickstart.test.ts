// The quick starts of README.md and docs/getting-started.md, run as written where they can run here:
// the npx command lines through this checkout's bin/portcullis (what `npx portcullis` runs) against
// the real issuer (oidc-provider), their `$(openssl …)` run in sh. Substituted, and only these: the
// issuer URL (the test's issuer), the client secret file's path (a file the test writes), the
// upstreams' ports (the test's echo apps), and the listen port (the test's; the blocks keep the
// default 127.0.0.1:4180). The docker blocks cannot run (no Docker engine on these machines): the
// test checks that `docker build` tags the image `docker run` runs, that every -e variable is an
// option Portcullis knows, and that the container's environment (the Dockerfile's ENV lines, then
// the -e variables, a -v mounted file read from its host side) passes the real configuration loader.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeSources, unknownVariableWarnings } from '../src/config/load.js';
import { OPTIONS } from '../src/config/options.js';
import { validateConfig } from '../src/config/validate.js';
import { startEchoUpstream } from '../src/demo/echo.js';
import { startDevIssuer, type DevAccount, type DevIssuer } from '../src/devissuer/issuer.js';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { REPO, freePort, startProxy } from './support/proxy.js';
import { commandLines, dockerRun, shellWords } from './support/shell.js';
import { ALICE, waitReady, type Echoed } from './support/stack.js';

const SECRET = 'my-app-client-secret-from-a-file';
const OUTSIDER: DevAccount = { sub: 'olga-0001', email: 'olga@example.org', email_verified: true, name: 'Olga', preferred_username: 'olga', groups: [] };
const dir = mkdtempSync(join(tmpdir(), 'portcullis-quickstart-'));
const secretFile = join(dir, 'client_secret');
writeFileSync(secretFile, `${SECRET}\n`);

/** An echo app that also remembers which paths it was asked for (to tell two upstreams apart). */
async function app(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const echo = await startEchoUpstream();
  const seen: string[] = [];
  (echo.server as http.Server).on('request', (req: http.IncomingMessage) => seen.push(req.url ?? ''));
  return { url: echo.url, seen, close: () => echo.close() };
}

/** Replaces each `from` (which must be among the words, exactly) by `to`. */
function substitute(words: readonly string[], replace: Readonly<Record<string, string>>): string[] {
  for (const from of Object.keys(replace)) assert.ok(words.includes(from), `the command no longer has ${from}: ${words.join(' ')}`);
  return words.map((w) => replace[w] ?? w);
}

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('the npx quick starts, run as written through bin/portcullis', () => {
  let issuer: DevIssuer;
  let apps: Array<Awaited<ReturnType<typeof app>>>;
  const ports: number[] = [];
  before(async () => {
    ports.push(await freePort(), await freePort());
    issuer = await startDevIssuer({
      shape: 'hydra', accounts: [ALICE, OUTSIDER],
      clients: [{ client_id: 'my-app', client_secret: SECRET, redirect_uris: ports.map((p) => `http://127.0.0.1:${p}/oauth2/callback`) }],
    });
    cleanups.push(() => issuer.stop());
    apps = [await app(), await app()];
    for (const a of apps) cleanups.push(() => a.close());
  });

  /** Runs a block's `npx portcullis …` line and checks what the page promises: a login, the apps, the email domain. */
  async function runNpx(name: string, port: number): Promise<void> {
    const [line, ...more] = commandLines(docBlock(name, 'sh'));
    assert.deepEqual(more, [], `${name}: one command`);
    const words = shellWords(line!, {});
    assert.deepEqual(words.slice(0, 2), ['npx', 'portcullis'], name);
    const twoApps = words.includes('http://127.0.0.1:9000/api/');
    const args = substitute(words.slice(2), {
      'https://issuer.example.com/': issuer.issuer,
      '/run/secrets/client_secret': secretFile,
      'http://127.0.0.1:8080/': apps[0]!.url,
      ...(twoApps ? { 'http://127.0.0.1:9000/api/': `${apps[1]!.url}api/` } : {}),
    });
    // The cookie secret is what the page's openssl line printed: 32 random bytes, base64url.
    const secret = args[args.indexOf('--cookie-secret') + 1]!;
    assert.equal(Buffer.from(secret, 'base64url').length, 32, `--cookie-secret ${secret}`);
    assert.doesNotMatch(secret, /[+/]/);

    const p = await startProxy({ OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` }, { args });
    cleanups.push(() => p.stop());
    await waitReady(p.url);
    assert.deepEqual(p.logs().filter((l) => l.level === 40 || l.event === 'config_warning').map((l) => l.msg), [], `${name} starts without a warning`);

    issuer.loginAs(ALICE.sub);
    const b = new HttpBrowser();
    const landed = await b.navigate(`${p.url}/oauth2/start?rd=%2Fhello`);
    assert.equal(landed.status, 200, landed.body.slice(0, 300));
    assert.equal(landed.url, `${p.url}/hello`);
    const seen = JSON.parse((await b.request(`${p.url}/hello`, { headers: { accept: 'application/json' } })).body) as Echoed;
    assert.equal(seen.headers['x-forwarded-email'], ALICE.email, 'the client secret from the file worked, and the app gets the user');
    assert.ok(apps[0]!.seen.includes('/hello'));
    if (twoApps) {
      const api = await b.request(`${p.url}/api/items`, { headers: { accept: 'application/json' } });
      assert.equal(api.status, 200);
      assert.ok(apps[1]!.seen.includes('/api/items') && !apps[0]!.seen.includes('/api/items'), 'the second --upstream serves /api/');
    }
    issuer.loginAs(OUTSIDER.sub);
    const outsider = await new HttpBrowser().navigate(`${p.url}/oauth2/start?rd=%2Fhello`);
    assert.equal(outsider.status, 403, '--email-domain example.com: an example.org user is refused');
    await p.stop();
  }

  test('docs/getting-started.md: npx with flags, two upstreams', { timeout: 90_000 }, async () => {
    await runNpx('start-npx', ports[0]!);
  });

  test('README.md: the npx quick start', { timeout: 90_000 }, async () => {
    await runNpx('readme-npx', ports[1]!);
  });
});

/** The runtime stage's ENV lines of the Dockerfile: what the container has before any -e. */
function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  return Object.fromEntries([...runtime.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

describe('the docker quick starts (no Docker engine here): the image they build, their variables and the loader', () => {
  for (const [name, where] of [['start-docker', 'docs/getting-started.md'], ['readme-docker', 'README.md']] as const) {
    test(`${where}: docker build tags what docker run runs; every -e variable is an option; the container's environment loads`, () => {
      const lines = commandLines(docBlock(name, 'sh'));
      const [build, runLine, ...more] = lines.filter((l) => l.startsWith('docker '));
      assert.deepEqual(more, []);
      assert.deepEqual(shellWords(build!, {}), ['docker', 'build', '-t', 'portcullis', '.'], 'built from the repository root, where the Dockerfile is');
      // The lines that make the secret files run as written, in sh, in a folder of their own, with the
      // client secret the issuer gave in $CLIENT_SECRET as the block says.
      const work = mkdtempSync(join(tmpdir(), `portcullis-${name}-`));
      const setup = lines.filter((l) => !l.startsWith('docker '));
      if (setup.length > 0) execFileSync('sh', ['-e', '-c', setup.join('\n')], { cwd: work, env: { ...process.env, CLIENT_SECRET: SECRET } });
      const run = dockerRun(shellWords(runLine!, { PWD: work }));
      assert.equal(run.image, 'portcullis');
      assert.deepEqual(run.args, [], 'no arguments: the image\'s entrypoint is bin/portcullis');

      const known = new Set(OPTIONS.map((o) => o.env));
      assert.deepEqual(Object.keys(run.env).filter((k) => !known.has(k)), [], 'every -e variable is an option');
      assert.deepEqual(unknownVariableWarnings(Object.keys(run.env), 'environment'), []);

      const env = { ...imageEnv(), ...run.env };
      assert.equal(env.OAUTH2_PROXY_HTTP_ADDRESS, '0.0.0.0:4180', 'the container listens where -p 4180:4180 publishes');
      assert.equal(env.NODE_ENV, 'production');
      // A file the container reads is the -v mount's host side; nothing else is readable.
      const readFile = (path: string): string => {
        const mount = run.volumes.find((v) => v.container === path);
        assert.ok(mount, `the container reads ${path}, which no -v mounts`);
        return readFileSync(mount.host, 'utf8');
      };
      const v = validateConfig(mergeSources({ flags: {}, env, dotenv: {} }), readFile);
      assert.ok(v.ok, v.ok ? '' : v.errors.join('\n'));
      assert.deepEqual(v.warnings, []);
      assert.equal(v.config.cookie.secret.length, 32, 'the openssl line makes a 32-byte cookie secret');
      assert.equal(v.config.provider.clientId, 'my-app');
      assert.equal(String(v.config.provider.redirectUrl), 'https://app.example.com/oauth2/callback');
      if (run.volumes.length > 0) assert.equal(v.config.provider.clientSecret, SECRET, 'the secret is the mounted file\'s');
    });
  }
});
