import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateEnv } from './support/config.js';
import { channel } from 'node:diagnostics_channel';
import { createLogger } from '../src/log.js';
import { startPortcullis } from '../src/run.js';
import { HttpBrowser } from './support/browser.js';
import { LogLines } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { startStack, type Stack } from './support/stack.js';
import { table } from './support/table.js';

const JSON_ACCEPT = { accept: 'application/json' };
/** Every channel metrics subscribe to: the proxy's observers and undici's (the issuer calls). */
const CHANNELS = ['portcullis:request', 'portcullis:login', 'portcullis:upstream-error', 'portcullis:connection-refused', 'undici:request:create', 'undici:request:headers', 'undici:request:error'];

const validate = validateEnv;

test('metrics_address: off by default; an address of its own, or a clear error', () => {
  const off = validate({});
  assert.ok(off.ok);
  assert.equal(off.config.metricsAddress, undefined, 'no metrics unless asked');
  const on = validate({ OAUTH2_PROXY_METRICS_ADDRESS: ':9100' });
  assert.ok(on.ok);
  assert.deepEqual(on.config.metricsAddress, { kind: 'tcp', host: '0.0.0.0', port: 9100 });
  const unix = validate({ OAUTH2_PROXY_METRICS_ADDRESS: 'unix:///run/portcullis-metrics.sock' });
  assert.ok(unix.ok);
  assert.deepEqual(unix.config.metricsAddress, { kind: 'unix', path: '/run/portcullis-metrics.sock' });

  const bad: Array<[Record<string, string>, string]> = [
    [{ OAUTH2_PROXY_METRICS_ADDRESS: 'nine thousand' }, 'OAUTH2_PROXY_METRICS_ADDRESS: got "nine thousand", expected host:port'],
    [{ OAUTH2_PROXY_METRICS_ADDRESS: '127.0.0.1:4180' }, 'OAUTH2_PROXY_METRICS_ADDRESS: got "127.0.0.1:4180", expected an address other than http_address'],
    [{ OAUTH2_PROXY_HTTP_ADDRESS: ':4180', OAUTH2_PROXY_METRICS_ADDRESS: '127.0.0.1:4180' }, 'OAUTH2_PROXY_METRICS_ADDRESS: got "127.0.0.1:4180", expected an address other than http_address'],
    [{ OAUTH2_PROXY_HTTP_ADDRESS: 'unix:///run/p.sock', OAUTH2_PROXY_METRICS_ADDRESS: 'unix:///run/p.sock' }, 'OAUTH2_PROXY_METRICS_ADDRESS: got "unix:///run/p.sock", expected an address other than http_address'],
  ];
  table(bad.map(([env, prefix]) => [env, prefix] as const), (env) => {
    const v = validate(env);
    const said = v.ok ? 'accepted' : v.errors.join(' | ');
    const prefix = bad.find(([e]) => e === env)![1];
    return !v.ok && v.errors.length === 1 && said.startsWith(prefix) ? prefix : said;
  });
});

test('metrics off: nobody listens on the channels, so a request publishes nothing', async () => {
  const v = validate({ OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${await freePort()}`, OAUTH2_PROXY_OIDC_ISSUER_URL: `http://127.0.0.1:${await freePort()}/` });
  assert.ok(v.ok);
  const running = await startPortcullis(v.config, createLogger('silent'), { requestLog: new LogLines() });
  try {
    assert.equal(running.metricsUrl, undefined);
    for (const path of ['/ping', '/ready', '/x']) await (await fetch(`${running.url}${path}`)).text();
    for (const name of CHANNELS) assert.equal(channel(name).hasSubscribers, false, name);
  } finally {
    await running.close(500);
  }
});

test('metrics on: the channels get subscribers for the proxy\'s life, and lose them when it closes', async () => {
  const port = await freePort();
  const metricsPort = await freePort();
  const v = validate({ OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`, OAUTH2_PROXY_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`, OAUTH2_PROXY_OIDC_ISSUER_URL: `http://127.0.0.1:${await freePort()}/` });
  assert.ok(v.ok);
  const running = await startPortcullis(v.config, createLogger('silent'), { requestLog: new LogLines() });
  try {
    assert.equal(running.metricsUrl, `http://127.0.0.1:${metricsPort}`);
    for (const name of CHANNELS) assert.equal(channel(name).hasSubscribers, true, name);
    const res = await fetch(`${running.metricsUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await res.text(), /^# HELP portcullis_requests_total /m);
    assert.equal((await fetch(`${running.metricsUrl}/other`)).status, 404);
    assert.equal((await fetch(`${running.metricsUrl}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await running.close(500);
  }
  for (const name of CHANNELS) assert.equal(channel(name).hasSubscribers, false, name);
});


/** Samples of the Prometheus text format: `name{labels} value` → value, keyed by `name{labels}` as written. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

let stack: Stack;
let metricsUrl: string;
let deadPort: number;

before(async () => {
  const metricsPort = await freePort();
  deadPort = await freePort();
  metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  stack = await startStack({
    extraEnv: (_issuer, upstreamUrl) => ({
      OAUTH2_PROXY_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      OAUTH2_PROXY_UPSTREAMS: `${upstreamUrl},http://127.0.0.1:${deadPort}/dead/`,
    }),
  });
});
after(async () => { await stack?.close(); });

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(metricsUrl);
  assert.equal(res.status, 200);
  return parse(await res.text());
}

test('the metrics listener counts requests, logins, upstream errors and issuer calls by the right amounts', async () => {
  const proxy = stack.proxy.url;
  const before = await scrape();
  assert.equal(before.get('portcullis_logins_started_total'), 0);
  assert.ok((before.get('portcullis_issuer_requests_total{endpoint="discovery",outcome="2xx"}') ?? 0) >= 1, 'discovery at start-up was counted');
  assert.ok(before.has('process_cpu_user_seconds_total') && before.has('nodejs_eventloop_lag_seconds'), 'the process metrics are there too');

  // One login: /oauth2/start 302, /oauth2/callback 302, then / 200 from the upstream.
  const b = new HttpBrowser();
  const landed = await b.navigate(`${proxy}/oauth2/start?rd=/`);
  assert.equal(landed.status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await b.request(`${proxy}/app/${i}`, { headers: JSON_ACCEPT })).status, 200);
  assert.equal((await b.request(`${proxy}/app`, { method: 'POST', headers: JSON_ACCEPT, body: 'x=1' })).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await new HttpBrowser().request(`${proxy}/private`, { headers: JSON_ACCEPT })).status, 401);
  assert.equal((await b.request(`${proxy}/dead/x`, { headers: JSON_ACCEPT })).status, 502);
  // A callback without state: a failed login, LOGIN_BAD_REQUEST.
  assert.equal((await new HttpBrowser().request(`${proxy}/oauth2/callback?code=abc`, { headers: JSON_ACCEPT })).status, 400);

  // A request is counted when its response has finished, which may be a moment after the client read it.
  const total = (m: Map<string, number>): number => [...m].filter(([k]) => k.startsWith('portcullis_requests_total{')).reduce((s, [, v]) => s + v, 0);
  let now = await scrape();
  for (let i = 0; i < 50 && total(now) - total(before) < 11; i++) {
    await new Promise((r) => setTimeout(r, 20));
    now = await scrape();
  }
  const delta = (key: string): number => (now.get(key) ?? 0) - (before.get(key) ?? 0);

  assert.deepEqual({
    'GET 2xx': delta('portcullis_requests_total{method="GET",status_class="2xx"}'),
    'GET 3xx': delta('portcullis_requests_total{method="GET",status_class="3xx"}'),
    'GET 4xx': delta('portcullis_requests_total{method="GET",status_class="4xx"}'),
    'GET 5xx': delta('portcullis_requests_total{method="GET",status_class="5xx"}'),
    'POST 2xx': delta('portcullis_requests_total{method="POST",status_class="2xx"}'),
    'GET timed': delta('portcullis_request_duration_seconds_count{method="GET"}'),
    'POST timed': delta('portcullis_request_duration_seconds_count{method="POST"}'),
    'GET under 10 s': delta('portcullis_request_duration_seconds_bucket{le="10",method="GET"}'),
    'logins started': delta('portcullis_logins_started_total'),
    'logins completed': delta('portcullis_logins_completed_total'),
    'logins failed, LOGIN_BAD_REQUEST': delta('portcullis_logins_failed_total{code="LOGIN_BAD_REQUEST"}'),
    'upstream refused': delta(`portcullis_upstream_errors_total{upstream="http://127.0.0.1:${deadPort}",code="ECONNREFUSED"}`),
    'token calls': delta('portcullis_issuer_requests_total{endpoint="token",outcome="2xx"}'),
    'token calls timed': delta('portcullis_issuer_request_duration_seconds_count{endpoint="token"}'),
    'discovery calls': delta('portcullis_issuer_requests_total{endpoint="discovery",outcome="2xx"}'),
  }, {
    'GET 2xx': 4, // / after the login, and three /app
    'GET 3xx': 2, // /oauth2/start and /oauth2/callback
    'GET 4xx': 3, // two 401s and the bad callback
    'GET 5xx': 1, // the dead upstream
    'POST 2xx': 1,
    'GET timed': 10,
    'POST timed': 1,
    'GET under 10 s': 10,
    'logins started': 1,
    'logins completed': 1,
    'logins failed, LOGIN_BAD_REQUEST': 1,
    'upstream refused': 1,
    'token calls': 1,
    'token calls timed': 1,
    'discovery calls': 0,
  });
  const issuerCalls = [...now].filter(([k]) => k.startsWith('portcullis_issuer_requests_total{'));
  assert.ok(issuerCalls.every(([k]) => /endpoint="(discovery|token|userinfo|jwks|other)"/.test(k)), 'issuer calls are named by endpoint, whatever their URLs');
  // What the request log says, the metrics say: no user, no path, no token in any label.
  const scraped = await (await fetch(metricsUrl)).text();
  assert.doesNotMatch(scraped, /alice|\/app|access_token/);
});
