import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { HttpBrowser } from './support/browser.js';
import { freePort, startProxy } from './support/proxy.js';
import { startStack } from './support/stack.js';

/** Resolves with how the child ended, or undefined if it is still running after `ms`. */
function exitWithin(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => { child.off('exit', onExit); resolve(undefined); }, ms);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => { clearTimeout(timer); resolve({ code, signal }); };
    child.once('exit', onExit);
  });
}

for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
  test(`a second ${signal} exits at once, while the first is still draining a request held open`, async () => {
    // An upstream that takes the request and never answers: the drain would wait its whole grace.
    const held: net.Socket[] = [];
    const hang = net.createServer((s) => { held.push(s); s.on('error', () => undefined); });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const hangPort = (hang.address() as net.AddressInfo).port;
    const stack = await startStack({ extraEnv: (_i, upstreamUrl) => ({ OAUTH2_PROXY_UPSTREAMS: `${upstreamUrl},http://127.0.0.1:${hangPort}/hang/` }) });
    try {
      const { proxy } = stack;
      const b = new HttpBrowser({ timeoutMs: 30_000 });
      assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
      const inFlight = b.request(`${proxy.url}/hang/slow`).then(() => 'answered', () => 'cut');
      for (let i = 0; i < 100 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(held.length, 1, 'the request reached the upstream and is held there');

      proxy.child.kill(signal);
      await proxy.waitForLog((l) => l.msg === 'shutting down: draining requests in flight');
      assert.equal(await exitWithin(proxy.child, 500), undefined, 'the first signal waits for the request in flight');

      const t0 = Date.now();
      proxy.child.kill(signal);
      const ended = await exitWithin(proxy.child, 5000);
      assert.ok(ended, 'the second signal ends the process');
      assert.ok(Date.now() - t0 < 2000, `exited ${Date.now() - t0} ms after the second signal`);
      assert.deepEqual(ended, { code: status, signal: null }, 'its own exit with 128 + the signal number, not killed by the default action');
      assert.equal(await inFlight, 'cut');
      assert.ok(proxy.logs().some((l) => l.msg === 'second signal: exiting without waiting for requests in flight' && l.signal === signal));
    } finally {
      for (const s of held) s.destroy();
      hang.close();
      await stack.close();
    }
  });
}

test('the parent closes our stdout and sends SIGTERM: the proxy still exits, within seconds, status 0', async () => {
  // No issuer needed: the proxy serves (and logs) while discovery keeps failing.
  const proxy = await startProxy({
    OAUTH2_PROXY_OIDC_ISSUER_URL: `http://127.0.0.1:${await freePort()}/`,
    OAUTH2_PROXY_CLIENT_ID: 'id',
    OAUTH2_PROXY_CLIENT_SECRET: 'secret',
    OAUTH2_PROXY_COOKIE_SECRET: Buffer.alloc(32, 5).toString('base64url'),
    OAUTH2_PROXY_EMAIL_DOMAINS: '*',
    OAUTH2_PROXY_UPSTREAMS: `http://127.0.0.1:${await freePort()}/`,
  });
  try {
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${proxy.url}/ping`)).status, 200);
    // As a supervisor that goes away does: the read end of the pipe closes, then the signal comes.
    proxy.child.stdout!.destroy();
    proxy.child.kill('SIGTERM');
    const ended = await exitWithin(proxy.child, 5000);
    assert.deepEqual(ended, { code: 0, signal: null }, 'exited by itself, drained, within 5 s (it used to spin for ever on EPIPE in the exit flush)');
  } finally {
    if (proxy.alive()) proxy.child.kill('SIGKILL');
  }
});

test('SIGTERM with a keep-alive client whose request is in flight: the answer arrives, its connection is closed after it, and the process exits without waiting out the grace', async () => {
  const slow = http.createServer((_req, res) => { setTimeout(() => res.end('slow but complete'), 800); });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const proxy = await startProxy({
    OAUTH2_PROXY_OIDC_ISSUER_URL: `http://127.0.0.1:${await freePort()}/`,
    OAUTH2_PROXY_CLIENT_ID: 'id',
    OAUTH2_PROXY_CLIENT_SECRET: 'secret',
    OAUTH2_PROXY_COOKIE_SECRET: Buffer.alloc(32, 5).toString('base64url'),
    OAUTH2_PROXY_EMAIL_DOMAINS: '*',
    OAUTH2_PROXY_UPSTREAMS: `http://127.0.0.1:${(slow.address() as net.AddressInfo).port}/`,
    OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/slow$',
  });
  // A client that keeps its connection open for more, as browsers and load balancers do.
  const agent = new http.Agent({ keepAlive: true });
  try {
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get(`${proxy.url}/slow`, { agent }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      }).on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    proxy.child.kill('SIGTERM');
    assert.deepEqual(await answered, { status: 200, body: 'slow but complete' });
    const ended = await exitWithin(proxy.child, 5000);
    assert.deepEqual(ended, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 3000, `exited ${Date.now() - t0} ms after the signal; the grace is 10 s`);
  } finally {
    agent.destroy();
    if (proxy.alive()) proxy.child.kill('SIGKILL');
    slow.close();
  }
});
