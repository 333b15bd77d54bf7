import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateEnv } from './support/config.js';
import { createLogger } from '../src/log.js';
import { startPortcullis } from '../src/run.js';
import { Readiness } from '../src/server/health.js';
import { LogLines, startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';

const validate = validateEnv;

test('/ready counts a check that throws, rejects or hangs as failed, and still answers in time', async () => {
  const r = new Readiness([
    { name: 'fine', check: () => ({ ok: true }) },
    { name: 'throws', check: () => { throw new Error('boom at 10.0.0.7'); } },
    { name: 'rejects', check: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:6379'), { code: 'ECONNREFUSED' })) },
    { name: 'hangs', check: () => new Promise(() => undefined) },
    { name: 'later', check: () => new Promise((resolve) => setTimeout(() => resolve({ ok: true }), 20)) },
  ]);
  const t0 = Date.now();
  const report = await r.report();
  assert.ok(Date.now() - t0 < 3000, 'bounded by the check timeout');
  assert.deepEqual(report, {
    ready: false,
    checks: {
      fine: { ok: true },
      throws: { ok: false, detail: 'the check failed' },
      rejects: { ok: false, detail: 'ECONNREFUSED' },
      hangs: { ok: false, detail: 'no answer within 2000 ms' },
      later: { ok: true },
    },
    failed: ['throws', 'rejects', 'hangs'],
  });
  assert.doesNotMatch(JSON.stringify(report), /10\.0\.0\.7/, 'no internal address in a public answer');
});

test('/ready while the issuer is down: 503 naming the issuer; /ping 200 all the same', async () => {
  const dead = await freePort();
  const port = await freePort();
  const v = validate({ OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`, OAUTH2_PROXY_OIDC_ISSUER_URL: `http://127.0.0.1:${dead}/` });
  assert.ok(v.ok);
  const running = await startPortcullis(v.config, createLogger('silent'), { requestLog: new LogLines() });
  try {
    const ready = await fetch(`${running.url}/ready`);
    assert.equal(ready.status, 503);
    assert.match(ready.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await ready.json(), { ready: false, checks: { issuer: { ok: false, detail: 'discovery has not succeeded yet; retrying' } }, failed: ['issuer'] });
    const ping = await fetch(`${running.url}/ping`);
    assert.equal(ping.status, 200);
    assert.equal(await ping.text(), 'OK');
  } finally {
    await running.close(500);
  }
});

let peers: Peers;
let proxy: InProcess;
before(async () => {
  peers = await startPeers();
  proxy = await startInProcess(peers.env, peers.port);
});
after(async () => { await proxy?.close(); await peers?.close(); });

test('/ready with the issuer up: 200, JSON naming each check, none failed', async () => {
  const res = await fetch(`${proxy.url}/ready`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(await res.json(), { ready: true, checks: { issuer: { ok: true } }, failed: [] });
});
