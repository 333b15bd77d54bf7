import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { HttpBrowser } from './support/browser.js';
import { validateEnv } from './support/config.js';
import { freePort, startProxy } from './support/proxy.js';
import { ALICE, startStack, type Echoed, type Stack } from './support/stack.js';
import { startRedis, type RedisServer } from './support/redis.js';
import { table } from './support/table.js';

const JSON_ACCEPT = { accept: 'application/json' };

/**
 * One request on a connection of its own. cluster hands out connections, not requests, in turn:
 * a keep-alive client would stay with one worker.
 */
function fresh(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { ...JSON_ACCEPT, ...headers }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('workers: 1 by default; a count, or 0/auto for one per CPU; anything else names the option and the form', () => {
  const cpus = availableParallelism();
  const refused = (v: string): string => `OAUTH2_PROXY_WORKERS: got ${JSON.stringify(v)}, expected a number of processes from 1 to 256, or 0 or auto for one per CPU (${cpus} here)`;
  table<string | undefined, number | string>([
    [undefined, 1],
    ['1', 1],
    ['2', 2],
    ['0', cpus],
    ['auto', cpus],
    ['AUTO', cpus],
    ['256', 256],
    ['257', refused('257')],
    ['-1', refused('-1')],
    ['two', refused('two')],
    ['1.5', refused('1.5')],
    ['', refused('')],
  ], (value) => {
    const v = validateEnv(value === undefined ? {} : { OAUTH2_PROXY_WORKERS: value });
    return v.ok ? v.config.workers : v.errors.join('\n');
  });
  const many = validateEnv({ OAUTH2_PROXY_WORKERS: String(cpus + 1) });
  assert.ok(many.ok && many.warnings.some((w) => w.includes(`more than the ${cpus} CPUs`)), 'more workers than CPUs draws a warning');
});

describe('--workers 2 against the real issuer', () => {
  let stack: Stack;
  let metricsUrl: string;
  /** An upstream that answers after a second: a request in flight while the proxy is told to stop. */
  let slow: http.Server;
  let slowSeen = 0;

  before(async () => {
    slow = http.createServer((_req, res) => { slowSeen++; setTimeout(() => res.end('slow answer'), 1000); });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const slowUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}/slow/`;
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    stack = await startStack({
      extraEnv: (_issuer, upstreamUrl) => ({
        OAUTH2_PROXY_WORKERS: '2',
        OAUTH2_PROXY_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
        OAUTH2_PROXY_UPSTREAMS: `${upstreamUrl},${slowUrl}`,
        // No key file: the primary makes the key, and every worker must sign with that one.
        OAUTH2_PROXY_PASS_IDENTITY_JWT: 'true',
        OAUTH2_PROXY_IDENTITY_JWT_HEADER: 'X-Identity',
      }),
    });
    await workersReady(stack.proxy);
  });
  after(async () => {
    if (stack?.proxy.alive()) await stack.close();
    slow?.close();
  });

  /**
   * The request-log lines under a path prefix since log line `from`, once there are `n`: each worker
   * writes its own batches, so one worker's last line can arrive before another's earlier ones.
   */
  const served = async (prefix: string, n: number, from: number): Promise<Array<Record<string, unknown>>> => {
    const lines = (): Array<Record<string, unknown>> => stack.proxy.logs().slice(from).filter((l) => typeof l.path === 'string' && l.path.startsWith(prefix));
    for (let i = 0; i < 100 && lines().length < n; i++) await sleep(50);
    return lines();
  };
  const workerPids = (): Map<number, number> => new Map(stack.proxy.logs().filter((l) => l.event === 'worker_started').map((l) => [l.worker as number, l.pid as number]));

  test('a login through the real issuer holds on every worker; requests are served by both; /metrics sums them', async () => {
    const browser = new HttpBrowser();
    const landed = await browser.navigate(`${stack.proxy.url}/oauth2/start?rd=/`);
    assert.equal(landed.status, 200, `login ended at ${landed.url}: ${landed.body.slice(0, 300)}`);
    const cookie = browser.cookieHeader(new URL(stack.proxy.url));
    const before = stack.proxy.logs().length;
    const jwtKids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await fresh(`${stack.proxy.url}/workers/${i}`, { cookie });
      assert.equal(r.status, 200, r.body.slice(0, 200));
      const seen = (JSON.parse(r.body) as Echoed).headers;
      assert.equal(seen['x-forwarded-user'], ALICE.sub);
      jwtKids.add(JSON.parse(Buffer.from(String(seen['x-identity']).split('.')[0]!, 'base64url').toString()).kid as string);
    }
    // The request log says which worker served each request.
    const lines = await served('/workers/', 20, before);
    assert.equal(lines.length, 20);
    const byWorker = new Map<unknown, number>();
    for (const l of lines) byWorker.set(l.worker, (byWorker.get(l.worker) ?? 0) + 1);
    assert.deepEqual([...byWorker.keys()].sort(), [1, 2], `served by ${JSON.stringify([...byWorker])}`);
    assert.equal(jwtKids.size, 1, 'every worker signs the identity JWT with the one key the primary made');
    const jwks = new Set<string>();
    for (let i = 0; i < 6; i++) jwks.add((await fresh(`${stack.proxy.url}/oauth2/jwks.json`)).body);
    assert.equal(jwks.size, 1, 'and publishes the same JWKS');
    assert.ok([...jwks][0]!.includes([...jwtKids][0]!));

    const text = await (await fetch(metricsUrl)).text();
    const gets = Number(/^portcullis_requests_total\{method="GET",status_class="2xx"\} (\d+)$/m.exec(text)?.[1]);
    assert.ok(gets >= 26, `the 2xx GETs of both workers are summed: ${gets}`);
    assert.match(text, /^portcullis_workers 2$/m);
    assert.match(text, /^portcullis_logins_completed_total 1$/m);
  });

  test('sign-out on one worker ends the session on the other: a replayed cookie is refused on every connection', async () => {
    const browser = new HttpBrowser();
    assert.equal((await browser.navigate(`${stack.proxy.url}/oauth2/start?rd=/`)).status, 200);
    const stolen = browser.cookieHeader(new URL(stack.proxy.url));
    // Both workers have the session unsealed in their caches before it ends.
    for (let i = 0; i < 6; i++) assert.equal((await fresh(`${stack.proxy.url}/`, { cookie: stolen })).status, 200);
    assert.equal((await fresh(`${stack.proxy.url}/oauth2/sign_out`, { cookie: stolen })).status, 302);
    const from = stack.proxy.logs().length;
    for (let i = 0; i < 10; i++) {
      const r = await fresh(`${stack.proxy.url}/replay/${i}`, { cookie: stolen });
      assert.equal(r.status, 401, `replay ${i} was served: ${r.body.slice(0, 200)}`);
    }
    const refusedBy = new Set((await served('/replay/', 10, from)).map((l) => l.worker));
    assert.deepEqual([...refusedBy].sort(), [1, 2], 'both workers refused it');
  });

  test('a sign-out is answered only once the other worker has its revocation: with that worker stopped, the answer waits (2 s at most, then it answers and says so)', async () => {
    const pinned = new http.Agent({ keepAlive: true, maxSockets: 1 });
    /** Requests on one kept-alive connection: the same worker serves them all. */
    const onPinned = (path: string, cookie: string): Promise<{ status: number; at: number }> => new Promise((resolve, reject) => {
      const req = http.get(`${stack.proxy.url}${path}`, { agent: pinned, headers: { ...JSON_ACCEPT, cookie }, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, at: Date.now() }));
      });
      req.on('timeout', () => req.destroy(new Error(`timeout: ${path}`)));
      req.on('error', reject);
    });
    const signOutWithOtherStopped = async (stoppedForMs: number): Promise<{ waitedMs: number; cookie: string }> => {
      const browser = new HttpBrowser();
      assert.equal((await browser.navigate(`${stack.proxy.url}/oauth2/start?rd=/`)).status, 200);
      const cookie = browser.cookieHeader(new URL(stack.proxy.url));
      const from = stack.proxy.logs().length;
      assert.equal((await onPinned('/pinned', cookie)).status, 200);
      const [line] = await served('/pinned', 1, from);
      const other = workerPids().get(line!.worker === 1 ? 2 : 1)!;
      process.kill(other, 'SIGSTOP');
      const stoppedAt = Date.now();
      const resumed = new Promise<number>((r) => setTimeout(() => { process.kill(other, 'SIGCONT'); r(Date.now()); }, stoppedForMs));
      let answer: { status: number; at: number };
      try {
        answer = await onPinned('/oauth2/sign_out', cookie);
      } finally {
        await resumed;
      }
      assert.equal(answer.status, 302);
      return { waitedMs: answer.at - stoppedAt, cookie };
    };
    try {
      // Stopped for 700 ms: the sign-out waits for it (it used to be answered at once, while the
      // stopped worker could still serve the cookie on the next connection).
      const short = await signOutWithOtherStopped(700);
      assert.ok(short.waitedMs >= 650, `the sign-out was answered after ${short.waitedMs} ms, before the other worker had the revocation`);
      for (let i = 0; i < 6; i++) assert.equal((await fresh(`${stack.proxy.url}/after-stop/${i}`, { cookie: short.cookie })).status, 401);
      // Stopped for longer than the wait: the sign-out is answered all the same, and the log says why it was slow.
      const slowLines = (): number => stack.proxy.logs().filter((l) => l.event === 'revocation_relay_slow').length;
      assert.equal(slowLines(), 0, 'a sign-out confirmed in time logs nothing');
      const long = await signOutWithOtherStopped(3500);
      assert.ok(long.waitedMs >= 1900 && long.waitedMs < 3400, `answered after ${long.waitedMs} ms`);
      await stack.proxy.waitForLog((l) => l.event === 'revocation_relay_slow');
      assert.equal(slowLines(), 1);
      for (let i = 0; i < 6; i++) assert.equal((await fresh(`${stack.proxy.url}/after-long-stop/${i}`, { cookie: long.cookie })).status, 401);
    } finally {
      pinned.destroy();
    }
  });

  test('a killed worker is replaced (logged), and the replacement knows the sign-outs made before it started', async () => {
    const browser = new HttpBrowser();
    assert.equal((await browser.navigate(`${stack.proxy.url}/oauth2/start?rd=/`)).status, 200);
    const ended = browser.cookieHeader(new URL(stack.proxy.url));
    assert.equal((await fresh(`${stack.proxy.url}/oauth2/sign_out`, { cookie: ended })).status, 302);

    const victim = workerPids().get(1)!;
    process.kill(victim, 'SIGKILL');
    const exited = await stack.proxy.waitForLog((l) => l.event === 'worker_exited' && l.pid === victim);
    assert.equal(exited.signal, 'SIGKILL');
    assert.ok(typeof exited.restartInMs === 'number' && exited.restartInMs <= 30_000);
    const replacement = await stack.proxy.waitForLog((l) => l.event === 'worker_started' && l.worker === 3);
    await stack.proxy.waitForLog((l) => l.msg === 'portcullis listening' && l.worker === 3);
    assert.notEqual(replacement.pid, victim);

    const before = stack.proxy.logs().length;
    for (let i = 0; i < 10; i++) {
      assert.equal((await fresh(`${stack.proxy.url}/after-kill/${i}`, { cookie: ended })).status, 401, 'the ended session stays ended on the new worker');
    }
    const workersSeen = new Set((await served('/after-kill/', 10, before)).map((l) => l.worker));
    assert.deepEqual([...workersSeen].sort(), [2, 3]);
    const text = await (await fetch(metricsUrl)).text();
    assert.match(text, /^portcullis_worker_restarts_total 1$/m);
  });

  test('SIGTERM to the primary drains every worker: a request in flight is answered, then all exit with status 0', async () => {
    const browser = new HttpBrowser();
    assert.equal((await browser.navigate(`${stack.proxy.url}/oauth2/start?rd=/`)).status, 200);
    const cookie = browser.cookieHeader(new URL(stack.proxy.url));
    const seenBefore = slowSeen;
    const inFlight = fresh(`${stack.proxy.url}/slow/x`, { cookie });
    for (let i = 0; i < 100 && slowSeen === seenBefore; i++) await sleep(20);
    assert.equal(slowSeen, seenBefore + 1, 'the request reached the slow upstream');
    const pids = [...workerPids().values()].filter((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } });
    assert.equal(pids.length, 2);
    const code = await stack.proxy.stop('SIGTERM');
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'slow answer');
    assert.equal(code, 0);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
    assert.equal(stack.proxy.logs().filter((l) => l.msg === 'stopped').length, 3, 'both workers and the primary stopped');
    await stack.close();
  });
});

for (const [kind, storeEnv] of [
  ['cookie sessions, revocations in Redis', {}],
  ['Redis sessions', { OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis' }],
] as const) {
  test(`--workers 2 with ${kind}: the sign-out waits until the other worker has it (Redis tells it too, but says nothing of when)`, async () => {
    const redis: RedisServer = await startRedis();
    const stack = await startStack({ extraEnv: () => ({ OAUTH2_PROXY_WORKERS: '2', OAUTH2_PROXY_REDIS_CONNECTION_URL: redis.url, ...storeEnv }) });
    const pinned = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await workersReady(stack.proxy);
      // Each worker connects to Redis on its own: /ready, asked on fresh connections, until both say so.
      let readyInARow = 0;
      for (let i = 0; i < 200 && readyInARow < 6; i++) {
        readyInARow = (await fresh(`${stack.proxy.url}/ready`)).status === 200 ? readyInARow + 1 : 0;
        if (readyInARow === 0) await sleep(50);
      }
      assert.equal(readyInARow, 6, 'both workers ready');
      const browser = new HttpBrowser();
      assert.equal((await browser.navigate(`${stack.proxy.url}/oauth2/start?rd=/`)).status, 200);
      const cookie = browser.cookieHeader(new URL(stack.proxy.url));
      // Both workers have the session cached before it ends.
      for (let i = 0; i < 6; i++) assert.equal((await fresh(`${stack.proxy.url}/warm/${i}`, { cookie })).status, 200);
      const onPinned = (path: string): Promise<number> => new Promise((resolve, reject) => {
        http.get(`${stack.proxy.url}${path}`, { agent: pinned, headers: { ...JSON_ACCEPT, cookie } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', reject);
      });
      const from = stack.proxy.logs().length;
      assert.equal(await onPinned('/pinned'), 200);
      let line: Record<string, unknown> | undefined;
      for (let i = 0; i < 100 && !line; i++) {
        line = stack.proxy.logs().slice(from).find((l) => l.path === '/pinned');
        if (!line) await sleep(50);
      }
      const pids = new Map(stack.proxy.logs().filter((l) => l.event === 'worker_started').map((l) => [l.worker as number, l.pid as number]));
      const other = pids.get(line!.worker === 1 ? 2 : 1)!;
      process.kill(other, 'SIGSTOP');
      const stoppedAt = Date.now();
      const resumed = new Promise<void>((r) => setTimeout(() => { process.kill(other, 'SIGCONT'); r(); }, 700));
      let status: number;
      let waited: number;
      try {
        status = await onPinned('/oauth2/sign_out');
        waited = Date.now() - stoppedAt;
      } finally {
        await resumed;
      }
      assert.equal(status, 302);
      assert.ok(waited >= 650, `the sign-out was answered after ${waited} ms, while the other worker could not yet have dropped the session`);
      for (let i = 0; i < 6; i++) assert.equal((await fresh(`${stack.proxy.url}/replay/${i}`, { cookie })).status, 401, `replay ${i}`);
    } finally {
      pinned.destroy();
      await stack.close();
      await redis.stop();
    }
  });
}

test('--workers 2: a revocation that reaches a worker in the same read as its setup is kept, not dropped', async () => {
  const preload = new URL('./support/relay-same-tick.js', import.meta.url).href;
  const stack = await startStack({
    extraEnv: () => ({ OAUTH2_PROXY_WORKERS: '2', NODE_OPTIONS: `--import=${preload}`, PORTCULLIS_TEST_REVOKE_SUB: ALICE.sub }),
  });
  try {
    await workersReady(stack.proxy);
    const browser = new HttpBrowser();
    await browser.navigate(`${stack.proxy.url}/oauth2/start?rd=/`);
    const cookie = browser.cookieHeader(new URL(stack.proxy.url));
    assert.match(cookie, /_oauth2_proxy=/, 'the login itself completes');
    const from = stack.proxy.logs().length;
    for (let i = 0; i < 10; i++) {
      const r = await fresh(`${stack.proxy.url}/revoked/${i}`, { cookie });
      assert.equal(r.status, 401, `request ${i}: every session of ${ALICE.sub} is revoked on every worker, got ${r.status}`);
    }
    const lines = stack.proxy.logs().slice(from);
    for (let i = 0; i < 100 && lines.filter((l) => String(l.path).startsWith('/revoked/')).length < 10; i++) {
      await sleep(50);
      lines.splice(0, lines.length, ...stack.proxy.logs().slice(from));
    }
    assert.deepEqual([...new Set(lines.filter((l) => String(l.path).startsWith('/revoked/')).map((l) => l.worker))].sort(), [1, 2], 'both workers answered');
  } finally {
    await stack.close();
  }
});

test('--workers 2 on a port already taken: the start fails with the single process\'s message, and no process is left', async () => {
  const taken = http.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  try {
    const proxy = await startProxy({
      OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`,
      OAUTH2_PROXY_WORKERS: '2',
      OAUTH2_PROXY_OIDC_ISSUER_URL: `http://127.0.0.1:${await freePort()}/`,
      OAUTH2_PROXY_CLIENT_ID: 'id',
      OAUTH2_PROXY_CLIENT_SECRET: 'secret',
      OAUTH2_PROXY_COOKIE_SECRET: Buffer.alloc(32, 5).toString('base64url'),
      OAUTH2_PROXY_EMAIL_DOMAINS: '*',
      OAUTH2_PROXY_UPSTREAMS: `http://127.0.0.1:${await freePort()}/`,
    }, { waitFor: 'exit' });
    assert.equal(proxy.child.exitCode, 2);
    const out = proxy.lines.join('\n');
    assert.match(out, /OAUTH2_PROXY_HTTP_ADDRESS: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    const pids = proxy.logs().filter((l) => l.event === 'worker_started').map((l) => l.pid as number);
    assert.equal(pids.length, 2);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
  } finally {
    taken.close();
  }
});

/**
 * Both workers listen and have found the issuer: a worker answers before its discovery finishes
 * (a dead issuer never blocks start-up), and a login it serves meanwhile gets 503 ISSUER_UNAVAILABLE.
 */
async function workersReady(proxy: { waitForLog(match: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>> }): Promise<void> {
  await proxy.waitForLog((l) => l.event === 'workers_listening');
  await Promise.all([1, 2].map((w) => proxy.waitForLog((l) => l.msg === 'issuer ready' && l.worker === w, 30_000)));
}
