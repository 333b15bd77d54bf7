// Portcullis benchmark: requests/s and latency of an authenticated GET through
//   bare-http-proxy    a bare node:http + http-proxy 1.18.1 hop
//   bare-http-proxy-3  the same hop with http-proxy-3 (what Portcullis uses)
//   portcullis         the real proxy (bin/portcullis, configured by environment), with a session
//                      cookie from a real login against the dev issuer
// all in front of the same upstream process, in one run, rounds alternating between targets.
// Usage: npm run bench -- [--rounds 3] [--duration 5] [--warmup 2] [--connections 32]
//                         [--request-logging true|false] [--profile] [--out FILE] [--bin PATH]
// See bench/README.md.
import autocannon, { type Result } from 'autocannon';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDevIssuer, type DevIssuer } from '../src/devissuer/issuer.js';
import { HttpBrowser } from '../test/support/browser.js';
import { BIN, REPO, freePort } from '../test/support/proxy.js';
import { cpuSeconds, killAllNow, machineBusySeconds, memoryMB, readPort, spawnNode, stop, stopAll, type Child } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
const RESULTS = join(REPO, 'bench', 'results');
const SESSION_COOKIE = '_oauth2_proxy';
const LIMITS = { rounds: 10, duration: 30, warmup: 10, connections: 1024 };

class BenchError extends Error {}

// ---------------------------------------------------------------------------------------------
// Parameters

interface Params {
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  pipelining: 1;
  requestLogging: boolean;
  profile: boolean;
  out: string;
  /** The Portcullis entry point to run (default bin/portcullis of this checkout). */
  bin: string;
}

function parseParams(argv: string[]): Params {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '32' },
      'request-logging': { type: 'string', default: 'true' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string', default: join(RESULTS, 'latest.json') },
      bin: { type: 'string', default: BIN },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node dist/bench/run.js [--rounds N<=10] [--duration S<=30] [--warmup S<=10] '
      + '[--connections N] [--request-logging true|false] [--profile] [--out FILE] [--bin PATH]\n');
    process.exit(0);
  }
  const int = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new BenchError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
    return n;
  };
  const logging = values['request-logging'];
  if (logging !== 'true' && logging !== 'false') throw new BenchError(`--request-logging must be true or false (got ${JSON.stringify(logging)})`);
  return {
    rounds: int('rounds', values.rounds, 1, LIMITS.rounds),
    duration: int('duration', values.duration, 1, LIMITS.duration),
    warmup: int('warmup', values.warmup, 0, LIMITS.warmup),
    connections: int('connections', values.connections, 1, LIMITS.connections),
    pipelining: 1,
    requestLogging: logging === 'true',
    profile: values.profile,
    out: values.out,
    bin: values.bin,
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function nodeArgs(params: Params, name: string, stamp: string): string[] {
  if (!params.profile) return [];
  return ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS, 'profiles')}`, `--cpu-prof-name=${stamp}-${name}.cpuprofile`];
}

// ---------------------------------------------------------------------------------------------
// Load

interface Round {
  round: number;
  rps: number;          // autocannon's mean of per-second samples
  rpsTotal: number;     // completed requests / duration
  p50: number;          // ms, from every response's own time (autocannon's histogram keeps whole ms)
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** CPU time of the target process per completed request, µs (from /proc/PID/stat; 10 ms ticks). */
  cpuUsPerReq: number;
  /** The same for the upstream process and for this process (autocannon, the idle dev issuer). */
  upstreamCpuUsPerReq: number;
  loadGenCpuUsPerReq: number;
  /** Cores' worth of CPU used by processes that are not part of the benchmark during the round. */
  otherCores: number;
  autocannon: { latencyP50: number; latencyP99: number; latencyMean: number; requestsMean: number };
}

interface Target {
  readonly name: 'bare-http-proxy' | 'bare-http-proxy-3' | 'portcullis';
  readonly child: Child;
  readonly url: string;
}

async function load(url: string, headers: Record<string, string>, seconds: number, connections: number): Promise<{ result: Result; latencies: Float64Array }> {
  return new Promise((resolve, reject) => {
    let lat = new Float64Array(1 << 17);
    let n = 0;
    const instance = autocannon({ url, connections, pipelining: 1, duration: seconds, headers }, (err, result) => {
      if (err) reject(err);
      else resolve({ result, latencies: lat.subarray(0, n).sort() });
    });
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
      if (n === lat.length) { const grown = new Float64Array(n * 2); grown.set(lat); lat = grown; }
      lat[n++] = ms;
    });
  });
}

function checkClean(target: string, what: string, r: Result): void {
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0) {
    const codes = Object.entries(r.statusCodeStats).map(([c, s]) => `${c}×${s.count}`).join(' ');
    throw new BenchError(`${target} ${what}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts (status codes: ${codes}); refusing to report an error path`);
  }
  if (r['2xx'] === 0) throw new BenchError(`${target} ${what}: no request completed`);
}

// ---------------------------------------------------------------------------------------------
// Set-up: processes, login, verification

async function waitReady(child: Child, url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exited()) throw new BenchError(`portcullis exited during start-up:\n${child.tail.join('\n')}`);
    try {
      const r = await get(`${url}/ready`);
      if (r.status === 200) return;
      last = `${r.status} ${r.body}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(100);
  }
  throw new BenchError(`portcullis not ready after ${timeoutMs} ms (last /ready: ${last}); stderr:\n${child.tail.join('\n')}`);
}

async function loginCookie(proxyUrl: string): Promise<string> {
  const browser = new HttpBrowser();
  const final = await browser.navigate(`${proxyUrl}/oauth2/start?rd=/`);
  if (final.status !== 200) throw new BenchError(`login ended at ${final.url} with ${final.status}: ${final.body.slice(0, 300)}`);
  const parts = [...browser.cookies('127.0.0.1')]
    .filter(([name]) => name === SESSION_COOKIE || new RegExp(`^${SESSION_COOKIE}_\\d+$`).test(name));
  if (parts.length === 0) throw new BenchError(`login finished but no ${SESSION_COOKIE} cookie was set (history: ${browser.history.join(' → ')})`);
  return parts.map(([n, v]) => `${n}=${v}`).join('; ');
}

/** Every target answers the benchmark request with the upstream's own 200 body; Portcullis authenticates it. */
async function verify(upstreamUrl: string, targets: readonly Target[], cookie: string): Promise<{ user: string }> {
  const direct = await get(`${upstreamUrl}/`);
  if (direct.status !== 200) throw new BenchError(`upstream answered ${direct.status}`);
  let user = '';
  for (const t of targets) {
    const r = await get(`${t.url}/`, { cookie });
    if (r.status !== 200 || r.body !== direct.body) {
      throw new BenchError(`${t.name}: GET / with the session cookie gave ${r.status} ${JSON.stringify(r.body.slice(0, 200))}, not the upstream's 200 body`);
    }
    const echo = await get(`${t.url}/__echo`, { cookie });
    const seen = (JSON.parse(echo.body) as { headers: Record<string, string | undefined> }).headers;
    if (echo.status !== 200 || !seen['x-forwarded-for']) throw new BenchError(`${t.name}: /__echo gave ${echo.status} without X-Forwarded-For`);
    if (t.name === 'portcullis') {
      user = seen['x-forwarded-user'] ?? '';
      if (!user) throw new BenchError(`portcullis forwarded the request without X-Forwarded-User: ${echo.body.slice(0, 500)}`);
      if ((seen.cookie ?? '').includes(`${SESSION_COOKIE}=`)) process.stdout.write(`  warning: portcullis forwarded its session cookie upstream\n`);
      const anon = await get(`${t.url}/`);
      if (anon.status !== 401) throw new BenchError(`portcullis: GET / without a cookie gave ${anon.status}, expected 401`);
    }
  }
  return { user };
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

interface Summary { rps: number; p50: number; p99: number; cpuUsPerReq: number; rssMB: number; hwmMB: number; rounds: Round[] }
interface Ratio { name: string; median: number; perRound: number[] }

function table(summaries: Record<string, Summary>): string {
  const rows = [['target', 'req/s (median)', 'p50 ms', 'p99 ms', 'CPU µs/req', 'RSS MB', 'req/s per round']];
  for (const [name, s] of Object.entries(summaries)) {
    rows.push([name, fmtInt(s.rps), fmt(s.p50), fmt(s.p99), fmt(s.cpuUsPerReq, 0), fmt(s.rssMB, 1), s.rounds.map((r) => fmtInt(r.rps)).join('  ')]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('   ').trimEnd()).join('\n');
}

function ratioLines(ratios: readonly Ratio[]): string {
  const w = Math.max(...ratios.map((r) => r.name.length));
  return ratios.map((r) => `${r.name.padEnd(w)}   ${fmt(r.median, 3)}   per round: ${r.perRound.map((x) => fmt(x, 3)).join('  ')}`).join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = performance.now();
  const params = parseParams(process.argv.slice(2));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const estimateS = 3 * (params.warmup + params.rounds * params.duration) + 15;
  const capS = estimateS + 120;
  process.stdout.write(`portcullis bench: node ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}; `
    + `${params.rounds} rounds × ${params.duration} s per target, warm-up ${params.warmup} s, ${params.connections} connections, pipelining 1, `
    + `request logging ${params.requestLogging ? 'on' : 'off'}${params.profile ? ', CPU profiles on (numbers are skewed)' : ''}`
    + `${params.bin === BIN ? '' : `, portcullis from ${params.bin}`}\n`
    + `expected runtime ≈ ${estimateS} s (hard cap ${capS} s)\n`);
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: exceeded its ${capS} s cap; killing everything\n`);
    killAllNow();
    process.exit(1);
  }, capS * 1000);
  watchdog.unref();
  if (params.profile) mkdirSync(join(RESULTS, 'profiles'), { recursive: true });

  let issuer: DevIssuer | undefined;
  try {
    // Upstream and the two bare hops, one process each.
    const upstream = spawnNode('upstream', [...nodeArgs(params, 'upstream', stamp), join(HERE, 'upstream.js')]);
    const upstreamPort = await readPort(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
    const hop = async (name: 'bare-http-proxy' | 'bare-http-proxy-3', impl: string): Promise<Target> => {
      const child = spawnNode(name, [...nodeArgs(params, name, stamp), join(HERE, 'bare-hop.js'), impl, String(upstreamPort)]);
      return { name, child, url: `http://127.0.0.1:${await readPort(child)}` };
    };
    const bare = await hop('bare-http-proxy', 'http-proxy');
    const bare3 = await hop('bare-http-proxy-3', 'http-proxy-3');

    // Portcullis as users start it, in front of the same upstream, against the dev issuer.
    const proxyPort = await freePort();
    const proxyUrl = `http://127.0.0.1:${proxyPort}`;
    const clientSecret = randomBytes(24).toString('base64url');
    issuer = await startDevIssuer({
      shape: 'hydra',
      clients: [{ client_id: 'portcullis-bench', client_secret: clientSecret, redirect_uris: [`${proxyUrl}/oauth2/callback`] }],
    });
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${proxyPort}`,
      OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer,
      OAUTH2_PROXY_CLIENT_ID: 'portcullis-bench',
      OAUTH2_PROXY_CLIENT_SECRET: clientSecret,
      OAUTH2_PROXY_COOKIE_SECRET: randomBytes(32).toString('base64url'),
      OAUTH2_PROXY_COOKIE_SECURE: 'false',
      OAUTH2_PROXY_EMAIL_DOMAINS: '*',
      OAUTH2_PROXY_UPSTREAMS: `${upstreamUrl}/`,
      OAUTH2_PROXY_REQUEST_LOGGING: String(params.requestLogging),
    };
    // stdout (the JSON log) goes to /dev/null; stderr is kept for start-up errors. The working
    // directory is bench/results so that a developer's ./.env cannot change the configuration.
    mkdirSync(RESULTS, { recursive: true });
    const pc = spawnNode('portcullis', [...nodeArgs(params, 'portcullis', stamp), params.bin], { env, cwd: RESULTS, stdout: 'ignore' });
    await waitReady(pc, proxyUrl);
    const portcullis: Target = { name: 'portcullis', child: pc, url: proxyUrl };
    const targets = [bare, bare3, portcullis] as const;

    const cookie = await loginCookie(proxyUrl);
    const { user } = await verify(upstreamUrl, targets, cookie);
    process.stdout.write(`logged in: session cookie ${cookie.length} bytes, upstream sees X-Forwarded-User: ${user}; without the cookie: 401\n`);
    // The same request (with the cookie) to every target: the bare hops just forward it.
    const headers = { cookie };

    // Every request each target served (verification, warm-up, rounds): to read CPU profiles per request.
    const served: Record<string, number> = Object.fromEntries(targets.map((t) => [t.name, t.name === 'portcullis' ? 5 : 2]));
    for (const t of targets) {
      if (params.warmup === 0) break;
      const { result } = await load(t.url, headers, params.warmup, params.connections);
      checkClean(t.name, 'warm-up', result);
      served[t.name] += result.requests.total;
      process.stdout.write(`warm-up ${t.name}: ${fmtInt(result.requests.mean)} req/s\n`);
    }

    const rounds: Record<string, Round[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
    const memory: Record<string, { rss: number; hwm: number }> = {};
    for (let i = 1; i <= params.rounds; i++) {
      for (const t of targets) {
        if (t.child.exited()) throw new BenchError(`${t.name} exited:\n${t.child.tail.join('\n')}`);
        const pids = [upstream, ...targets.map((x) => x.child)].map((c) => c.proc.pid!);
        const before = { target: cpuSeconds(t.child.proc.pid!), upstream: cpuSeconds(upstream.proc.pid!), self: process.cpuUsage(),
          children: pids.reduce((a, pid) => a + cpuSeconds(pid), 0), machine: machineBusySeconds(), at: performance.now() };
        const { result, latencies } = await load(t.url, headers, params.duration, params.connections);
        const selfCpu = process.cpuUsage(before.self);
        const selfS = (selfCpu.user + selfCpu.system) / 1e6;
        const wallS = (performance.now() - before.at) / 1000;
        const othersS = (machineBusySeconds() - before.machine) - (pids.reduce((a, pid) => a + cpuSeconds(pid), 0) - before.children) - selfS;
        checkClean(t.name, `round ${i}`, result);
        served[t.name] += result.requests.total;
        const perReq = (seconds: number): number => (seconds * 1e6) / result.requests.total;
        const round: Round = {
          round: i,
          rps: result.requests.mean,
          rpsTotal: result.requests.total / params.duration,
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          requests: result.requests.total,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          cpuUsPerReq: perReq(cpuSeconds(t.child.proc.pid!) - before.target),
          upstreamCpuUsPerReq: perReq(cpuSeconds(upstream.proc.pid!) - before.upstream),
          loadGenCpuUsPerReq: perReq(selfS),
          otherCores: Math.max(0, othersS / wallS),
          autocannon: { latencyP50: result.latency.p50, latencyP99: result.latency.p99, latencyMean: result.latency.mean, requestsMean: result.requests.mean },
        };
        rounds[t.name]!.push(round);
        if (i === params.rounds) memory[t.name] = memoryMB(t.child.proc.pid!) ?? { rss: NaN, hwm: NaN };
        process.stdout.write(`round ${i} ${t.name}: ${fmtInt(round.rps)} req/s, p50 ${fmt(round.p50)} ms, p99 ${fmt(round.p99)} ms, `
          + `${fmt(round.cpuUsPerReq, 0)} µs CPU/req (upstream ${fmt(round.upstreamCpuUsPerReq, 0)}, load generator ${fmt(round.loadGenCpuUsPerReq, 0)}), `
          + `other processes ${fmt(round.otherCores)} cores\n`);
      }
    }

    const summaries: Record<string, Summary> = {};
    for (const t of targets) {
      const rs = rounds[t.name]!;
      summaries[t.name] = {
        rps: median(rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpuUsPerReq: median(rs.map((r) => r.cpuUsPerReq)),
        rssMB: memory[t.name]!.rss,
        hwmMB: memory[t.name]!.hwm,
        rounds: rs,
      };
    }
    type Metric = 'rps' | 'cpuUsPerReq';
    const ratio = (metric: Metric, a: string, b: string): Ratio => ({
      name: `${a} / ${b}`,
      median: summaries[a]![metric] / summaries[b]![metric],
      perRound: rounds[a]!.map((r, i) => r[metric] / rounds[b]![i]![metric]),
    });
    const pairs = [['portcullis', 'bare-http-proxy-3'], ['portcullis', 'bare-http-proxy'], ['bare-http-proxy-3', 'bare-http-proxy']] as const;
    const ratios = pairs.map(([a, b]) => ratio('rps', a, b));
    // CPU cost per request, the other way round (higher = costlier); steadier than req/s on a busy machine.
    const cpuRatios = pairs.map(([a, b]) => ratio('cpuUsPerReq', a, b));
    const otherCores = median(Object.values(rounds).flat().map((r) => r.otherCores));

    const totalS = (performance.now() - started) / 1000;
    process.stdout.write(`\n${table(summaries)}\n\nreq/s ratios (higher = faster):\n${ratioLines(ratios)}\n\n`
      + `CPU µs/req ratios (higher = costlier per request):\n${ratioLines(cpuRatios)}\n\n`
      + (otherCores > 0.1 ? `warning: processes outside the benchmark used ${fmt(otherCores)} cores (median of rounds) while it measured; `
        + `req/s and latency are unreliable on a shared machine, CPU µs/req less so\n` : '')
      + `(req/s: median of rounds, each the mean of autocannon's per-second samples; p50/p99: median of rounds; `
      + `RSS after the last round; request logging ${params.requestLogging ? 'on' : 'off'})\n`);

    mkdirSync(dirname(params.out), { recursive: true });
    writeFileSync(params.out, `${JSON.stringify({
      date: new Date().toISOString(),
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpu: { model: os.cpus()[0]?.model ?? 'unknown', count: os.cpus().length },
      parameters: { ...params, out: undefined },
      user,
      targets: summaries,
      ratios,
      cpuRatios,
      otherProcessesCores: otherCores,
      loadavg: os.loadavg(),
      requestsServed: served,
      totalRuntimeSeconds: Number(totalS.toFixed(1)),
    }, null, 2)}\n`);
    process.stdout.write(`results: ${params.out}\n`);

    // Stop the targets (SIGTERM: a graceful exit, which is also when --cpu-prof writes its file).
    await Promise.all(targets.map((t) => stop(t.child, params.profile ? 15_000 : 5_000)));
    await stop(upstream, params.profile ? 15_000 : 5_000);
    if (params.profile) {
      process.stdout.write(`CPU profiles: ${join(RESULTS, 'profiles')}/${stamp}-*.cpuprofile\n`
        + targets.map((t) => `  summarize: node dist/bench/profile.js --requests ${served[t.name]} ${join(RESULTS, 'profiles')}/${stamp}-${t.name}.cpuprofile\n`).join(''));
    }
    process.stdout.write(`total runtime ${totalS.toFixed(1)} s\n`);
    return 0;
  } finally {
    await stopAll(params.profile ? 15_000 : 3_000);
    await issuer?.stop();
    clearTimeout(watchdog);
  }
}

process.once('SIGINT', () => { killAllNow(); process.exit(130); });
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof BenchError ? err.message : (err as Error)?.stack ?? String(err)}\n`);
    killAllNow();
    process.exit(1);
  },
);
