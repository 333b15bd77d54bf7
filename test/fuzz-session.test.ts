import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';

/** A deterministic generator, so a failure names a case that can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function get(port: number, cookie: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/fuzz', agent, headers: { cookie, accept: 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

describe('session cookies under fuzzing: never a 5xx, never a pass', () => {
  let peers: Peers;
  let proxy: InProcess;
  let valid: string;
  before(async () => {
    peers = await startPeers();
    proxy = await startInProcess({ ...peers.env, OAUTH2_PROXY_REQUEST_LOGGING: 'false' }, peers.port);
    const b = new HttpBrowser();
    assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    valid = b.cookies().get('_oauth2_proxy')!;
    assert.match(valid, /^Fe26\.2\*/);
  });
  after(async () => { await proxy?.close(); await peers?.close(); });

  test('10,000 random and mutated cookie values', async () => {
    const port = Number(new URL(proxy.url).port);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const r = rng(20261130);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const mutate = (v: string): string => {
      const i = Math.floor(r() * v.length);
      switch (Math.floor(r() * 10)) {
        case 0: return v.slice(0, i);                                              // truncated
        case 1: return `${v}${pick(['x', '~2', '~3', '*', '=', '%00', '\t~2'])}`;     // suffixed
        case 2: return v.slice(0, i) + String.fromCharCode(33 + Math.floor(r() * 90)) + v.slice(i + 1); // one character changed
        case 3: return v.replace('~2', pick(['~1', '~20', '', '~2~2']));           // version games
        case 4: return v.split('*').map((p, k) => (k === Math.floor(r() * 8) ? p.split('').reverse().join('') : p)).join('*'); // a field reversed
        case 5: return randomBytes(Math.floor(r() * 600)).toString('base64url');   // random
        case 6: return `Fe26.2${'*'.repeat(Math.floor(r() * 10))}${randomBytes(40).toString('base64url')}~2`;
        case 7: return v.slice(i) + v.slice(0, i);                                 // rotated
        case 8: return v.replace(/\*[^*]+\*/, `*${randomBytes(16).toString('base64url')}*`); // a field replaced
        default: return `${v.slice(0, Math.min(3800, v.length - 1))}`;             // cut at a chunk boundary
      }
    };
    const counts = new Map<number, number>();
    const passed: string[] = [];
    for (let n = 0; n < 10_000; n += 8) {
      const batch = Array.from({ length: 8 }, () => {
        const value = mutate(valid);
        if (value === valid) return undefined;
        // Half plain, half as chunks (with a stray or missing piece now and then).
        if (r() < 0.5) return `_oauth2_proxy=${value}`;
        const mid = Math.floor(value.length / 2);
        const parts = [`_oauth2_proxy_0=${value.slice(0, mid)}`, `_oauth2_proxy_1=${value.slice(mid)}`];
        if (r() < 0.2) parts.push(`_oauth2_proxy_3=${value.slice(0, 10)}`);
        if (r() < 0.1) parts.reverse();
        return parts.join('; ');
      }).filter((c): c is string => c !== undefined);
      const statuses = await Promise.all(batch.map((c) => get(port, c, agent)));
      statuses.forEach((s, k) => {
        counts.set(s, (counts.get(s) ?? 0) + 1);
        if (s < 300 || s >= 500) passed.push(`${s}: ${batch[k]!.slice(-120)}`);
      });
    }
    agent.destroy();
    assert.deepEqual(passed.slice(0, 5), [], `statuses: ${JSON.stringify([...counts])}`);
    assert.deepEqual([...counts.keys()], [401], 'every one is simply not a session');
    assert.ok(counts.get(401)! > 8000, `${counts.get(401)} cases`);
    assert.equal((await fetch(`${proxy.url}/ping`)).status, 200);
    // The real cookie still works afterwards: nothing above poisoned the cache.
    assert.equal(await get(port, `_oauth2_proxy=${valid}`, new http.Agent()), 200);
  });
});
