import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateEnv } from './support/config.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UpstreamSpec } from '../src/config/validate.js';
import { HttpBrowser } from './support/browser.js';
import { rawRequest, request } from './support/http.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { ALICE } from './support/stack.js';

const upstreamsOf = (value: string): { specs?: Array<Omit<UpstreamSpec, 'url'> & { url: string }>; errors?: string[] } => {
  const v = validateEnv({ OAUTH2_PROXY_UPSTREAMS: value });
  if (!v.ok) return { errors: v.errors };
  return { specs: v.config.upstreams.map((s) => ({ ...s, url: s.url.href })) };
};

test('upstream URLs: each kind and its route, as oauth2-proxy reads them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cfg-'));
  try {
    writeFileSync(join(dir, 'f.txt'), 'x');
    assert.deepEqual(upstreamsOf(`http://127.0.0.1:8080/,https://api.internal/api/,file://${dir}#/files/,static://202#/health,unix:///run/app.sock#/app/`).specs, [
      { kind: 'http', path: '/', url: 'http://127.0.0.1:8080/' },
      { kind: 'http', path: '/api/', url: 'https://api.internal/api/' },
      { kind: 'file', path: '/files/', url: `file://${dir}#/files/`, dir },
      { kind: 'static', path: '/health', url: 'static://202#/health', code: 202 },
      { kind: 'unix', path: '/app/', url: 'unix:///run/app.sock#/app/', socketPath: '/run/app.sock' },
    ]);
    // Without a fragment, file://, static:// and unix:// serve `/`, as in oauth2-proxy.
    for (const u of [`file://${dir}`, 'static://200', 'unix:///run/app.sock']) assert.equal(upstreamsOf(u).specs?.[0]?.path, '/', u);
    assert.equal((upstreamsOf('unix:///run/my%20app.sock').specs?.[0] as unknown as { socketPath: string }).socketPath, '/run/my app.sock');

    const refused: Array<[string, RegExp]> = [
      ['ftp://host/', /expected an http:\/\/ or https:\/\/ URL/],
      ['http://user:pw@host/', /without credentials/],
      ['static://abc', /status from 200 to 599/], ['static://99', /status from 200 to 599/], ['static://600', /status from 200 to 599/],
      ['static://200/path', /status from 200 to 599/],
      ['unix://run/app.sock', /absolute socket path/], ['unix:///', /absolute socket path/], ['unix:///run/%zz.sock', /absolute socket path/],
      [`file://${join(dir, 'missing')}`, /an existing directory .*ENOENT/], [`file://${join(dir, 'f.txt')}`, /a directory \(.* is not one\)/],
      ['file://host/srv/www', /a host is not allowed/], [`file://${dir}#files`, /a route after #/],
      [`static://202,static://204`, /both serve the route \//], ['http://a/x/,http://b/x/', /both serve the route \/x\//],
    ];
    for (const [value, message] of refused) {
      const r = upstreamsOf(value);
      assert.ok(r.errors, `${value} is refused`);
      assert.match(r.errors.join('\n'), message, value);
      assert.match(r.errors.join('\n'), /OAUTH2_PROXY_UPSTREAMS/, 'the message names the variable');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A small upstream that says who it is and what it received. */
function namedServer(name: string): http.Server {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name, url: req.url, headers: req.headers }));
    });
  });
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\nunix-upgraded\n'));
  return server;
}

describe('several upstreams of different kinds on one proxy, longest route first', () => {
  let peers: Peers;
  let proxy: InProcess;
  let cookie: string;
  let tmp: string;
  const api = namedServer('api');
  const sock = namedServer('unix');

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'portcullis-kinds-'));
    writeFileSync(join(tmp, 'hello.txt'), 'hello from a file');
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
    const socketPath = join(tmp, 'app.sock');
    await new Promise<void>((r) => sock.listen(socketPath, () => r()));
    peers = await startPeers();
    const apiUrl = `http://127.0.0.1:${(api.address() as { port: number }).port}/api/`;
    const upstreams = [peers.upstreamUrl, apiUrl, `file://${tmp}#/files/`, 'static://202#/health', `unix://${socketPath}#/sock/`, `unix://${join(tmp, 'nobody.sock')}#/dead/`];
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_UPSTREAMS: upstreams.join(',') }, peers.port);
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    cookie = b.cookieHeader(new URL(proxy.url));
  });
  after(async () => {
    await proxy?.close();
    await peers?.close();
    api.closeAllConnections();
    sock.closeAllConnections();
    await Promise.all([new Promise((r) => api.close(r)), new Promise((r) => sock.close(r))]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const get = (path: string, o: { method?: string; headers?: Record<string, string> } = {}) =>
    request(`${proxy.url}${path}`, { method: o.method, headers: { cookie, accept: 'application/json', 'x-forwarded-user': 'mallory', ...o.headers } });

  test('each path reaches its own upstream, path kept, identity headers set and client copies gone', async () => {
    const echo = JSON.parse((await get('/anything/x?q=1')).text()) as { url: string; headers: Record<string, string> };
    assert.equal(echo.url, '/anything/x?q=1');
    assert.equal(echo.headers['x-forwarded-user'], ALICE.sub);
    const apiSeen = JSON.parse((await get('/api/users?id=3')).text()) as { name: string; url: string; headers: Record<string, string> };
    assert.equal(apiSeen.name, 'api');
    assert.equal(apiSeen.url, '/api/users?id=3');
    assert.equal(apiSeen.headers['x-forwarded-user'], ALICE.sub);
    const notApi = JSON.parse((await get('/apiary')).text()) as { name?: string; url: string };
    assert.equal(notApi.name, undefined, '/apiary is not under /api/');
    assert.equal((await get('/files/hello.txt')).text(), 'hello from a file');
  });

  test('unix:// reaches the socket, with the client Host header and the identity headers', async () => {
    const seen = JSON.parse((await get('/sock/a?b=1')).text()) as { name: string; url: string; headers: Record<string, string> };
    assert.equal(seen.name, 'unix');
    assert.equal(seen.url, '/sock/a?b=1');
    assert.equal(seen.headers.host, new URL(proxy.url).host);
    assert.equal(seen.headers['x-forwarded-user'], ALICE.sub);
    assert.equal(seen.headers['x-forwarded-email'], ALICE.email);
    const up = await rawRequest(proxy.url, '/sock/ws', { cookie, connection: 'Upgrade', upgrade: 'websocket' });
    assert.equal(up.status, 101, 'upgrades travel over the socket too');
    assert.match(up.text, /unix-upgraded/);
  });

  test('a unix socket nobody listens on gives 502 UPSTREAM_UNAVAILABLE', async () => {
    const r = await get('/dead/x');
    assert.equal(r.status, 502);
    assert.equal(JSON.parse(r.text()).error, 'UPSTREAM_UNAVAILABLE');
  });

  test('static://202 answers its route with the status and oauth2-proxy\'s body, behind the login', async () => {
    const r = await get('/health');
    assert.equal(r.status, 202);
    assert.equal(r.text(), 'Authenticated');
    assert.equal(r.headers['cache-control'], 'no-store');
    const sub = await get('/health/deep', { method: 'POST' });
    assert.equal(sub.status, 202);
    const head = await get('/health', { method: 'HEAD' });
    assert.equal(head.status, 202);
    assert.equal(head.body.length, 0);
    const anonymous = await request(`${proxy.url}/health`, { headers: { accept: 'application/json' } });
    assert.equal(anonymous.status, 401);
    assert.equal(JSON.parse(anonymous.text()).error, 'UNAUTHENTICATED');
  });

  test('websocket upgrades on static and file routes get UPGRADE_REFUSED', async () => {
    for (const path of ['/health', '/files/hello.txt']) {
      const r = await rawRequest(proxy.url, path, { cookie, accept: 'application/json', connection: 'Upgrade', upgrade: 'websocket' });
      assert.equal(r.status, 501, path);
      assert.match(r.text, /"error":"UPGRADE_REFUSED"/, path);
    }
  });
});
