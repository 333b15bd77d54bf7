import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cookieSecretBytes, deriveSealPasswords } from '../src/config/secret.js';
import { SessionCodec } from '../src/session/codec.js';
import { HttpBrowser } from './support/browser.js';
import { docBlock } from './support/docblock.js';
import { portcullisInstalledIn, runShell } from './support/docenv.js';
import { startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { BIN, REPO, freePort } from './support/proxy.js';
import { startRedis, startReady } from './support/redis.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET, type Echoed } from './support/stack.js';

const JSON_ACCEPT = { accept: 'application/json' };

/** bin/portcullis sessions … as an operator runs it, with only these variables; bounded to 30 s. */
function portcullis(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`portcullis ${args.join(' ')} did not finish in 30 s: ${out}${err}`)); }, 30_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
  });
}

async function signIn(peers: Peers, proxy: InProcess): Promise<string> {
  const b = new HttpBrowser();
  assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/x`)).status, 200);
  return `_oauth2_proxy=${b.cookies().get('_oauth2_proxy')}`;
}

async function userAt(proxy: InProcess, cookie: string): Promise<string> {
  const res = await new HttpBrowser().request(`${proxy.url}/x`, { headers: { ...JSON_ACCEPT, cookie } });
  return res.status === 200 ? String((JSON.parse(res.body) as Echoed).headers['x-forwarded-user']) : String(res.status);
}

async function refusedSoon(proxy: InProcess, cookie: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await userAt(proxy, cookie)) === '401') return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

for (const shape of ['redis', 'cookie'] as const) {
  test(`sessions revoke --sub with ${shape} sessions and Redis: every session of the subject ends on every replica; a later login works`, async () => {
    const redis = await startRedis();
    const ports = [await freePort(), await freePort()];
    const peers = await startPeers({ ports });
    const env = { ...peers.env, OAUTH2_PROXY_REDIS_CONNECTION_URL: redis.url, ...(shape === 'redis' ? { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis' } : {}) };
    const a = await startReady(env, ports[0]);
    const b = await startReady(env, ports[1]);
    try {
      const one = await signIn(peers, a);
      const two = await signIn(peers, b);
      for (const p of [a, b]) for (const c of [one, two]) assert.equal(await userAt(p, c), ALICE.sub);
      const r = await portcullis(['sessions', 'revoke', '--sub', ALICE.sub], env);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, shape === 'redis' ? /^revoked: 2 sessions of subject "alice-subject-0001" ended/ : /^revoked: every session of subject "alice-subject-0001" started until now is refused/);
      for (const p of [a, b]) for (const c of [one, two]) assert.ok(await refusedSoon(p, c), `refused on ${p === a ? 'A' : 'B'}`);
      const later = await signIn(peers, a);
      assert.equal(await userAt(b, later), ALICE.sub);
      if (shape === 'redis') {
        const again = await portcullis(['sessions', 'revoke', '--sid', 'no-such-issuer-session'], env);
        assert.equal(again.code, 0, again.err);
        assert.match(again.out, /^revoked: 0 sessions of issuer session "no-such-issuer-session"/);
        assert.equal(await userAt(b, later), ALICE.sub, 'an unknown sid ends nothing');
      }
    } finally {
      await a.close();
      await b.close();
      await peers.close();
      await redis.close();
    }
  });
}

test('sessions revoke with cookie sessions and no Redis says it cannot, and names the two ways out', async () => {
  const peers = await startPeers();
  try {
    const r = await portcullis(['sessions', 'revoke', '--sub', ALICE.sub], peers.env);
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.match(r.err, /nothing here can end them/);
    assert.match(r.err, /configure Redis: OAUTH2_PROXY_SESSION_STORE_TYPE=redis/);
    assert.match(r.err, /rotate the cookie secret/);
  } finally {
    await peers.close();
  }
});

test('sessions revoke: usage and configuration errors exit 2; an unreachable Redis exits 1 and revokes nothing', async () => {
  const peers = await startPeers();
  try {
    for (const args of [[], ['--sub', 'x', '--sid', 'y'], ['--sub', '']]) {
      const r = await portcullis(['sessions', 'revoke', ...args], peers.env);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, /exactly one of --sub SUBJECT and --sid SID/);
    }
    const bad = await portcullis(['sessions', 'revoke', '--sub', 'x'], { ...peers.env, OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis' });
    assert.equal(bad.code, 2);
    assert.match(bad.err, /OAUTH2_PROXY_REDIS_CONNECTION_URL \(or --redis-connection-url\) is required/);
    const dead = await portcullis(['sessions', 'revoke', '--sub', 'x', '--redis-connection-url', `redis://127.0.0.1:${await freePort()}`], { ...peers.env, OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis' });
    assert.equal(dead.code, 1);
    assert.match(dead.err, /not reachable within 10 s .*nothing was revoked/);
  } finally {
    await peers.close();
  }
});

test('docs/redis.md as written: `portcullis sessions revoke --sub …` then `--sid …`, run by bash with the proxies\' own variables', async () => {
  const lines = docBlock('redis-sessions-revoke', 'sh').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('portcullis '));
  assert.equal(lines.length, 2);
  // The page's subject is the test account's own; its sid (08a5019c-17e1) is replaced by the issuer
  // session of a login here. `portcullis` is on the PATH as an installed package puts it (npm's
  // .bin link, to this checkout). The variables are the replicas' (cookie sessions, Redis for the revocations).
  const sub = /--sub (\S+)/.exec(lines[0]!)![1]!;
  assert.equal(sub, '248289761001');
  const redis = await startRedis();
  const ports = [await freePort(), await freePort()];
  // The client registers a back-channel logout URI, so the issuer puts its session id (sid) in ID tokens.
  const peers = await startPeers({
    ports, accounts: [{ sub, email: 'jo@example.com', email_verified: true, groups: ['staff'] }],
    issuerOptions: { clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: ports.map((p) => `http://127.0.0.1:${p}/oauth2/callback`), backchannel_logout_uri: `http://127.0.0.1:${ports[0]}/oauth2/backchannel_logout` }] },
  });
  const env = { ...peers.env, OAUTH2_PROXY_REDIS_CONNECTION_URL: redis.url };
  const a = await startReady(env, ports[0]);
  const b = await startReady(env, ports[1]);
  const home = mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
  portcullisInstalledIn(home);
  const run = (line: string): string => runShell(line, { cwd: home, env: { ...env, NODE_ENV: 'production', PATH: `${join(home, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` } });
  try {
    const one = await signIn(peers, a);
    const two = await signIn(peers, b);
    assert.equal(await userAt(b, one), sub);
    assert.match(run(lines[0]!), new RegExp(`^revoked: every session of subject "${sub}" started until now is refused`));
    for (const p of [a, b]) for (const c of [one, two]) assert.ok(await refusedSoon(p, c), `refused on ${p === a ? 'A' : 'B'}`);

    const three = await signIn(peers, a);
    const codec = new SessionCodec(deriveSealPasswords([cookieSecretBytes(peers.env.OAUTH2_PROXY_COOKIE_SECRET!)!], 'session'), 7 * 86_400_000);
    const sid = (await codec.unseal(three.slice('_oauth2_proxy='.length)))?.issuerSid;
    assert.ok(sid, 'the ID token named its issuer session');
    assert.ok(lines[1]!.includes('--sid 08a5019c-17e1'));
    assert.match(run(lines[1]!.replace('08a5019c-17e1', sid)), /^revoked: /);
    assert.ok(await refusedSoon(b, three), 'that issuer session ended on the other replica');
    const four = await signIn(peers, b);
    assert.equal(await userAt(a, four), sub, 'a later login (another issuer session) works');
  } finally {
    await a.close();
    await b.close();
    await peers.close();
    await redis.close();
  }
});
