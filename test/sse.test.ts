import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';

describe('server-sent events stream through unbuffered', () => {
  let peers: Peers;
  let proxy: InProcess;
  let upstream: http.Server;
  let release: () => void = () => undefined;
  before(async () => {
    peers = await startPeers();
    // One event now, the next only when the test says so: a buffering proxy would hold the first.
    upstream = http.createServer((req, res) => {
      if (req.url !== '/events') return void res.end('ok');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: first\n\n');
      release = () => res.end('data: second\n\n');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const { port } = upstream.address() as AddressInfo;
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_UPSTREAMS: `http://127.0.0.1:${port}/` }, peers.port);
  });
  after(async () => { await proxy?.close(); upstream?.closeAllConnections(); upstream?.close(); await peers?.close(); });

  test('the first event reaches the client while the upstream is still holding the second', async () => {
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    const cookie = b.cookieHeader(new URL(proxy.url));
    const first = await new Promise<string>((resolve, reject) => {
      const req = http.get(`${proxy.url}/events`, { headers: { cookie, accept: 'text/event-stream' } }, (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
          if (text.includes('first') && !text.includes('second')) { resolve(text); release(); }
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      setTimeout(() => reject(new Error('the first event did not arrive on its own within 3 s')), 3000).unref();
    });
    assert.equal(first, 'data: first\n\n');
  });
});
