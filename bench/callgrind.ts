// Instructions per request, counted by valgrind's callgrind: a figure that, unlike CPU time, does not
// move when other processes share the machine, for the before/after of a change on the hot path.
// One process at a time runs under callgrind (instrumentation off while it starts and warms up);
// a Node client sends exactly --requests requests over --connections keep-alive connections, and
// the count covers those alone (all of the process's threads: the log sink's writes run on a libuv
// worker). What each request asks for is what the benchmark asks for, with a cookie from a real
// login (against the dev issuer, through a Portcullis started without valgrind, same secret).
// Usage: node dist/bench/callgrind.js --what W[,W…] [--bin PATH] [--requests N] [--warmup N] [--repeat N]
//   W: portcullis-auth (GET /oauth2/auth), portcullis, portcullis-no-log (GET / proxied),
//      auth-zero, auth-floor, auth-zero-session, auth-zero-log (bench/zero-auth.ts), bare-http-proxy,
//      bare-http-proxy-log (bench/bare-hop.ts). --bin: the Portcullis entry point (another build).
// Prints one line per run: what, Ir per request, and the callgrind file (annotate it with callgrind_annotate).
// --strace: instead of callgrind, `strace -c` attached to every thread of the process (not under
// valgrind) for the measured requests: system calls per request, which callgrind does not see.
// --cpu: no valgrind, no strace: the process's CPU time (user + system, /proc) per measured request,
// for quick A/B runs (--what a,b --bin … --repeat N interleaves them); noisy where the machine is busy.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDevIssuer } from '../src/devissuer/issuer.js';
import { HttpBrowser } from '../test/support/browser.js';
import { BIN, freePort } from '../test/support/proxy.js';
import { get, sleep } from './client.js';
import { readPort, spawnNode, stop } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
const { values: a } = parseArgs({
  options: {
    what: { type: 'string', default: 'portcullis-auth' }, bin: { type: 'string' }, requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '3000' }, connections: { type: 'string', default: '16' }, repeat: { type: 'string', default: '1' },
    out: { type: 'string', default: '/tmp/portcullis-callgrind' }, strace: { type: 'boolean', default: false }, cpu: { type: 'boolean', default: false },
  },
});
const REQUESTS = Number(a.requests), WARMUP = Number(a.warmup), CONNECTIONS = Number(a.connections);
const bin = resolve(a.bin ?? BIN);
mkdirSync(a.out!, { recursive: true });

const upstream = spawnNode('upstream', [join(HERE, 'upstream.js')]);
const upstreamPort = await readPort(upstream);
const cookieSecret = randomBytes(32).toString('base64url');
const loginPort = await freePort();
const client = { client_id: 'callgrind', client_secret: randomBytes(24).toString('base64url'), redirect_uris: [`http://127.0.0.1:${loginPort}/oauth2/callback`] };
const issuer = await startDevIssuer({ shape: 'hydra', clients: [client] });
const portcullisEnv = (port: number, extra: Record<string, string> = {}): Record<string, string> => ({
  PATH: process.env.PATH ?? '', NODE_ENV: 'production', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`,
  OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer, OAUTH2_PROXY_CLIENT_ID: client.client_id, OAUTH2_PROXY_CLIENT_SECRET: client.client_secret,
  OAUTH2_PROXY_COOKIE_SECRET: cookieSecret, OAUTH2_PROXY_COOKIE_SECURE: 'false', OAUTH2_PROXY_EMAIL_DOMAINS: '*',
  OAUTH2_PROXY_SCOPE: 'openid email profile groups', OAUTH2_PROXY_UPSTREAMS: `http://127.0.0.1:${upstreamPort}/`, ...extra,
});

async function waitUp(url: string, exited: () => boolean, timeoutMs = 300_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (exited()) throw new Error(`exited before ${url} answered`);
    try {
      if ((await get(url, {}, 5_000)).status < 500) return;
    } catch { /* not yet */ }
    await sleep(200);
  }
  throw new Error(`${url}: no answer after ${timeoutMs} ms`);
}

// The cookie: a real login through a Portcullis without valgrind, the same secret as the measured one.
const loginProxy = spawnNode('login', [bin], { env: portcullisEnv(loginPort) });
await waitUp(`http://127.0.0.1:${loginPort}/ready`, () => loginProxy.exited());
const browser = new HttpBrowser();
const final = await browser.navigate(`http://127.0.0.1:${loginPort}/oauth2/start?rd=/`);
if (final.status !== 200) throw new Error(`login ended with ${final.status}`);
const cookie = [...browser.cookies('127.0.0.1')].filter(([n]) => /^_oauth2_proxy(_\d+)?$/.test(n)).map(([n, v]) => `${n}=${v}`).join('; ');
await stop(loginProxy, 3_000);

/** Sends `n` GETs over CONNECTIONS keep-alive connections, CONNECTIONS in flight; fails on any answer but `status`. */
async function load(url: string, n: number, status: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let sent = 0;
  const one = (): Promise<void> => new Promise((res, rej) => {
    http.get(url, { agent, headers: { cookie } }, (r) => {
      r.resume();
      r.on('end', () => (r.statusCode === status ? res() : rej(new Error(`${url}: ${r.statusCode}`))));
    }).on('error', rej);
  });
  const worker = async (): Promise<void> => { while (sent < n) { sent++; await one(); } };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  agent.destroy();
}

function command(what: string, port: number): { args: string[]; env: Record<string, string>; path: string; ready: string; status: number } {
  const zero = /^auth-(zero|floor)/.test(what);
  if (what.startsWith('portcullis')) {
    const auth = what === 'portcullis-auth';
    return {
      args: [bin], env: portcullisEnv(port, what === 'portcullis-no-log' ? { OAUTH2_PROXY_REQUEST_LOGGING: 'false' } : {}),
      path: auth ? '/oauth2/auth' : '/', ready: '/ready', status: auth ? 202 : 200,
    };
  }
  if (zero) {
    const mode = what === 'auth-zero' ? 'zero' : what === 'auth-floor' ? 'floor' : what.slice('auth-zero-'.length);
    return { args: [join(HERE, 'zero-auth.js'), String(port), mode], env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORTCULLIS_BENCH_COOKIE_SECRET: cookieSecret }, path: '/oauth2/auth', ready: '/oauth2/auth', status: 202 };
  }
  if (what === 'bare-http-proxy' || what === 'bare-http-proxy-log') {
    return { args: [join(HERE, 'bare-hop.js'), 'http-proxy', String(upstreamPort), String(port), ...(what.endsWith('-log') ? ['log'] : [])], env: { PATH: process.env.PATH ?? '' }, path: '/', ready: '/', status: 200 };
  }
  throw new Error(`unknown --what ${what}`);
}

function control(pid: number, ...args: string[]): void {
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

try {
  for (let rep = 0; rep < Number(a.repeat); rep++) {
    for (const what of a.what!.split(',')) {
      const port = await freePort();
      const c = command(what, port);
      const file = join(a.out!, `${what}.${Date.now()}.out`);
      const child = a.strace || a.cpu
        ? spawn(process.execPath, c.args, { env: c.env, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${file}`,
          // Under valgrind the threads take turns: a concurrent compile lands thousands of requests
          // late, and when varies. Compiling and collecting on the main thread makes the warm-up end
          // with the code optimised, run after run.
          process.execPath, '--no-concurrent-recompilation', '--single-threaded-gc', ...c.args], {
          env: c.env, stdio: ['ignore', 'pipe', 'pipe'],
        });
      let done = false;
      const exit = new Promise<void>((r) => child.on('exit', () => { done = true; r(); }));
      child.stdout.resume(); // the request log: drained, as the bench drains it
      let err = '';
      child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
      const url = `http://127.0.0.1:${port}`;
      await waitUp(`${url}${c.ready}`, () => done);
      await load(`${url}${c.path}`, WARMUP, c.status);
      if (a.cpu) {
        const ticks = (): number => { const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]); };
        const t0 = ticks();
        await load(`${url}${c.path}`, REQUESTS, c.status);
        const us = ((ticks() - t0) * 1e6) / 100 / REQUESTS; // clock ticks of 10 ms
        child.kill('SIGTERM');
        await exit;
        console.log(`${what.padEnd(22)} ${us.toFixed(1)} CPU µs/request (user + system)  ${a.bin ?? 'bin/portcullis'}`);
        continue;
      }
      if (a.strace) {
        const tids = readdirSync(`/proc/${child.pid}/task`);
        const tracer = spawn('strace', ['-c', '-o', file, ...tids.flatMap((t) => ['-p', t])], { stdio: 'ignore' });
        await sleep(1_000); // attached
        await load(`${url}${c.path}`, REQUESTS, c.status);
        tracer.kill('SIGINT');
        await new Promise((r) => tracer.on('exit', r));
        child.kill('SIGTERM');
        await exit;
        const total = /^-+.*\n\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)(?:\s+\d+)?\s+total/m.exec(readFileSync(file, 'utf8'));
        console.log(`${what.padEnd(22)} ${total ? (Number(total[1]) / REQUESTS).toFixed(2) : '?'} system calls/request  ${file}`);
        continue;
      }
      control(child.pid!, '-i', 'on');
      await load(`${url}${c.path}`, REQUESTS, c.status);
      control(child.pid!, '-i', 'off');
      child.kill('SIGTERM');
      await exit;
      // One file per thread (FILE-01 is the main thread, where the JavaScript runs); the others are
      // V8's compiler and GC helpers and libuv's workers, whose share moves from run to run.
      const files = readdirSync(dirname(file)).filter((f) => f.startsWith(`${basename(file)}-`)).sort();
      const ir = files.map((f) => Number(/^totals:\s*(\d+)/m.exec(readFileSync(join(dirname(file), f), 'utf8'))?.[1] ?? 0));
      if (ir.length === 0) throw new Error(`${file}: no output\n${err}`);
      const per = (n: number): string => Math.round(n / REQUESTS).toLocaleString('en-US').padStart(9);
      // The garbage collections that fell in the window (inclusive), apart: a major one or not moves the total.
      const annotated = spawnSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', join(dirname(file), files[0]!)], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
      const gc = Number(/^\s*([\d,]+)\s+\([^)]*\)\s+\?\?\?:v8::internal::Heap::CollectGarbage\(/m.exec(annotated)?.[1]?.replace(/,/g, '') ?? 0);
      console.log(`${what.padEnd(22)} ${per(ir[0]! - gc)} Ir/request on the main thread without GC (GC ${per(gc).trim()}), ${per(ir.reduce((x, y) => x + y, 0))} on all threads  ${file}-01`);
    }
  }
} finally {
  await stop(upstream, 3_000);
  await issuer.stop();
}
