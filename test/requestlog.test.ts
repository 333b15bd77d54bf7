import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateEnv } from './support/config.js';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import http from 'node:http';
import fc from 'fast-check';
import { pino } from 'pino';
import { requestLogger, type RequestLine } from '../src/log.js';
import { isSaneRequestId } from '../src/server/prelude.js';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import type { Echoed } from './support/stack.js';
import { table } from './support/table.js';

const JSON_ACCEPT = { accept: 'application/json' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const validate = validateEnv;

test('a client\'s request id is kept only when it is a sane token', () => {
  table<string | string[] | undefined, boolean>([
    ['abc-123', true], ['0f8fad5b-d9cb-469f-a165-70867728950e', true], ['Root=1-5759e988', true],
    ['a', true], ['x'.repeat(128), true], ['req_1.2:3+4/5=6@7', true], ['dGVzdA==', true],
    [undefined, false], ['', false], ['x'.repeat(129), false], ['two words', false], ['a, b', false],
    ['<script>', false], ['"quoted"', false], ['a\tb', false], ['é', false], ['a;b', false], [['a', 'b'], false],
  ], isSaneRequestId);
});

test('request id and request log options: defaults, and every bad value named with what is expected', () => {
  const ok = validate({});
  assert.ok(ok.ok);
  assert.equal(ok.config.requestIdHeader, 'X-Request-Id');
  assert.equal(ok.config.silencePingLogging, false, 'oauth2-proxy logs pings by default');
  assert.deepEqual(ok.config.excludeLoggingPaths, []);

  const on = validate({ OAUTH2_PROXY_REQUEST_ID_HEADER: 'X-Correlation-Id', OAUTH2_PROXY_EXCLUDE_LOGGING_PATHS: '/healthz, /favicon.ico', OAUTH2_PROXY_SILENCE_PING_LOGGING: 'true' });
  assert.ok(on.ok);
  assert.equal(on.config.requestIdHeader, 'X-Correlation-Id');
  assert.deepEqual(on.config.excludeLoggingPaths, ['/healthz', '/favicon.ico']);
  assert.equal(on.config.silencePingLogging, true);
  const off = validate({ OAUTH2_PROXY_REQUEST_ID_HEADER: '' });
  assert.ok(off.ok);
  assert.equal(off.config.requestIdHeader, undefined, 'empty: no request ids');

  // Each bad value gives exactly one message, starting with the variable, the value and the form expected.
  const bad: Array<[Record<string, string>, string]> = [
    [{ OAUTH2_PROXY_REQUEST_ID_HEADER: 'X Request Id' }, 'OAUTH2_PROXY_REQUEST_ID_HEADER: got "X Request Id", expected a header name'],
    [{ OAUTH2_PROXY_REQUEST_ID_HEADER: 'Cookie' }, 'OAUTH2_PROXY_REQUEST_ID_HEADER: got "Cookie", expected a header of its own'],
    [{ OAUTH2_PROXY_REQUEST_ID_HEADER: 'X-Forwarded-User' }, 'OAUTH2_PROXY_REQUEST_ID_HEADER: got "X-Forwarded-User", expected a header of its own'],
    [{ OAUTH2_PROXY_REQUEST_ID_HEADER: 'X_Auth_Request_Email' }, 'OAUTH2_PROXY_REQUEST_ID_HEADER: got "X_Auth_Request_Email", expected a header of its own'],
    [{ OAUTH2_PROXY_REQUEST_ID_HEADER: 'x-forwarded-for' }, 'OAUTH2_PROXY_REQUEST_ID_HEADER: got "x-forwarded-for", expected a header of its own'],
    [{ OAUTH2_PROXY_REQUEST_ID_HEADER: 'Content-Length' }, 'OAUTH2_PROXY_REQUEST_ID_HEADER: got "Content-Length", expected a header of its own'],
    [{ OAUTH2_PROXY_EXCLUDE_LOGGING_PATHS: '/ok,healthz' }, 'OAUTH2_PROXY_EXCLUDE_LOGGING_PATHS: got "healthz", expected paths starting with /'],
    [{ OAUTH2_PROXY_SILENCE_PING_LOGGING: 'sometimes' }, 'OAUTH2_PROXY_SILENCE_PING_LOGGING: got "sometimes", expected true or false'],
  ];
  table(bad.map(([env, prefix]) => [env, prefix] as const), (env) => {
    const v = validate(env);
    const said = v.ok ? 'accepted' : v.errors.join(' | ');
    const prefix = bad.find(([e]) => e === env)![1];
    return !v.ok && v.errors.length === 1 && said.startsWith(prefix) ? prefix : said;
  });
});

/**
 * The request log's line, written by hand (log.ts), is the line pino wrote before for the same
 * fields and bindings, byte for byte, whatever the strings hold (quotes, control characters, lone
 * surrogates, non-ASCII) and whichever fields are missing; only the clock reading differs.
 */
test('request-log lines are byte for byte what pino writes for the same fields', () => {
  let ours = '';
  let theirs = '';
  const mine = requestLogger('info', { write: (l: string) => { ours = l; } })!;
  // The request logger as it was: pino with these bindings, no redaction, no message.
  const before = pino({ level: 'info', base: { service: 'portcullis', component: 'request' } }, { write: (l: string) => { theirs = l; } });
  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('"', '\\', '\u0000', '\n', '\u2028', '\ud800', 'é/ü?q=1', '</script>'));
  const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });
  fc.assert(fc.property(fc.record({
    method: maybe(fc.oneof(fc.constantFrom('GET', 'POST', 'OPTIONS'), text)),
    path: text,
    status: fc.integer({ min: 100, max: 599 }),
    durationMs: fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 100_000 }).map((ns) => ns / 1e6)),
    user: maybe(text),
    client: maybe(fc.oneof(fc.constantFrom('127.0.0.1', '::1', '203.0.113.7'), text)),
    requestId: maybe(text),
    upgrade: fc.boolean(),
  }), (l: RequestLine) => {
    mine.write(l);
    before.info({ method: l.method, path: l.path, status: l.status, durationMs: l.durationMs, user: l.user, client: l.client, requestId: l.requestId, ...(l.upgrade ? { upgrade: true } : {}) });
    const clock = /^\{"level":30,"time":\d+,/;
    assert.match(ours, clock);
    assert.equal(ours.replace(clock, ''), theirs.replace(clock, ''));
  }), { numRuns: 2000 });
  // The level decides, as pino's did: info lines only at info and below.
  assert.ok(requestLogger('debug', { write() {} }));
  assert.equal(requestLogger('warn', { write() {} }), undefined);
  assert.equal(requestLogger('silent', { write() {} }), undefined);
});

describe('request ids and the request log, in a running proxy', () => {
  let peers: Peers;
  let plain: InProcess;
  let quiet: InProcess;
  let noIds: InProcess;
  let browser: HttpBrowser;
  before(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    peers = await startPeers({ ports });
    plain = await startInProcess(peers.env, ports[0]);
    quiet = await startInProcess({
      ...peers.env,
      OAUTH2_PROXY_SILENCE_PING_LOGGING: 'true',
      OAUTH2_PROXY_EXCLUDE_LOGGING_PATHS: '/healthz,/oauth2/userinfo',
      OAUTH2_PROXY_REQUEST_ID_HEADER: 'X-Correlation-Id',
    }, ports[1]);
    noIds = await startInProcess({ ...peers.env, OAUTH2_PROXY_REQUEST_ID_HEADER: '' }, ports[2]);
    browser = new HttpBrowser();
    const res = await browser.navigate(`${plain.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 200);
  });
  after(async () => { await plain?.close(); await quiet?.close(); await noIds?.close(); await peers?.close(); });

  /** The request log line for `path` (bounded wait: a line is written when its response finishes). */
  async function lineFor(p: InProcess, path: string, match: (l: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown> | undefined> {
    for (let i = 0; i < 50; i++) {
      const hit = p.logs.lines.find((l) => l.component === 'request' && l.path === path && match(l));
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 10));
    }
    return undefined;
  }

  test('without a request id from the client, one is made: on the response, in the log line, and upstream', async () => {
    const res = await browser.request(`${plain.url}/made`, { headers: JSON_ACCEPT });
    assert.equal(res.status, 200);
    const id = res.headers['x-request-id'];
    assert.match(String(id), UUID);
    assert.equal((JSON.parse(res.body) as Echoed).headers['x-request-id'], id, 'the upstream got the same id');
    assert.equal((await lineFor(plain, '/made'))?.requestId, id);
  });

  test('the line of a proxied request has the same fields, in the same order, as before', async () => {
    const res = await browser.request(`${plain.url}/fields?x=1`, { headers: { ...JSON_ACCEPT, 'x-request-id': 'fields-1' } });
    assert.equal(res.status, 200);
    const line = await lineFor(plain, '/fields');
    assert.ok(line);
    assert.deepEqual(Object.keys(line), ['level', 'time', 'service', 'component', 'method', 'path', 'status', 'durationMs', 'user', 'client', 'requestId']);
    const { time, durationMs, ...rest } = line;
    assert.ok(typeof time === 'number' && Math.abs(time - Date.now()) < 60_000);
    assert.ok(typeof durationMs === 'number' && durationMs >= 0 && durationMs < 60_000);
    assert.deepEqual(rest, { level: 30, service: 'portcullis', component: 'request', method: 'GET', path: '/fields', status: 200, user: rest.user, client: '127.0.0.1', requestId: 'fields-1' });
    assert.equal(typeof rest.user, 'string');
  });

  test('/oauth2/auth answers its empty 202 with Content-Length: 0, not chunked, and its other headers as before', async () => {
    const cookie = [...browser.cookies('127.0.0.1')].map(([n, v]) => `${n}=${v}`).join('; ');
    const raw = await new Promise<{ status: number; rawHeaders: string[]; body: string }>((resolve, reject) => {
      http.get(`${plain.url}/oauth2/auth`, { headers: { cookie, 'x-request-id': 'fa-1' }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body }));
      }).on('error', reject);
    });
    assert.equal(raw.status, 202);
    assert.equal(raw.body, '');
    const names = raw.rawHeaders.filter((_, i) => i % 2 === 0);
    const value = (n: string): string | undefined => {
      const i = raw.rawHeaders.findIndex((h, k) => k % 2 === 0 && h.toLowerCase() === n);
      return i < 0 ? undefined : raw.rawHeaders[i + 1];
    };
    assert.deepEqual(names, ['X-Request-Id', 'cache-control', 'content-length', 'Date', 'Connection']);
    assert.equal(value('content-length'), '0');
    assert.equal(value('transfer-encoding'), undefined, 'no chunked framing');
    assert.equal(value('cache-control'), 'no-store');
    assert.equal(value('x-request-id'), 'fa-1');
    const line = await lineFor(plain, '/oauth2/auth', (l) => l.requestId === 'fa-1');
    assert.equal(line?.status, 202);
  });

  test('a sane client id is kept everywhere; an insane one is replaced and appears nowhere', async () => {
    const kept = await browser.request(`${plain.url}/kept`, { headers: { ...JSON_ACCEPT, 'x-request-id': 'lb-7f3a.42' } });
    assert.equal(kept.headers['x-request-id'], 'lb-7f3a.42');
    assert.equal((JSON.parse(kept.body) as Echoed).headers['x-request-id'], 'lb-7f3a.42');
    assert.equal((await lineFor(plain, '/kept'))?.requestId, 'lb-7f3a.42');

    const evil = `${'A'.repeat(20)} "injected": true <script>`;
    const replaced = await browser.request(`${plain.url}/replaced`, { headers: { ...JSON_ACCEPT, 'x-request-id': evil } });
    const id = String(replaced.headers['x-request-id']);
    assert.match(id, UUID);
    assert.equal((JSON.parse(replaced.body) as Echoed).headers['x-request-id'], id);
    assert.equal((await lineFor(plain, '/replaced'))?.requestId, id);
    assert.doesNotMatch(JSON.stringify(plain.logs.lines), /injected/);
  });

  test('the proxy\'s own answers carry the id too (401, sign-in redirect, /ready)', async () => {
    const api = await new HttpBrowser().request(`${plain.url}/private`, { headers: { ...JSON_ACCEPT, 'x-request-id': 'api-1' } });
    assert.equal(api.status, 401);
    assert.equal(api.headers['x-request-id'], 'api-1');
    const page = await new HttpBrowser().request(`${plain.url}/private`);
    assert.equal(page.status, 302);
    assert.match(String(page.headers['x-request-id']), UUID);
    assert.match((await fetch(`${plain.url}/ready`)).headers.get('x-request-id') ?? '', UUID);
  });

  test('request_id_header names the header; empty means no ids at all', async () => {
    const b = new HttpBrowser();
    const custom = await b.request(`${quiet.url}/custom`, { headers: { ...JSON_ACCEPT, 'x-correlation-id': 'corr-9' } });
    assert.equal(custom.headers['x-correlation-id'], 'corr-9');
    assert.equal(custom.headers['x-request-id'], undefined);
    assert.equal((await lineFor(quiet, '/custom'))?.requestId, 'corr-9');

    const none = await b.request(`${noIds.url}/none`, { headers: { ...JSON_ACCEPT, 'x-request-id': 'from-client' } });
    assert.equal(none.headers['x-request-id'], undefined, 'nothing added to the answer');
    const line = await lineFor(noIds, '/none');
    assert.ok(line);
    assert.equal('requestId' in line, false);
  });

  test('by default the health paths are logged, as oauth2-proxy does', async () => {
    await fetch(`${plain.url}/ping`);
    await fetch(`${plain.url}/ready`);
    assert.ok(await lineFor(plain, '/ping'));
    assert.ok(await lineFor(plain, '/ready'));
  });

  test('silence_ping_logging and exclude_logging_paths leave those paths out of the log, and only those', async () => {
    const requests: Array<Record<string, unknown>> = [];
    const onRequest = (m: unknown): void => { requests.push(m as Record<string, unknown>); };
    subscribe('portcullis:request', onRequest);
    try {
      await fetch(`${quiet.url}/ping`);
      await fetch(`${quiet.url}/ready`);
      await fetch(`${quiet.url}/healthz`, { headers: JSON_ACCEPT });
      await fetch(`${quiet.url}/oauth2/userinfo`, { headers: JSON_ACCEPT });
      await fetch(`${quiet.url}/healthz/deeper`, { headers: JSON_ACCEPT });
      await fetch(`${quiet.url}/logged`, { headers: JSON_ACCEPT });
      assert.ok(await lineFor(quiet, '/logged'), 'other paths are logged');
      assert.ok(await lineFor(quiet, '/healthz/deeper'), 'the match is exact, not a prefix');
      // Observers (metrics) still hear every request: only the log leaves them out.
      for (let i = 0; i < 50 && requests.length < 6; i++) await new Promise((r) => setTimeout(r, 10));
    } finally {
      unsubscribe('portcullis:request', onRequest);
    }
    const logged = quiet.logs.lines.filter((l) => l.component === 'request').map((l) => l.path);
    for (const p of ['/ping', '/ready', '/healthz', '/oauth2/userinfo']) assert.ok(!logged.includes(p), `${p} is not in the request log: ${logged.join(' ')}`);
    assert.deepEqual(requests.map((r) => r.path).sort(), ['/healthz', '/healthz/deeper', '/logged', '/oauth2/userinfo', '/ping', '/ready']);
  });
});
