// Load, soak and shutdown of Portcullis, pass or fail (issue 7), on loopback, bounded in count and time:
//   load      N authenticated requests (10,000) at C connections (256) with wrk: every answer a 2xx,
//             no socket error
//   soak      a warm-up (15 s), then S seconds (60) of the same load, RSS every second: the end no more
//             than 10 % above the warm-up's highest, no error
//   shutdown  requests held at the upstream for 2 s and wrk load running when the proxy gets SIGTERM
//             with its stdout pipe closed at that same moment: every held request completes (200,
//             whole body) and the process exits 0 within its drain time
// Each runs against `bin/portcullis` as users start it (request log on, stdout piped to this
// process), logged in once through the dev issuer; the stack is bench/stack.ts's.
// `--quick` (2,000 requests, the same 15 s warm-up, 5 s soak; about 30 s) is the CI-sized run. Exit status 1 on any failure.
// Writes its section of docs/benchmarks.md unless --quick or --no-docs.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BIN } from '../test/support/proxy.js';
import { fmtInt } from './compare.js';
import { DOC, RESULTS, machine, runDate, versions, writeResults } from './facts.js';
import { WRK, loadProblem, runLoad, type LoadResult } from './load.js';
import { killAllNow, stopAll, treeMemory } from './procs.js';
import { writeDocSection } from './report.js';
import { startStack, type Stack } from './stack.js';
import { requestHeaders, type Target } from './targets.js';

/** bin/portcullis's drain on SIGTERM (cli.ts): 10 s for requests in flight, then 1 s for the log. */
const DRAIN_S = 11;
const HELD_MS = 2000;
const HELD_REQUESTS = 32;
const RSS_GROWTH_LIMIT = 0.10;

interface Params { requests: number; connections: number; warmup: number; soak: number; quick: boolean; docs: boolean; bin: string }

function parseParams(argv: string[]): Params {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false }, requests: { type: 'string' }, connections: { type: 'string' },
      warmup: { type: 'string' }, soak: { type: 'string' }, 'no-docs': { type: 'boolean', default: false },
      bin: { type: 'string', default: BIN }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: node dist/bench/soak.js [--quick] [--requests N] [--connections N] [--warmup S] [--soak S] [--no-docs] [--bin PATH]
  defaults: 10000 requests, 256 connections, 15 s warm-up, 60 s soak; --quick: 2000 requests, 5 s soak, no docs
`);
    process.exit(0);
  }
  const int = (name: string, raw: string | undefined, dflt: number, min: number, max: number): number => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
    return n;
  };
  const quick = values.quick;
  return {
    quick,
    requests: int('requests', values.requests, quick ? 2000 : 10_000, 100, 1_000_000),
    connections: int('connections', values.connections, 256, 1, 1024),
    warmup: int('warmup', values.warmup, 15, 1, 60),
    soak: int('soak', values.soak, quick ? 5 : 60, 1, 600),
    docs: !quick && !values['no-docs'],
    bin: resolve(values.bin),
  };
}

const f1 = (n: number): string => n.toFixed(1);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Check { name: string; ok: boolean; detail: string }

// ---------------------------------------------------------------------------------------------

async function load(t: Target, p: Params): Promise<{ r: LoadResult; check: Check }> {
  // A bound on the run, far beyond what N requests take even on a busy machine.
  const r = await runLoad('wrk', { url: `${t.url}/`, headers: requestHeaders(t), connections: p.connections, seconds: 120, maxRequests: p.requests });
  const problem = loadProblem(r) ?? (r.requests < p.requests ? `only ${r.requests} responses in 120 s` : undefined);
  const detail = `${fmtInt(r.requests)} responses in ${r.durationS.toFixed(2)} s (${fmtInt(r.rps)} req/s), p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(0)} ms; `
    + `statuses ${Object.entries(r.statuses).map(([s, n]) => `${s}×${fmtInt(n)}`).join(' ')}, socket errors ${Object.values(r.socketErrors).reduce((a, b) => a + b, 0)}`;
  return { r, check: { name: `load: ${fmtInt(p.requests)} requests at ${p.connections} connections, all 2xx`, ok: problem === undefined, detail: problem ?? detail } };
}

interface SoakFigures { warmupRss: number[]; rss: number[]; startMB: number; endMB: number; maxMB: number; baselineMB: number; growth: number; r: LoadResult }

/**
 * RSS under load saws up and down by 10-20 % with the garbage collector (seen here: 122, 134, 149,
 * 162, 139 MB in five seconds after a short warm-up). Growth is therefore measured from the highest
 * RSS the warm-up reached (or the soak's first sample, if higher) to the soak's last: a leak ends
 * above that level, a heap still finding its size under the load does not.
 */
async function soak(t: Target, p: Params): Promise<{ f: SoakFigures; checks: Check[] }> {
  const spec = { url: `${t.url}/`, headers: requestHeaders(t), connections: p.connections };
  let samples: number[] = [];
  const sampler = setInterval(() => samples.push(treeMemory(t.child.pid).rssMB), 1000);
  const warm = await runLoad('wrk', { ...spec, seconds: p.warmup });
  const warmProblem = loadProblem(warm);
  const warmupRss = samples;
  samples = [treeMemory(t.child.pid).rssMB];
  const r = await runLoad('wrk', { ...spec, seconds: p.soak });
  clearInterval(sampler);
  const rss = [...samples, treeMemory(t.child.pid).rssMB];
  const baseline = Math.max(rss[0]!, ...warmupRss);
  const f: SoakFigures = { warmupRss, rss, startMB: rss[0]!, endMB: rss.at(-1)!, maxMB: Math.max(...rss), baselineMB: baseline, growth: rss.at(-1)! / baseline - 1, r };
  const problem = loadProblem(r);
  return {
    f,
    checks: [
      { name: `soak: ${p.warmup} s warm-up and ${p.soak} s of load, all 2xx`, ok: !warmProblem && !problem, detail: warmProblem ? `warm-up: ${warmProblem}` : problem ?? `${fmtInt(r.requests)} responses, ${fmtInt(r.rps)} req/s, p99 ${r.p99Ms.toFixed(1)} ms` },
      {
        name: `soak: RSS growth after the warm-up under ${RSS_GROWTH_LIMIT * 100} %`, ok: f.growth < RSS_GROWTH_LIMIT,
        detail: `${f1(f.startMB)} MB at the start, ${f1(f.endMB)} MB at the end, ${f1(f.maxMB)} MB at most; ${(f.growth * 100).toFixed(1)} % over the warm-up's highest (${f1(f.baselineMB)} MB)`,
      },
    ],
  };
}

/** One request held at the upstream for HELD_MS, through the proxy; resolves with its status and whether the body is whole. */
function held(t: Target, body: string): Promise<{ status: number; whole: boolean; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get(`${t.url}/__slow?ms=${HELD_MS}`, { agent: false, headers: requestHeaders(t), timeout: 30_000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, whole: text === body }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, whole: false, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, whole: false, error: e.message }));
  });
}

interface ShutdownFigures { exitCode: number | null; exitS: number; completed: number; statuses: Record<string, number>; load: LoadResult }

async function shutdown(stack: Stack, t: Target): Promise<{ f: ShutdownFigures; checks: Check[] }> {
  const inFlight = Array.from({ length: HELD_REQUESTS }, () => held(t, stack.upstreamBody));
  // wrk runs on throughout: the signal comes while the proxy serves at full speed.
  const loadRun = runLoad('wrk', { url: `${t.url}/`, headers: requestHeaders(t), connections: 64, seconds: 4 });
  await sleep(500);
  // As a supervisor that goes away does: the read end of the log pipe closes, then the signal comes.
  const signalled = performance.now();
  t.child.proc.stdout!.destroy();
  t.child.proc.kill('SIGTERM');
  const killer = setTimeout(() => t.child.proc.kill('SIGKILL'), 30_000);
  const exitCode = await t.child.exit;
  clearTimeout(killer);
  const exitS = (performance.now() - signalled) / 1000;
  const answers = await Promise.all(inFlight);
  const l = await loadRun;
  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
  const completed = answers.filter((a) => a.status === 200 && a.whole).length;
  const f: ShutdownFigures = { exitCode, exitS, completed, statuses, load: l };
  return {
    f,
    checks: [
      { name: `shutdown: the ${HELD_REQUESTS} requests in flight complete`, ok: completed === HELD_REQUESTS, detail: `${completed} of ${HELD_REQUESTS} whole 200s (statuses ${JSON.stringify(statuses)}${answers.find((a) => a.error) ? `; first error: ${answers.find((a) => a.error)!.error}` : ''})` },
      { name: `shutdown: exit 0 within the drain time (${DRAIN_S} s), stdout closed`, ok: exitCode === 0 && exitS < DRAIN_S, detail: `exit ${exitCode} after ${exitS.toFixed(2)} s` },
      // Refused and cut connections are expected once the listener closes; an answer must still be a 2xx.
      { name: 'shutdown: every answer the load got was a 2xx', ok: l.non2xx === 0, detail: `${fmtInt(l.requests)} answers (${Object.entries(l.statuses).map(([s, n]) => `${s}×${n}`).join(' ') || 'none'}), socket errors ${JSON.stringify(l.socketErrors)}` },
    ],
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const p = parseParams(process.argv.slice(2));
  const command = ['node dist/bench/soak.js', ...process.argv.slice(2)].join(' ');
  const log = (line: string): void => { process.stdout.write(`${line}\n`); };
  if (!existsSync(WRK)) {
    log(`soak: ${WRK} is not installed (bash bench/setup.sh --smoke installs it)`);
    return 1;
  }
  const estimate = 10 + p.requests / 1000 + p.warmup + p.soak + 5;
  const cap = Math.ceil(estimate * 2 + 60);
  log(`portcullis soak: ${machine()}; ${p.quick ? 'QUICK: ' : ''}${fmtInt(p.requests)} requests, ${p.warmup} s warm-up + ${p.soak} s soak at ${p.connections} connections, then SIGTERM under load`);
  log(`expected runtime ≈ ${Math.ceil(estimate)} s; the watchdog kills everything at ${cap} s`);
  const watchdog = setTimeout(() => { process.stderr.write(`soak: exceeded its ${cap} s cap; killing everything\n`); killAllNow(); process.exit(1); }, cap * 1000);
  watchdog.unref();

  const started = performance.now();
  const loadAtStart = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  let stack: Stack | undefined;
  const checks: Check[] = [];
  try {
    stack = await startStack({ names: ['portcullis'], bin: p.bin, cookieSecret: randomBytes(32).toString('base64url'), cwd: RESULTS, log });
    const t = stack.targets.find((x) => x.name === 'portcullis');
    if (!t) throw new Error(`Portcullis did not start: ${stack.excluded.map((e) => e.reason).join('; ')}`);
    const report = (c: Check): void => { checks.push(c); log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`); };

    const rss0 = treeMemory(t.child.pid).rssMB;
    const l = await load(t, p);
    report(l.check);
    const s = await soak(t, p);
    s.checks.forEach(report);
    const logLines = t.child.stdoutLines();
    const d = await shutdown(stack, t);
    d.checks.forEach(report);

    const failed = checks.filter((c) => !c.ok).length;
    const runtimeS = (performance.now() - started) / 1000;
    const file = writeResults(p.quick ? 'soak-quick' : 'soak', undefined, {
      date: runDate(), command, machine: machine(), versions: versions(), parameters: p,
      load: l.r, soak: { ...s.f, rss: s.f.rss.map((x) => Number(x.toFixed(1))), warmupRss: s.f.warmupRss.map((x) => Number(x.toFixed(1))) }, shutdown: d.f, checks, rssAfterLoginMB: rss0, logLines, runtimeS,
    });
    log(`results: ${file}`);
    if (p.docs) {
      const every10 = s.f.rss.filter((_, i) => i % 10 === 0).map(f1).join(' ');
      writeDocSection(DOC, 'soak-checks', 'Load, soak and shutdown (pass or fail)', [
        `Run of ${runDate()}: \`${command}\` on ${machine()}; ${versions().split(', ')[0]}. `
        + `Portcullis as users start it (request log on, its stdout piped to the benchmark and drained), one session from a real login, `
        + `in front of the benchmark's fixed-body upstream; load from \`wrk -t1\`; load average ${loadAtStart} at the start (two cores shared with other work). `
        + `${failed ? `**${failed} check(s) failed.**` : 'Every check passed.'}`,
        '',
        '| check | result | figures |', '|---|---|---|',
        ...checks.map((c) => `| ${c.name} | ${c.ok ? 'pass' : '**FAIL**'} | ${c.detail.replace(/\|/g, '\\|')} |`),
        '',
        `RSS: ${f1(rss0)} MB after the login; at most ${f1(Math.max(...s.f.warmupRss))} MB during the ${p.warmup} s warm-up; during the soak (every 10 s) ${every10} MB. `
        + 'RSS saws up and down with the garbage collector, so growth is measured from the warm-up\'s highest to the soak\'s last sample. '
        + `The proxy wrote ${fmtInt(logLines)} log lines to its pipe before the shutdown. `
        + `At the shutdown, ${HELD_REQUESTS} requests were held ${HELD_MS / 1000} s at the upstream and wrk ran 64 connections; 0.5 s later the benchmark closed its end of the `
        + 'proxy\'s stdout and sent SIGTERM. The listener then takes no new connections, answers on open ones with `Connection: close` and closes each once '
        + 'its answer is out, and the process exits once the held requests are answered (wrk, retrying on closed sockets, counts read and write errors). '
        + 'The load run starts cold (256 connections opened at once right after the login), hence its p99.',
        '',
        'The CI-sized run: `node dist/bench/soak.js --quick` (2,000 requests, the same 15 s warm-up, a 5 s soak, the same checks and shutdown; about 30 s; writes no docs). '
        + 'A shorter warm-up makes the RSS check flaky: at 256 connections the heap was still finding its size 5-10 s in (15-20 % above the warm-up\'s highest in two of three 5 s warm-ups).',
      ].join('\n'));
      log('wrote its section of docs/benchmarks.md');
    }
    log(`total runtime ${runtimeS.toFixed(1)} s; ${failed ? `${failed} failure(s)` : 'all checks passed'}`);
    return failed ? 1 : 0;
  } finally {
    clearTimeout(watchdog);
    await stopAll(5_000);
    await stack?.close();
  }
}

process.once('SIGINT', () => { killAllNow(); process.exit(130); });
process.once('SIGTERM', () => { killAllNow(); process.exit(143); });
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak failed: ${(err as Error)?.stack ?? String(err)}\n`);
    killAllNow();
    process.exit(1);
  },
);
