// Issue 22, the start-up screen: the demo's banner (aligned, its warnings in plain words), and its
// log as one readable line per request in a terminal, JSON everywhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { demoBanner } from '../src/demo/banner.js';
import { relativeTime } from '../src/demo/page.js';
import { demoLogView, terminalLine } from '../src/terminallog.js';
import { BIN, REPO, freePort, startProxy } from './support/proxy.js';

test('the banner: every line of the box the same width, whatever the URLs, within the terminal', () => {
  for (const [port, columns] of [[4180, 80], [65535, 80], [8, 200], [4180, 60]] as const) {
    const text = demoBanner({ url: `http://127.0.0.1:${port}/`, issuerUrl: `http://localhost:${port + 1}/`, upstreamUrl: 'http://127.0.0.1:39203/', readme: 'file:///home/someone/portcullis/README.md', columns });
    const box = text.split('\n').filter((l) => /[┌│└]/.test(l));
    const widths = new Set(box.map((l) => [...l].length));
    assert.equal(widths.size, 1, `one width for every line at port ${port}, ${columns} columns:\n${text}`);
    assert.ok([...widths][0]! <= columns, `fits ${columns} columns`);
    const words = text.replace(/[│┌┐└┘─]/g, ' ').replace(/\s+/g, ' ');
    assert.match(words, new RegExp(`Open http://127\\.0\\.0\\.1:${port}/ and sign in`));
    assert.match(words, /plain http/);
    assert.match(words, /after a restart, sign in again/);
    assert.match(words, /file:\/\/\/home\/someone\/portcullis\/README\.md/, 'the README is named where it is');
  }
});

test('a request log line reads as one short line; other lines as time, level and message; not JSON is passed on', () => {
  const t = Date.UTC(2026, 0, 2, 3, 4, 5);
  const hhmmss = new Date(t).toTimeString().slice(0, 8);
  const cases: Array<[Record<string, unknown> | string, string]> = [
    [{ level: 30, time: t, service: 'portcullis', component: 'request', method: 'GET', path: '/hello', status: 200, durationMs: 3.4, user: 'demo-user-1', client: '127.0.0.1', requestId: 'x' }, `${hhmmss}  GET /hello  200  3 ms  demo-user-1\n`],
    [{ level: 30, time: t, service: 'portcullis', component: 'request', method: 'GET', path: '/', status: 302, durationMs: 0.2 }, `${hhmmss}  GET /  302  0 ms\n`],
    [{ level: 30, time: t, service: 'portcullis', msg: 'portcullis listening', address: 'http://127.0.0.1:4180', upstreams: ['http://127.0.0.1:1/'] }, `${hhmmss}  portcullis listening  address=http://127.0.0.1:4180 upstreams=http://127.0.0.1:1/\n`],
    [{ level: 40, time: t, service: 'portcullis', event: 'login_failed', code: 'LOGIN_EXPIRED', msg: 'login failed' }, `${hhmmss}  warn  login failed  event=login_failed code=LOGIN_EXPIRED\n`],
    ['not json', 'not json\n'],
  ];
  for (const [input, want] of cases) {
    assert.equal(terminalLine(typeof input === 'string' ? input : `${JSON.stringify(input)}\n`), want);
  }
  assert.match(terminalLine(`${JSON.stringify(cases[0]![0])}\n`, { color: true }), /\x1b\[32m200\x1b\[0m/, 'in colour, a 2xx is green');
});

test('the demo view: the warnings the banner explains are left out; JSON stays JSON unless pretty', () => {
  const warning = `${JSON.stringify({ level: 40, time: 1, service: 'portcullis', event: 'identity_jwt_key_generated', kid: 'k', msg: 'identity JWT key made at start-up' })}\n`;
  const request = `${JSON.stringify({ level: 30, time: 1, service: 'portcullis', component: 'request', method: 'GET', path: '/', status: 401, durationMs: 1 })}\n`;
  assert.equal(demoLogView({ pretty: false, color: false })(warning), '');
  assert.equal(demoLogView({ pretty: false, color: false })(request), request);
  assert.match(demoLogView({ pretty: true, color: false })(request), /^\d\d:\d\d:\d\d {2}GET \/ {2}401 {2}1 ms\n$/);
});

test('the echo page says how far a time is in words: "just now", never "in 0 s"', () => {
  assert.equal(relativeTime(100, 100), 'just now');
  assert.equal(relativeTime(160, 100), 'in 60 s');
  assert.equal(relativeTime(40, 100), '60 s ago');
  assert.equal(relativeTime(100 + 3600, 100), 'in 60 min');
  assert.equal(relativeTime(100 + 14 * 86_400, 100), 'in 14 days');
});

test('the demo with a piped stdout: JSON lines, without the start-up warnings its banner explains', { timeout: 60_000 }, async () => {
  const p = await startProxy({ NODE_ENV: 'development', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${await freePort()}` });
  try {
    await p.waitForLog((l) => l.msg === 'issuer ready');
    await fetch(`${p.url}/hello`);
    await p.waitForLog((l) => l.component === 'request' && l.path === '/hello');
    const out = p.lines.join('\n');
    assert.match(out, /PORTCULLIS DEMO MODE/);
    assert.doesNotMatch(out, /COOKIE_SECURE=false|identity_jwt_key_generated/, 'folded into the banner');
    assert.ok(p.logs().length >= 3, 'the log is JSON');
  } finally {
    await p.stop();
  }
});

test('the demo in a terminal: one readable line per request, no JSON', { timeout: 60_000 }, async () => {
  // `script` gives the child a pseudo-terminal, as a user's shell does.
  const port = await freePort();
  const child = spawn('script', ['-qfec', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`, '/dev/null'], {
    cwd: REPO, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development', NO_COLOR: '1', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString('utf8'); });
  const until = async (re: RegExp, what: string): Promise<void> => {
    for (let i = 0; i < 200 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, re, `${what}; the terminal showed:\n${out}`);
  };
  try {
    await until(/issuer ready/, 'the demo starts');
    await fetch(`http://127.0.0.1:${port}/hello`);
    await until(/GET \/hello {2}401/, 'the request is logged');
    assert.match(out, /\d\d:\d\d:\d\d {2}GET \/hello {2}401 {2}\d+ ms/);
    assert.doesNotMatch(out, /\{"level"/, 'no JSON in the terminal');
  } finally {
    // Stop the proxy itself (script's child), then script ends with it.
    const childrenOf = (pid: number): number[] => {
      try { return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
    };
    const descendants = (pid: number): number[] => childrenOf(pid).flatMap((c) => [c, ...descendants(c)]);
    const kids = descendants(child.pid!);
    for (const pid of kids.reverse()) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
    if (kids.length === 0) child.kill('SIGTERM');
    await new Promise((r) => { if (child.exitCode !== null) r(null); else child.once('exit', r); setTimeout(r, 5000).unref(); });
  }
});
