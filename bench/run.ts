// Portcullis benchmark. Default mode: one run comparing an authenticated GET through
//   bare-http-proxy, bare-http-proxy-3   bare node:http hops (the floor)
//   nginx                                 nginx proxy_pass
//   apache-oidc-cookie, apache-oidc-shm   Apache + mod_auth_openidc, two session modes
//   express-openid-connect                Express + express-openid-connect + http-proxy-middleware
//   portcullis, portcullis-no-log         the real proxy, request log on / off
//   portcullis-workers-2                  the real proxy with OAUTH2_PROXY_WORKERS=2
//   portcullis-log-file, -slow-reader    the request log to a file, and to a slow reader of a FIFO
//   portcullis-redis                      Redis sessions
//   auth-zero, portcullis-auth            GET /oauth2/auth: a zero-work 202 server and Portcullis
//   nginx-auth-zero, nginx-auth-portcullis nginx auth_request to each of those two
//   nginx-auth-floor                      the same nginx with auth_request to the auth-floor server
//   auth-zero-unseal, -session, -log, auth-floor, bare-http-proxy-log  the floors: zero-work servers doing
//                                         only the work Portcullis must do (bench/zero-auth.ts, bare-hop.ts)
//   portcullis-baseline, …-no-log-baseline another build (--baseline-bin), to measure a change
// all in front of one upstream process, rounds interleaved, load from wrk (-t1) in its own process.
// Extra modes: --session-size, --sessions, --soak, --download, --startup; --smoke for CI. See bench/README.md.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN, REPO } from '../test/support/proxy.js';
import { compare, fmtInt, type Comparison } from './compare.js';
import { WRK, pickGenerator, type Generator } from './load.js';
import { killAllNow, stopAll } from './procs.js';
import { RESULTS, commandLine, machine, runDate, versions, writeResults } from './facts.js';
import { publishComparison, terminalReport, type RunInfo } from './report.js';
import { startStack, type Stack } from './stack.js';
import { BASELINE_TARGETS, FORWARD_AUTH_TARGETS, TARGET_NAMES, type TargetName } from './targets.js';
import { benchAccount } from './account.js';
import { runExtras, type ExtraParams } from './extras.js';

const SMOKE_TARGETS: readonly TargetName[] = ['bare-http-proxy', 'bare-http-proxy-3', 'bare-node-http', 'portcullis', 'portcullis-no-log', 'portcullis-workers-2'];

class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------
// Parameters

export interface Params extends ExtraParams {
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  targets: TargetName[];
  smoke: boolean;
  /** Bytes of the Portcullis session cookie to aim at (--session-size), or 0 for the dev issuer's default account. */
  sessionSize: number;
  docs: boolean;
  generator: Generator;
  profile: boolean;
  bin: string;
  baselineBin?: string;
  out?: string;
}

const USAGE = `usage: node dist/bench/run.js [options]
  comparison (default):
    --rounds N          rounds per target (default 3, at most 10)
    --duration S        seconds per round (default 5, at most 30)
    --warmup S          warm-up seconds per target, not recorded (default 2, at most 10)
    --connections N     concurrent connections (default 32, at most 512)
    --targets A,B,...   a subset of: ${TARGET_NAMES.join(', ')}
    --session-size 10k  a session of about that many bytes (dev issuer account with many groups)
    --smoke             1 round × 1 s, no warm-up, the Node targets only; for CI (fails on any error)
  extra modes (instead of the comparison; may be combined):
    --sessions N        N distinct sessions through Portcullis, RSS before and after (at most 200000)
    --soak S            S seconds of steady load on Portcullis, RSS start and end (at most 600)
    --download SIZE     a SIZE body (e.g. 100M, at most 2G) through Portcullis and the bare hop, RSS sampled
    --startup N         N cold starts of Portcullis, spawn to /ready 200 (at most 20)
  any mode:
    --no-docs           do not write docs/benchmarks.md
    --autocannon        use autocannon even when wrk is installed
    --profile           --cpu-prof for the Node targets (bench/results/profiles/)
    --bin PATH          the Portcullis entry point (default bin/portcullis)
    --baseline-bin PATH another build's entry point: adds portcullis-baseline and portcullis-no-log-baseline,
                        measured in the same interleaved rounds (before/after a change)
    --out FILE          JSON results (default bench/results/MODE-latest.json, plus a dated copy)
    --render FILE       write the docs section and chart of a comparison's JSON results again, without measuring
    --render-as ID      with --render: into a section and chart of their own (bench:comparison-ID, benchmarks-ID.svg),
                        e.g. a --baseline-bin run of a subset of the targets beside the full comparison
`;

function size(raw: string, name: string, max: number): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(raw);
  if (!m) throw new UsageError(`--${name} must be a size like 10k or 100M (got ${JSON.stringify(raw)})`);
  const n = Math.round(Number(m[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()] ?? 1));
  if (n < 1 || n > max) throw new UsageError(`--${name} must be from 1 to ${max} bytes (got ${raw})`);
  return n;
}

function parseParams(argv: string[]): Params {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, connections: { type: 'string' },
      targets: { type: 'string' }, 'session-size': { type: 'string' }, smoke: { type: 'boolean', default: false },
      sessions: { type: 'string' }, soak: { type: 'string' }, download: { type: 'string' }, startup: { type: 'string' },
      'no-docs': { type: 'boolean', default: false }, autocannon: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false }, bin: { type: 'string', default: BIN }, out: { type: 'string' },
      'baseline-bin': { type: 'string' },
      render: { type: 'string' }, 'render-as': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) { process.stdout.write(USAGE); process.exit(0); }
  if (values.render) { process.stdout.write(`${renderResults(values.render, values['render-as'])}\n`); process.exit(0); }
  const int = (name: string, raw: string | undefined, dflt: number, min: number, max: number): number => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
    return n;
  };
  const smoke = values.smoke;
  const baselineBin = values['baseline-bin'] === undefined ? undefined : resolve(values['baseline-bin']);
  if (baselineBin && !existsSync(baselineBin)) throw new UsageError(`--baseline-bin: no file at ${baselineBin}`);
  const defaults = (smoke ? SMOKE_TARGETS : TARGET_NAMES).filter((t) => baselineBin || !BASELINE_TARGETS.includes(t));
  const targets = values.targets === undefined ? [...defaults, ...(smoke && baselineBin ? BASELINE_TARGETS : [])] : values.targets.split(',').map((s) => s.trim());
  for (const t of targets) if (!(TARGET_NAMES as readonly string[]).includes(t)) throw new UsageError(`unknown target ${t}; targets: ${TARGET_NAMES.join(', ')}`);
  if (!baselineBin && targets.some((t) => BASELINE_TARGETS.includes(t as TargetName))) throw new UsageError('the baseline targets need --baseline-bin PATH (another build\'s bin/portcullis)');
  return {
    rounds: int('rounds', values.rounds, smoke ? 1 : 3, 1, 10),
    duration: int('duration', values.duration, smoke ? 1 : 5, 1, 30),
    warmup: int('warmup', values.warmup, smoke ? 0 : 2, 0, 10),
    connections: int('connections', values.connections, 32, 1, 512),
    targets: targets as TargetName[],
    smoke,
    sessionSize: values['session-size'] === undefined ? 0 : size(values['session-size'], 'session-size', 64 * 1024),
    sessions: int('sessions', values.sessions, 0, 1, 200_000),
    soak: int('soak', values.soak, 0, 1, 600),
    download: values.download === undefined ? 0 : size(values.download, 'download', 2 * 1024 ** 3),
    startup: int('startup', values.startup, 0, 1, 20),
    docs: !values['no-docs'] && !smoke && !baselineBin,
    generator: values.autocannon ? 'autocannon' : pickGenerator(),
    profile: values.profile,
    bin: resolve(values.bin),
    baselineBin,
    out: values.out,
  };
}

// ---------------------------------------------------------------------------------------------
// The comparison

/** --render: the docs section and chart of saved comparison results (after a change to the report's format). */
function renderResults(file: string, as?: string): string {
  const j = JSON.parse(readFileSync(file, 'utf8')) as { mode: string; info: RunInfo; comparison: Comparison };
  if (!j.comparison || !j.info) throw new UsageError(`${file} holds no comparison results of this version`);
  if (as !== undefined && !/^[a-z0-9-]{1,40}$/.test(as)) throw new UsageError(`--render-as must be lowercase letters, digits and dashes (got ${JSON.stringify(as)})`);
  if (as) return publishComparison(j.comparison, j.info, `comparison-${as}`, as, `Results: ${as}`);
  return publishComparison(j.comparison, j.info, j.mode, j.mode.replace(/^comparison-?/, ''));
}

function estimateSeconds(p: Params): number {
  if (p.sessions || p.soak || p.download || p.startup) {
    return 30 + (p.sessions ? 60 + p.sessions * 0.0015 : 0) + (p.soak ? p.soak + 15 : 0) + (p.download ? 30 + (p.download / 1024 ** 2) * 0.1 : 0) + p.startup * 3;
  }
  const n = p.targets.length;
  // Forward-auth targets get up to three 5 s passes at a steady 1,000 req/s too (compare.ts).
  const steady = p.targets.filter((t) => FORWARD_AUTH_TARGETS.includes(t) || t.startsWith('nginx-auth')).length * Math.min(p.rounds, 3) * 6;
  return 10 + n * 3 + n * (p.warmup + p.rounds * p.duration) + n * (p.rounds + 1) * 0.5 + steady;
}

async function runComparison(p: Params, log: (l: string) => void, started: number): Promise<number> {
  const sessionId = p.sessionSize ? `session-${Math.round(p.sessionSize / 1024)}k` : '';
  const mode = p.smoke ? 'smoke' : sessionId ? `comparison-${sessionId}` : 'comparison';
  let stack: Stack | undefined;
  try {
    stack = await startStack({
      names: p.targets, bin: p.bin, baselineBin: p.baselineBin, cookieSecret: randomBytes(32).toString('base64url'), cwd: RESULTS, log,
      ...(p.sessionSize ? { account: benchAccount(p.sessionSize), claimsInIdToken: true, largeSessions: true } : {}),
      // Not the workers target: its three processes would write one file name over each other.
      nodeArgs: (name) => (p.profile && name !== 'portcullis-workers-2' ? ['--cpu-prof', `--cpu-prof-dir=${join(RESULTS, 'profiles')}`, `--cpu-prof-name=${name}.cpuprofile`] : []),
    });
    const c: Comparison = await compare(stack, p, log);
    let failed = c.excluded.filter((e) => e.status === 'failed').length;
    // The request log really was written (and drained) where it should be on, and not where it is off.
    for (const s of c.summaries) {
      if (s.logLines === undefined) continue;
      if (s.name === 'portcullis-no-log' || s.name === 'portcullis-no-log-baseline' ? s.logLines > 20 : s.logLines < s.requestsSent * 0.99) {
        log(`FAILED ${s.name}: ${s.logLines} request-log lines for ${s.requestsSent} requests`); failed++;
      }
    }
    if (p.smoke && c.excluded.length) failed = Math.max(failed, 1);
    const runtimeS = (performance.now() - started) / 1000;
    process.stdout.write(terminalReport(c));
    if (c.otherCores > 0.1) log(`warning: other processes used ${c.otherCores.toFixed(2)} cores (median of rounds) while this measured: req/s and latency are unreliable, CPU µs/req less so`);

    const info: RunInfo = {
      date: runDate(),
      command: commandLine(),
      machine: machine(),
      versions: versions(),
      chartNote: `${os.availableParallelism()} CPUs, ${p.generator === 'wrk' ? 'wrk' : 'autocannon'} -c${p.connections}, medians of ${p.rounds} × ${p.duration} s rounds`,
      parameters: `${p.rounds} rounds × ${p.duration} s per target, ${p.warmup} s warm-up, ${p.connections} connections, `
        + `load from ${p.generator === 'wrk' ? 'wrk -t1' : `autocannon (${existsSync(WRK) ? '--autocannon' : 'fallback: wrk is not installed'})`}`
        + (p.sessionSize ? `, session size aim ${fmtInt(p.sessionSize)} bytes (${benchAccount(p.sessionSize).groups!.length} groups, claims in the ID token)` : ''),
      busy: `other processes used ${c.otherCores.toFixed(2)} cores (median over rounds; ${c.otherCores > 0.1 ? 'the machine was busy: req/s and latency are noisy, CPU µs/req less so' : 'idle enough'}); load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
      runtimeS,
    };
    const file = writeResults(mode, p.out, { mode, info, parameters: { ...p, bin: relative(REPO, p.bin), baselineBin: p.baselineBin && relative(REPO, p.baselineBin) }, comparison: c });
    log(`results: ${relative(process.cwd(), file)}`);
    if (p.docs && c.summaries.length) log(publishComparison(c, info, mode, sessionId));
    if (p.profile) {
      await stopAll(15_000); // a Node target writes its --cpu-prof file as it exits
      log('CPU profiles (per-request figures with the number of requests each target was sent):');
      for (const s of c.summaries.filter((x) => !['nginx', 'apache-oidc-cookie', 'apache-oidc-shm', 'portcullis-workers-2'].includes(x.name))) {
        log(`  node dist/bench/profile.js --requests ${s.requestsSent} ${relative(REPO, join(RESULTS, 'profiles', `${s.name}.cpuprofile`))}`);
      }
    }
    log(`total runtime ${runtimeS.toFixed(1)} s; ${failed ? `${failed} failure(s)` : 'no failures'}`);
    return failed ? 1 : 0;
  } finally {
    await stopAll(p.profile ? 15_000 : 5_000);
    await stack?.close();
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * With --session-size the login's Set-Cookie headers (Apache's cookie session holds every claim)
 * outgrow Node's 16 KB header limit of this process's HTTP client: run again with a larger one.
 */
function rerunWithLargeHeaders(p: Params): Promise<number> | undefined {
  if (!p.sessionSize || http.maxHeaderSize >= 262144) return undefined;
  const child = spawn(process.execPath, ['--max-http-header-size=262144', ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.removeAllListeners('SIGINT');
  process.once('SIGINT', () => child.kill('SIGINT'));
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

async function main(): Promise<number> {
  const started = performance.now();
  const p = parseParams(process.argv.slice(2));
  const rerun = rerunWithLargeHeaders(p);
  if (rerun) return rerun;
  const log = (line: string): void => { process.stdout.write(`${line}\n`); };
  mkdirSync(join(REPO, 'docs'), { recursive: true });
  if (p.profile) mkdirSync(join(RESULTS, 'profiles'), { recursive: true });
  const estimate = Math.ceil(estimateSeconds(p));
  const cap = Math.ceil(estimate * 1.5 + 60);
  const extras = p.sessions || p.soak || p.download || p.startup;
  const fallback = existsSync(WRK) ? 'asked for with --autocannon' : `FALLBACK: ${WRK} is not installed; bash bench/setup.sh installs it`;
  log(`portcullis bench: ${machine()}; load generator ${p.generator === 'wrk' ? 'wrk -t1' : `autocannon in its own process (${fallback})`}`);
  log(extras
    ? `modes: ${[p.startup && `--startup ${p.startup}`, p.sessions && `--sessions ${p.sessions}`, p.soak && `--soak ${p.soak}`, p.download && `--download ${p.download} bytes`].filter(Boolean).join(', ')}`
    : `${p.smoke ? 'SMOKE: ' : ''}${p.targets.length} targets × (${p.warmup} s warm-up + ${p.rounds} rounds × ${p.duration} s), ${p.connections} connections`);
  log(`expected runtime ≈ ${estimate} s; the watchdog kills everything at ${cap} s`);
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: exceeded its ${cap} s cap; killing everything\n`);
    killAllNow();
    process.exit(1);
  }, cap * 1000);
  watchdog.unref();
  try {
    if (extras) return await runExtras(p, log);
    return await runComparison(p, log, started);
  } finally {
    clearTimeout(watchdog);
  }
}

process.once('SIGINT', () => { killAllNow(); process.exit(130); });
process.once('SIGTERM', () => { killAllNow(); process.exit(143); });
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof UsageError ? `${err.message}\n${USAGE}` : (err as Error)?.stack ?? String(err)}\n`);
    killAllNow();
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);

