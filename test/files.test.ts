import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isInside, requestedFile } from '../src/upstream/filepath.js';
import { ifRangeHolds, notModified, parseRange } from '../src/upstream/file.js';
import { HttpBrowser } from './support/browser.js';
import { rawRequest, request } from './support/http.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { table } from './support/table.js';

test('file paths: the route is removed, each segment decoded alone, anything that could climb refused', () => {
  const f = (route: string) => (target: string) => requestedFile(target, route);
  table([
    ['/files/a.css', { segments: ['a.css'], slash: false }],
    ['/files/', { segments: [], slash: true }],
    ['/files', { segments: [], slash: false }],
    ['/files/docs/', { segments: ['docs'], slash: true }],
    ['/files/a%20b.txt?x=1', { segments: ['a b.txt'], slash: false }],
    ['/files//docs//x', { segments: ['docs', 'x'], slash: false }],
    ['/files/caf%C3%A9', { segments: ['café'], slash: false }],
    ['/files/%252e%252e', { segments: ['%2e%2e'], slash: false }],
    ['/files/..', undefined], ['/files/../x', undefined], ['/files/.', undefined],
    ['/files/%2e%2e/x', undefined], ['/files/%2E%2e/x', undefined], ['/files/.%2e/x', undefined],
    ['/files/..%2fx', undefined], ['/files/%2e%2e%2fx', undefined], ['/files/a%2Fb', undefined],
    ['/files/..%5cx', undefined], ['/files/a%5Cb', undefined], ['/files/..\\x', undefined], ['/files/a\\b', undefined],
    ['/files/a%00.html', undefined], ['/files/%E0%A4%A', undefined], ['/files/%', undefined],
    ['/filesx/a', undefined], ['/other/a', undefined],
  ], f('/files/'));
  table([['/x/y', { segments: ['x', 'y'], slash: false }], ['/', { segments: [], slash: true }], ['/%2e%2e', undefined]], f('/'));
  table([['/files', { segments: [], slash: false }], ['/files/a', { segments: ['a'], slash: false }], ['/filesa', undefined]], f('/files'));
  table([
    [['/srv/www', '/srv/www'], true], [['/srv/www', '/srv/www/a'], true], [['/srv/www', '/srv/www2/a'], false],
    [['/srv/www', '/srv'], false], [['/srv/www', '/etc/passwd'], false], [['/', '/etc/passwd'], true],
  ], ([root, p]: string[]) => isInside(root!, p!));
});

test('byte ranges: one range served, unsatisfiable ones are 416, anything else the whole file', () => {
  table<string, [number, number] | 'unsatisfiable' | undefined>([
    ['bytes=0-9', [0, 9]], ['bytes=10-', [10, 99]], ['bytes=-10', [90, 99]], ['bytes=-500', [0, 99]],
    ['bytes=90-500', [90, 99]], ['bytes=99-99', [99, 99]],
    ['bytes=100-', 'unsatisfiable'], ['bytes=100-200', 'unsatisfiable'], ['bytes=-0', 'unsatisfiable'],
    ['bytes=5-1', undefined], ['bytes=0-1,5-6', undefined], ['items=0-1', undefined], ['bytes=-', undefined],
    ['bytes=a-b', undefined], ['bytes=1-2-3', undefined], ['', undefined],
  ], (h: string) => parseRange(h, 100));
  assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
  assert.equal(parseRange('bytes=-1', 0), 'unsatisfiable');
});

test('revalidation: If-None-Match decides alone; If-Modified-Since in whole seconds; If-Range strong', () => {
  const etag = '"abc-10"';
  const mtime = Date.parse('2024-05-01T10:00:00.700Z');
  table([
    [{ 'if-none-match': '"abc-10"' }, true], [{ 'if-none-match': 'W/"abc-10"' }, true], [{ 'if-none-match': '"x", "abc-10"' }, true],
    [{ 'if-none-match': '*' }, true], [{ 'if-none-match': '"other"' }, false],
    [{ 'if-none-match': '"other"', 'if-modified-since': 'Wed, 01 May 2024 10:00:00 GMT' }, false],
    [{ 'if-modified-since': 'Wed, 01 May 2024 10:00:00 GMT' }, true], [{ 'if-modified-since': 'Wed, 01 May 2024 09:59:59 GMT' }, false],
    [{ 'if-modified-since': 'not a date' }, false], [{}, false],
  ], (h: Record<string, string>) => notModified(h, etag, mtime));
  table([
    [undefined, true], ['"abc-10"', true], ['W/"abc-10"', false], ['"other"', false],
    ['Wed, 01 May 2024 10:00:00 GMT', true], ['Wed, 01 May 2024 09:00:00 GMT', false],
  ], (v: string | undefined) => ifRangeHolds(v, etag, 'Wed, 01 May 2024 10:00:00 GMT'));
});

describe('file:// upstream end to end', () => {
  let peers: Peers;
  let proxy: InProcess;
  let cookie: string;
  let tmp: string;
  const big = randomBytes(300_000);
  const SECRET = 'outside-secret-7c1d';

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'portcullis-files-'));
    const root = join(tmp, 'root');
    mkdirSync(join(root, 'docs'), { recursive: true });
    mkdirSync(join(root, 'empty'));
    mkdirSync(join(tmp, 'outside'));
    writeFileSync(join(tmp, 'outside', 'secret.txt'), SECRET);
    writeFileSync(join(tmp, 'outside', 'index.html'), SECRET);
    writeFileSync(join(root, 'index.html'), '<h1>home</h1>');
    writeFileSync(join(root, 'docs', 'index.html'), '<h1>docs</h1>');
    writeFileSync(join(root, 'style.css'), 'body{}');
    writeFileSync(join(root, 'app.js'), 'export {}');
    writeFileSync(join(root, 'data.json'), '{"a":1}');
    writeFileSync(join(root, 'notes.txt'), 'notes');
    writeFileSync(join(root, 'a b.txt'), 'spaced');
    writeFileSync(join(root, 'blob.unknownext'), 'bytes');
    writeFileSync(join(root, 'empty.txt'), '');
    writeFileSync(join(root, 'big.bin'), big);
    utimesSync(join(root, 'notes.txt'), new Date('2024-05-01T10:00:00Z'), new Date('2024-05-01T10:00:00Z'));
    symlinkSync(join(root, 'notes.txt'), join(root, 'link-in.txt'));
    symlinkSync('docs', join(root, 'docs-link'));
    symlinkSync(join(tmp, 'outside', 'secret.txt'), join(root, 'link-out.txt'));
    symlinkSync(join(tmp, 'outside'), join(root, 'dir-out'));
    symlinkSync('/etc/passwd', join(root, 'passwd'));
    // The configured directory is itself a symlink: files must stay inside its target.
    symlinkSync(root, join(tmp, 'served'));
    peers = await startPeers();
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_UPSTREAMS: `${peers.upstreamUrl},file://${join(tmp, 'served')}#/files/` }, peers.port);
    const b = new HttpBrowser();
    const res = await b.navigate(`${proxy.url}/oauth2/start?rd=/`);
    assert.equal(res.status, 200);
    cookie = b.cookieHeader(new URL(proxy.url));
  });
  after(async () => {
    await proxy?.close();
    await peers?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    request(`${proxy.url}${path}`, { method, headers: { cookie, accept: 'application/json', ...headers } });

  test('without a session: 401 like every route, and nothing of the file', async () => {
    const r = await request(`${proxy.url}/files/notes.txt`, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.text()).error, 'UNAUTHENTICATED');
  });

  test('content types by extension, nosniff, and a cache policy that never lets a shared cache keep them', async () => {
    for (const [path, type, body] of [
      ['/files/style.css', 'text/css; charset=utf-8', 'body{}'], ['/files/app.js', 'text/javascript; charset=utf-8', 'export {}'],
      ['/files/data.json', 'application/json', '{"a":1}'], ['/files/notes.txt', 'text/plain; charset=utf-8', 'notes'],
      ['/files/blob.unknownext', 'application/octet-stream', 'bytes'], ['/files/a%20b.txt', 'text/plain; charset=utf-8', 'spaced'],
      ['/files/link-in.txt', 'text/plain; charset=utf-8', 'notes'], ['/files/empty.txt', 'text/plain; charset=utf-8', ''],
    ] as const) {
      const r = await get(path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
      assert.equal(r.text(), body, path);
      assert.equal(r.headers['content-length'], String(Buffer.byteLength(body)), path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['cache-control'], 'private, no-cache');
      assert.equal(r.headers['accept-ranges'], 'bytes');
    }
  });

  test('a directory is served by its index.html, redirected to its slash first; without index it is 404, never a listing', async () => {
    let r = await get('/files/');
    assert.equal(r.status, 200);
    assert.equal(r.text(), '<h1>home</h1>');
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    r = await get('/files');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/files/');
    r = await get('/files/docs?x=1');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/files/docs/?x=1');
    r = await get('/files//docs');
    assert.equal(r.headers.location, '/files/docs/', 'the redirect is rebuilt from the segments');
    assert.equal((await get('/files/docs/')).text(), '<h1>docs</h1>');
    assert.equal((await get('/files/docs-link/')).text(), '<h1>docs</h1>', 'a symlinked directory inside is followed');
    for (const p of ['/files/empty/', '/files/empty', '/files/missing.txt', '/files/missing/', '/files/notes.txt/']) {
      r = await get(p);
      assert.equal(r.status, 404, p);
      assert.equal(JSON.parse(r.text()).error, 'FILE_NOT_FOUND', p);
    }
    const page = await get('/files/missing.txt', { accept: 'text/html' });
    assert.equal(page.status, 404);
    assert.match(page.text(), /There is no file at this address/);
    assert.match(page.headers['content-type'] ?? '', /text\/html/);
  });

  test('ETag / If-None-Match and Last-Modified / If-Modified-Since give 304', async () => {
    const first = await get('/files/notes.txt');
    const etag = first.headers.etag!;
    assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.equal(first.headers['last-modified'], 'Wed, 01 May 2024 10:00:00 GMT');
    let r = await get('/files/notes.txt', { 'if-none-match': etag });
    assert.equal(r.status, 304);
    assert.equal(r.body.length, 0);
    assert.equal(r.headers.etag, etag);
    r = await get('/files/notes.txt', { 'if-none-match': '"stale"', 'if-modified-since': 'Wed, 01 May 2024 10:00:00 GMT' });
    assert.equal(r.status, 200, 'If-None-Match decides alone when present');
    r = await get('/files/notes.txt', { 'if-modified-since': 'Wed, 01 May 2024 10:00:00 GMT' });
    assert.equal(r.status, 304);
    r = await get('/files/notes.txt', { 'if-modified-since': 'Wed, 01 May 2024 09:00:00 GMT' });
    assert.equal(r.status, 200);
    assert.equal(r.text(), 'notes');
  });

  test('ranges: 206 with Content-Range, 416 past the end, whole file when If-Range no longer holds', async () => {
    let r = await get('/files/big.bin', { range: 'bytes=100-199' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 100-199/${big.length}`);
    assert.equal(r.headers['content-length'], '100');
    assert.deepEqual(r.body, big.subarray(100, 200));
    r = await get('/files/big.bin', { range: 'bytes=-50' });
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, big.subarray(big.length - 50));
    r = await get('/files/big.bin', { range: 'bytes=299990-' });
    assert.deepEqual(r.body, big.subarray(299_990));
    r = await get('/files/big.bin', { range: `bytes=${big.length}-` });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], `bytes */${big.length}`);
    assert.equal(JSON.parse(r.text()).error, 'RANGE_NOT_SATISFIABLE');
    r = await get('/files/big.bin', { range: 'bytes=0-1,5-6' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, big.length);
    const etag = r.headers.etag!;
    r = await get('/files/big.bin', { range: 'bytes=0-9', 'if-range': etag });
    assert.equal(r.status, 206);
    r = await get('/files/big.bin', { range: 'bytes=0-9', 'if-range': '"changed"' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, big);
  });

  test('HEAD: the same headers, no body; other methods: 405 with Allow', async () => {
    const r = await get('/files/big.bin', {}, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(big.length));
    assert.equal(r.body.length, 0);
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const m = await request(`${proxy.url}/files/notes.txt`, { method, headers: { cookie, accept: 'application/json' }, body: 'ignored' });
      assert.equal(m.status, 405, method);
      assert.equal(m.headers.allow, 'GET, HEAD');
      assert.equal(JSON.parse(m.text()).error, 'METHOD_NOT_ALLOWED');
    }
  });

  test('never a file outside the directory, whatever the spelling', async () => {
    const attempts = [
      '/files/../outside/secret.txt', '/files/%2e%2e/outside/secret.txt', '/files/%2E%2E/outside/secret.txt',
      '/files/.%2e/outside/secret.txt', '/files/%2e%2e%2foutside%2fsecret.txt', '/files/..%2foutside%2fsecret.txt',
      '/files/..%5coutside%5csecret.txt', '/files/..\\outside\\secret.txt', '/files/%252e%252e/outside/secret.txt',
      '/files//../outside/secret.txt', '/files/docs/../../outside/secret.txt', '/files/docs/%2e%2e/%2e%2e/outside/secret.txt',
      '/files/secret.txt%00.txt', '/files/%00', '/files/%c0%ae%c0%ae/outside/secret.txt', '/files/link-out.txt',
      '/files/dir-out/secret.txt', '/files/dir-out/', '/files/dir-out', '/files/passwd', '/files/%2fetc%2fpasswd',
      '/files/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd', '/files/....//outside/secret.txt',
    ];
    for (const target of attempts) {
      const r = await rawRequest(proxy.url, target, { cookie, accept: 'application/json' });
      assert.ok([400, 404].includes(r.status), `${target} → ${r.status}`);
      assert.ok(!r.text.includes(SECRET) && !r.text.includes('root:x:0:0'), `${target} leaked a file outside`);
    }
    assert.ok(proxy.logs.lines.some((l) => l.event === 'file_outside_root'), 'a symlink leading out is logged for the operator');
  });

  test('websocket upgrades on a file route are refused with UPGRADE_REFUSED', async () => {
    const r = await rawRequest(proxy.url, '/files/notes.txt', { cookie, accept: 'application/json', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' });
    assert.equal(r.status, 501);
    assert.match(r.text, /UPGRADE_REFUSED/);
  });
});
