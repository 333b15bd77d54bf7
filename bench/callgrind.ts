// Instructions per request, counted by valgrind's callgrind: a figure that, unlike CPU time, does not
// move when other processes share the machine, for the before/after of a change on the hot path.
// One process at a time runs under callgrind (instrumentation off while it starts and warms up);
// a Node client sends exactly --requests requests over --connections keep-alive connections, and
// the count covers those alone (all of the process's threads: the log sink's writes run on a libuv
// worker). What each request asks for is what the benchmark asks for, with a cookie from a real
// login (against the dev issuer, through a Portcullis started without valgrind, same secret).
// Usage: node dist/bench/callgrind.js --what W[,W…] [--bin PATH] [--requests N] [--warmup N] [--repeat N] [--js N] [--node-flags=FLAGS] [--cpu | --strace]
//   W: portcullis-auth (GET /oauth2/auth), portcullis, portcullis-no-log (GET / proxied),
//      auth-zero, auth-floor, auth-zero-session, auth-zero-log (bench/zero-auth.ts), bare-http-proxy,
//      bare-http-proxy-log (bench/bare-hop.ts); nginx-auth-zero, nginx-auth-floor, nginx-auth-portcullis:
//      nginx (bench/nginx.ts's auth_request config, one process: master_process off) in front of
//      auth-zero, auth-floor or portcullis-auth, GET / proxied to the upstream, both processes
//      measured, each and their sum. --bin: the Portcullis entry point (another build).
// Prints one line per run: what, Ir per request, and the callgrind file (annotate it with callgrind_annotate).
// --strace: instead of callgrind, `strace -c` attached to every thread of the process (not under
// valgrind) for the measured requests: system calls per request, which callgrind does not see.
// --cpu: no valgrind, no strace: the process's CPU time (user + system, /proc) per measured request,
// for quick A/B runs (--what a,b --bin … --repeat N interleaves them); noisy where the machine is busy.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDevIssuer } from '../src/devissuer/issuer.js';
import { HttpBrowser } from '../test/support/browser.js';
import { BIN, freePort } from '../test/support/proxy.js';
import { get, sleep } from './client.js';
import { NGINX, nginxAuthConfig } from './nginx.js';
import { readPort, spawnNode, stop } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
const { values: a } = parseArgs({
  options: {
    what: { type: 'string', default: 'portcullis-auth' }, bin: { type: 'string' }, requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '3000' }, connections: { type: 'string', default: '16' }, repeat: { type: 'string', default: '1' },
    out: { type: 'string', default: '/tmp/portcullis-callgrind' }, strace: { type: 'boolean', default: false }, cpu: { type: 'boolean', default: false },
    js: { type: 'string', default: '0' }, 'node-flags': { type: 'string', default: '' },
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

/** A process being measured: Node under valgrind (or not), or nginx in front of it. */
interface Measured { name: string; child: ChildProcess; exit: Promise<void>; exited: () => boolean; file: string; err: () => string }

function launch(what: string, name: string, cmd: string, args: string[], env: Record<string, string>, node: boolean, stamp: number): Measured {
  const file = join(a.out!, `${what === name ? what : `${what}.${name}`}.${stamp}.out`);
  const flags = node ? a['node-flags']!.split(' ').filter(Boolean) : [];
  const child = a.strace || a.cpu
    ? spawn(cmd, [...flags, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${file}`,
      // Under valgrind the threads take turns: a concurrent compile lands thousands of requests
      // late, and when varies. Compiling and collecting on the main thread makes the warm-up end
      // with the code optimised, run after run.
      cmd, ...(node ? ['--no-concurrent-recompilation', '--single-threaded-gc', ...(Number(a.js) > 0 ? ['--perf-basic-prof'] : []), ...flags] : []), ...args], {
      env, stdio: ['ignore', 'pipe', 'pipe'],
    });
  let done = false;
  const exit = new Promise<void>((r) => child.on('exit', () => { done = true; r(); }));
  child.stdout!.resume(); // the request log: drained, as the bench drains it
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  return { name, child, exit, exited: () => done, file, err: () => err };
}

/**
 * --js N: the N JavaScript functions (and V8 stubs) of the main thread that ran the most
 * instructions per request, self cost. Callgrind names JIT code only by address; node's
 * --perf-basic-prof map (/tmp/perf-PID.map, valgrind keeps the PID) names each code range.
 */
function jsFunctions(file: string, pid: number, top: number): void {
  let map: Array<[number, number, string]>;
  try {
    map = readFileSync(`/tmp/perf-${pid}.map`, 'utf8').split('\n').filter(Boolean).map((l) => {
      const [start, size, ...name] = l.split(' ');
      return [parseInt(start!, 16), parseInt(size!, 16), name.join(' ')] as [number, number, string];
    });
  } catch {
    return void console.log(`  (no /tmp/perf-${pid}.map)`);
  }
  // Code is moved and its space reused: the map's last entry that covers an address is the code there now.
  const find = (addr: number): string => {
    for (let i = map.length - 1; i >= 0; i--) if (addr >= map[i]![0] && addr < map[i]![0] + map[i]![1]) return map[i]![2];
    return `0x${addr.toString(16)}`;
  };
  const annotated = spawnSync('callgrind_annotate', ['--threshold=100', file], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
  const sums = new Map<string, number>();
  for (const m of annotated.matchAll(/^\s*([\d,]+)\s+\([^)]*\)\s+\?\?\?:0x([0-9a-f]+) \[\?\?\?\]/gm)) {
    const name = find(parseInt(m[2]!, 16));
    sums.set(name, (sums.get(name) ?? 0) + Number(m[1]!.replace(/,/g, '')));
  }
  for (const [name, ir] of [...sums].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`  ${Math.round(ir / REQUESTS).toLocaleString('en-US').padStart(8)}  ${name}`);
}

/** nginx-auth-X: nginx (bench/nginx.ts's auth_request config) in front of X, both measured. */
const BEHIND_NGINX: Record<string, string> = { 'nginx-auth-zero': 'auth-zero', 'nginx-auth-floor': 'auth-floor', 'nginx-auth-portcullis': 'portcullis-auth' };

try {
  for (let rep = 0; rep < Number(a.repeat); rep++) {
    for (const what of a.what!.split(',')) {
      const inner = BEHIND_NGINX[what] ?? what;
      const port = await freePort();
      const c = command(inner, port);
      const stamp = Date.now();
      const procs = [launch(what, inner, process.execPath, c.args, c.env, true, stamp)];
      await waitUp(`http://127.0.0.1:${port}${c.ready}`, () => procs[0]!.exited());
      let url = `http://127.0.0.1:${port}${c.path}`;
      let status = c.status;
      if (BEHIND_NGINX[what]) {
        // One process (master_process off), so that the one process is what is measured: the
        // worker's work per request is the same as under a master.
        const front = await freePort();
        const dir = join(a.out!, `nginx-${stamp}`);
        mkdirSync(dir, { recursive: true });
        const conf = join(dir, 'nginx.conf');
        writeFileSync(conf, `master_process off;\n${nginxAuthConfig(dir, front, upstreamPort, port)}`);
        procs.push(launch(what, 'nginx', NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], { PATH: process.env.PATH ?? '' }, false, stamp));
        url = `http://127.0.0.1:${front}/`;
        status = 200;
        await waitUp(url, () => procs[1]!.exited());
      }
      await load(url, WARMUP, status);
      const stopAll = async (): Promise<void> => {
        for (const p of procs) p.child.kill('SIGTERM');
        await Promise.all(procs.map((p) => p.exit));
      };
      const label = (p: Measured): string => (procs.length > 1 ? `${what}:${p.name}` : what).padEnd(22);
      if (a.cpu) {
        // /proc/PID/stat: minflt (10), utime (14) and stime (15), the last two in clock ticks of 10 ms.
        const stat = (pid: number): number[] => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return [Number(f[11]), Number(f[12]), Number(f[7])]; };
        const t0 = procs.map((p) => stat(p.child.pid!));
        await load(url, REQUESTS, status);
        const d = procs.map((p, i) => stat(p.child.pid!).map((v, k) => v - t0[i]![k]!));
        const us = d.map(([u, s]) => ((u! + s!) * 1e6) / 100 / REQUESTS);
        await stopAll();
        procs.forEach((p, i) => console.log(`${label(p)} ${us[i]!.toFixed(1)} CPU µs/request (user ${(d[i]![0]! * 1e4 / REQUESTS).toFixed(1)} + system ${(d[i]![1]! * 1e4 / REQUESTS).toFixed(1)}), ${(d[i]![2]! / REQUESTS).toFixed(3)} page faults/request  ${a.bin ?? 'bin/portcullis'}`));
        if (procs.length > 1) console.log(`${what.padEnd(22)} ${us.reduce((x, y) => x + y, 0).toFixed(1)} CPU µs/request, nginx + ${inner}`);
        continue;
      }
      if (a.strace) {
        const tracers = procs.map((p) => {
          const tids = readdirSync(`/proc/${p.child.pid}/task`);
          const tracer = spawn('strace', ['-c', '-o', p.file, ...tids.flatMap((t) => ['-p', t])], { stdio: 'ignore' });
          return { tracer, exit: new Promise((r) => tracer.on('exit', r)) };
        });
        await sleep(1_000); // attached
        await load(url, REQUESTS, status);
        for (const t of tracers) t.tracer.kill('SIGINT');
        await Promise.all(tracers.map((t) => t.exit));
        await stopAll();
        const calls = procs.map((p) => {
          const total = /^-+.*\n\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)(?:\s+\d+)?\s+total/m.exec(readFileSync(p.file, 'utf8'));
          return total ? Number(total[1]) / REQUESTS : NaN;
        });
        procs.forEach((p, i) => console.log(`${label(p)} ${calls[i]!.toFixed(2)} system calls/request  ${p.file}`));
        if (procs.length > 1) console.log(`${what.padEnd(22)} ${calls.reduce((x, y) => x + y, 0).toFixed(2)} system calls/request, nginx + ${inner}`);
        continue;
      }
      for (const p of procs) control(p.child.pid!, '-i', 'on');
      await load(url, REQUESTS, status);
      for (const p of procs) control(p.child.pid!, '-i', 'off');
      await stopAll();
      const per = (n: number): string => Math.round(n / REQUESTS).toLocaleString('en-US').padStart(9);
      const sums = procs.map((p) => {
        // One file per thread (FILE-01 is the main thread, where the JavaScript runs); the others are
        // V8's compiler and GC helpers and libuv's workers, whose share moves from run to run.
        const files = readdirSync(dirname(p.file)).filter((f) => f.startsWith(`${basename(p.file)}-`)).sort();
        const ir = files.map((f) => Number(/^totals:\s*(\d+)/m.exec(readFileSync(join(dirname(p.file), f), 'utf8'))?.[1] ?? 0));
        if (ir.length === 0) throw new Error(`${p.file}: no output\n${p.err()}`);
        // The garbage collections that fell in the window (inclusive), apart: a major one or not moves the total.
        const annotated = spawnSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', join(dirname(p.file), files[0]!)], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
        const inclusive = (fn: string): number => Number(new RegExp(`^\\s*([\\d,]+)\\s+\\([^)]*\\)\\s+\\?\\?\\?:${fn}\\(`, 'm').exec(annotated)?.[1]?.replace(/,/g, '') ?? 0);
        const gc = inclusive('v8::internal::Heap::CollectGarbage');
        // TurboFan compiling on the main thread (--no-concurrent-recompilation): still 14–18 % of the
        // window after 30,000 warm-up requests, and how much falls in it moves the total by ±3 %
        // from run to run. Natively it runs on a helper thread once, so it is left out like GC.
        const compile = inclusive('v8::internal::Runtime_CompileOptimized') + inclusive('v8::internal::baseline::BaselineBatchCompiler::CompileBatch');
        const all = ir.reduce((x, y) => x + y, 0);
        const main = ir[0]! - gc - compile;
        console.log(`${label(p)} ${per(main)} Ir/request on the main thread without GC and compiling (GC ${per(gc).trim()}, compiling ${per(compile).trim()}), ${per(all)} on all threads  ${p.file}-01`);
        if (Number(a.js) > 0 && p.child.pid) jsFunctions(join(dirname(p.file), files[0]!), p.child.pid, Number(a.js));
        return { main, all };
      });
      if (procs.length > 1) {
        console.log(`${what.padEnd(22)} ${per(sums.reduce((x, y) => x + y.main, 0))} Ir/request, nginx + ${inner}'s main thread without GC and compiling, ${per(sums.reduce((x, y) => x + y.all, 0))} on all threads`);
      }
    }
  }
} finally {
  await stop(upstream, 3_000);
  await issuer.stop();
}
