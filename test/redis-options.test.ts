// oauth2-proxy's Redis options added by the sweep (issue 13), against real redis-server processes:
// redis_ca_path and redis_insecure_skip_tls_verify (TLS), redis_username (an ACL user) and
// redis_sentinel_password (a Sentinel that asks for one). Each is shown reaching Redis, and its
// absence shown leaving the proxy unready (503 on /ready), never signing anyone in without a store.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { startRedis, startSentinel } from './support/redis.js';
import { makeCertificates } from './support/tls.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => { for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => {}); });

let peers: Peers | undefined;
const ports: number[] = [];
/** One issuer and upstream for every proxy of this file, each proxy on a port the issuer knows. */
async function proxy(redisEnv: Record<string, string>): Promise<InProcess> {
  if (!peers) {
    for (let i = 0; i < 12; i++) ports.push(await freePort());
    peers = await startPeers({ ports });
    cleanups.push(() => peers!.close());
  }
  const p = await startInProcess({ ...peers.env, OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', ...redisEnv }, ports.shift());
  cleanups.push(() => p.close());
  return p;
}

/** /ready's status once it settles: 200 within 10 s, else what it says after them. */
async function readiness(p: InProcess): Promise<{ status: number; body: string }> {
  let last = { status: 0, body: '' };
  for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    const res = await fetch(`${p.url}/ready`);
    last = { status: res.status, body: await res.text() };
    if (last.status === 200) break;
  }
  return last;
}

/** Not ready, and staying so: 503 now and a while later. */
async function staysUnready(p: InProcess): Promise<string> {
  await new Promise((r) => setTimeout(r, 1500));
  const res = await fetch(`${p.url}/ready`);
  assert.equal(res.status, 503);
  return res.text();
}

async function signsIn(p: InProcess): Promise<void> {
  const landed = await new HttpBrowser().navigate(`${p.url}/oauth2/start?rd=/x`);
  assert.equal(landed.status, 200, landed.body.slice(0, 200));
}

test('Redis over TLS: its CA from redis_ca_path (which turns TLS on for redis:// too, as in oauth2-proxy), or redis_insecure_skip_tls_verify', async () => {
  const certs = makeCertificates(['127.0.0.1']);
  cleanups.push(() => certs.remove());
  const tlsPort = await freePort();
  const redis = await startRedis({ args: ['--tls-port', String(tlsPort), '--tls-cert-file', certs.certFile, '--tls-key-file', certs.keyFile, '--tls-auth-clients', 'no'] });
  cleanups.push(() => redis.close());
  const ca = join(certs.dir, 'ca.crt');

  const untrusted = await proxy({ OAUTH2_PROXY_REDIS_CONNECTION_URL: `rediss://127.0.0.1:${tlsPort}` });
  assert.match(await staysUnready(untrusted), /redis/);

  const trusted = await proxy({ OAUTH2_PROXY_REDIS_CONNECTION_URL: `rediss://127.0.0.1:${tlsPort}`, OAUTH2_PROXY_REDIS_CA_PATH: ca });
  assert.equal((await readiness(trusted)).status, 200);
  await signsIn(trusted);
  assert.match(redis.cli('--scan', '--pattern', 'portcullis:*'), /portcullis:_oauth2_proxy:session:/, 'the session went to Redis over TLS');

  const plainUrl = await proxy({ OAUTH2_PROXY_REDIS_CONNECTION_URL: `redis://127.0.0.1:${tlsPort}`, OAUTH2_PROXY_REDIS_CA_PATH: ca });
  assert.equal((await readiness(plainUrl)).status, 200, 'redis:// with a CA path speaks TLS');

  const skip = await proxy({ OAUTH2_PROXY_REDIS_CONNECTION_URL: `rediss://127.0.0.1:${tlsPort}`, OAUTH2_PROXY_REDIS_INSECURE_SKIP_TLS_VERIFY: 'true' });
  assert.equal((await readiness(skip)).status, 200);
});

test('redis_username: an ACL user with its password; the password alone (the default user, turned off) is refused', async () => {
  const redis = await startRedis({ args: ['--user', 'portcullis', 'on', '>proxy-pw-0123', '~*', '&*', '+@all', '--user', 'default', 'off'] });
  cleanups.push(() => redis.close());
  const url = `redis://127.0.0.1:${redis.port}`;
  const acl = await proxy({ OAUTH2_PROXY_REDIS_CONNECTION_URL: url, OAUTH2_PROXY_REDIS_USERNAME: 'portcullis', OAUTH2_PROXY_REDIS_PASSWORD: 'proxy-pw-0123' });
  assert.equal((await readiness(acl)).status, 200);
  await signsIn(acl);
  const defaultUser = await proxy({ OAUTH2_PROXY_REDIS_CONNECTION_URL: url, OAUTH2_PROXY_REDIS_PASSWORD: 'proxy-pw-0123' });
  await staysUnready(defaultUser);
});

test('redis_sentinel_password: a Sentinel that asks for a password is reached with it, and not without', async () => {
  const s = await startSentinel({ password: 'sentinel-pw-0123' });
  cleanups.push(() => s.close());
  const env = { OAUTH2_PROXY_REDIS_USE_SENTINEL: 'true', OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME: s.masterName, OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS: s.sentinelUrl };
  const withPw = await proxy({ ...env, OAUTH2_PROXY_REDIS_SENTINEL_PASSWORD: 'sentinel-pw-0123' });
  assert.equal((await readiness(withPw)).status, 200);
  await signsIn(withPw);
  assert.match(s.master.cli('--scan', '--pattern', 'portcullis:*'), /portcullis:_oauth2_proxy:session:/);
  const without = await proxy(env);
  await staysUnready(without);
});
