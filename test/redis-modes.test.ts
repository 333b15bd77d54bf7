import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpBrowser } from './support/browser.js';
import { envBlock, substitute } from './support/docenv.js';
import { startPeers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { startCluster, startRedis, startSentinel, startReady } from './support/redis.js';
import { ALICE, type Echoed } from './support/stack.js';

const JSON_ACCEPT = { accept: 'application/json' };

/** Two replicas on one Redis deployment: login through the first, use through the second, sign out, gone on both. */
async function twoReplicas(redisEnv: Record<string, string>, check: () => void | Promise<void>, o: { asGiven?: boolean } = {}): Promise<void> {
  const ports = [await freePort(), await freePort()];
  const peers = await startPeers({ ports });
  // asGiven: the session store as redisEnv says (a page's block), not Redis sessions by default.
  const env = { ...peers.env, ...(o.asGiven ? {} : { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis' }), ...redisEnv };
  const a = await startReady(env, ports[0]);
  const b = await startReady(env, ports[1]);
  try {
    const browser = new HttpBrowser();
    const landed = await browser.navigate(`${a.url}/oauth2/start?rd=/x`);
    assert.equal(landed.status, 200, landed.body.slice(0, 200));
    assert.equal((await fetch(`${a.url}/ready`)).status, 200);
    const cookie = `_oauth2_proxy=${browser.cookies().get('_oauth2_proxy')}`;
    for (const p of [a, b]) {
      const res = await browser.request(`${p.url}/x`, { headers: { ...JSON_ACCEPT, cookie } });
      assert.equal(res.status, 200);
      assert.equal((JSON.parse(res.body) as Echoed).headers['x-forwarded-user'], ALICE.sub);
    }
    await check();
    assert.equal((await browser.request(`${b.url}/oauth2/sign_out`)).status, 302);
    for (const p of [b, a]) {
      let status = 0;
      for (let i = 0; i < 100 && status !== 401; i++) {
        status = (await browser.request(`${p.url}/x`, { headers: { ...JSON_ACCEPT, cookie } })).status;
        if (status !== 401) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(status, 401, `signed out on ${p === a ? 'A' : 'B'}`);
    }
  } finally {
    await a.close();
    await b.close();
    await peers.close();
  }
}

test('Redis Sentinel: the master is found through the Sentinel; sessions work across two replicas', async () => {
  const s = await startSentinel();
  try {
    await twoReplicas({
      OAUTH2_PROXY_REDIS_USE_SENTINEL: 'true',
      OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME: s.masterName,
      OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS: s.sentinelUrl,
    }, () => {
      assert.match(s.master.cli('--scan', '--pattern', 'portcullis:*:session:*'), /portcullis:_oauth2_proxy:session:/, 'the session is on the master the Sentinel named');
    });
  } finally {
    await s.close();
  }
});

test('Redis Cluster (3 masters): sessions and their indexes spread over slots; sessions work across two replicas', async () => {
  const c = await startCluster();
  try {
    await twoReplicas({ OAUTH2_PROXY_REDIS_USE_CLUSTER: 'true', OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS: c.urls[0]! }, () => {});
  } finally {
    await c.close();
  }
});

test('Redis on a unix socket (unix:///path), with a password (redis_password) and PINGs on quiet connections', async () => {
  const r = await startRedis({ unixSocket: true, args: ['--requirepass', 'sesame-0123', '--timeout', '2'] });
  try {
    await twoReplicas({
      OAUTH2_PROXY_REDIS_CONNECTION_URL: `unix://${r.socketPath}`, OAUTH2_PROXY_REDIS_PASSWORD: 'sesame-0123', OAUTH2_PROXY_REDIS_CONNECTION_IDLE_TIMEOUT: '1',
    }, async () => {
      assert.match(r.cli('-a', 'sesame-0123', '--no-auth-warning', '--scan'), /portcullis:_oauth2_proxy:session:/);
      assert.match(r.cli('--scan'), /NOAUTH/, 'the server wants the password');
      // The server closes connections quiet for 2 s (--timeout 2); the proxies' PINGs every second keep theirs.
      const ids = (): string[] => r.cli('-a', 'sesame-0123', '--no-auth-warning', 'client', 'list').split('\n')
        .filter((l) => l.startsWith('id=') && !l.includes('cmd=client|list')).map((l) => /^id=(\d+)/.exec(l)![1]!);
      const before = ids();
      assert.ok(before.length >= 4, `two connections per replica (${before.length})`);
      await new Promise((res) => setTimeout(res, 3500));
      const afterwards = ids();
      assert.deepEqual(before.filter((id) => !afterwards.includes(id)), [], 'no connection was closed as idle');
    });
  } finally {
    await r.close();
  }
});

// docs/redis.md's four environment blocks as written. Substituted: the Redis hosts and ports
// (redis.internal:6379, 10.0.0.x:26379, 10.0.0.x:7000) by the test's servers on 127.0.0.1, and the
// password placeholder `...` by the test server's password. Added by twoReplicas (startPeers): the
// issuer, client, cookie secret (the same on both replicas), email domains, upstream.
describe('docs/redis.md as written: two replicas on each Redis shape', () => {
  const SESSIONS = /portcullis:_oauth2_proxy:session:/;

  test('standalone Redis sessions with a password', async () => {
    const block = envBlock('redis-standalone-env');
    assert.deepEqual(Object.keys(block), ['OAUTH2_PROXY_SESSION_STORE_TYPE', 'OAUTH2_PROXY_REDIS_CONNECTION_URL', 'OAUTH2_PROXY_REDIS_PASSWORD']);
    assert.equal(block.OAUTH2_PROXY_REDIS_PASSWORD, '...', 'a placeholder');
    const password = 'sesame-docs-0123';
    const r = await startRedis({ args: ['--requirepass', password] });
    try {
      const env = { ...substitute(block, { 'redis.internal:6379': `127.0.0.1:${r.port}` }), OAUTH2_PROXY_REDIS_PASSWORD: password };
      await twoReplicas(env, () => {
        assert.match(r.cli('-a', password, '--no-auth-warning', '--scan'), SESSIONS, 'the session lives in Redis');
      }, { asGiven: true });
    } finally {
      await r.close();
    }
  });

  test('Sentinel: three Sentinels listed, the first one down; the others name the master', async () => {
    const block = envBlock('redis-sentinel-env');
    const s = await startSentinel({ sentinels: 3 });
    try {
      const env = substitute(block, Object.fromEntries(s.sentinelPorts.map((p, i) => [`10.0.0.${i + 1}:26379`, `127.0.0.1:${p}`])));
      assert.equal(env.OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS, s.sentinelUrls.join(','));
      assert.equal(env.OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME, s.masterName);
      await s.stopSentinel(0);
      await twoReplicas(env, () => {
        assert.match(s.master.cli('--scan', '--pattern', 'portcullis:*:session:*'), SESSIONS, 'the session is on the master the Sentinels named');
      }, { asGiven: true });
    } finally {
      await s.close();
    }
  });

  test('Cluster: the three nodes listed', async () => {
    const block = envBlock('redis-cluster-env');
    const c = await startCluster();
    try {
      const env = substitute(block, Object.fromEntries(c.ports.map((p, i) => [`10.0.0.${i + 1}:7000`, `127.0.0.1:${p}`])));
      assert.equal(env.OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS, c.urls.join(','));
      await twoReplicas(env, () => {}, { asGiven: true });
    } finally {
      await c.close();
    }
  });

  test('cookie sessions with revocations in Redis: no session in Redis, and a sign-out on one replica ends the cookie on the other', async () => {
    const block = envBlock('redis-revocations-env');
    assert.deepEqual(Object.keys(block), ['OAUTH2_PROXY_REDIS_CONNECTION_URL']);
    const r = await startRedis();
    try {
      await twoReplicas(substitute(block, { 'redis.internal:6379': `127.0.0.1:${r.port}` }), () => {
        assert.doesNotMatch(r.cli('--scan'), SESSIONS, 'the session stays in the cookie');
      }, { asGiven: true });
    } finally {
      await r.close();
    }
  });
});
