// The comparison: warm-up, then rounds interleaved across the targets (A B C … A B C), each round a
// load run of fixed length against one target while the others idle. Per round: req/s, latency,
// and the CPU each process spent per request (target tree, upstream, load generator, this process).
// A round with any non-2xx answer or socket error takes the target out of the run as failed.
import { loadProblem, runLoad, type Generator, type LoadResult } from './load.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineBusySeconds, processTree, snapshot, spawnNode, treeCpuSeconds, treeMemory, type Memory } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
import type { Excluded, Stack } from './stack.js';
import { FORWARD_AUTH_TARGETS, requestHeaders, type Target, type TargetName } from './targets.js';

export interface CompareParams {
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  generator: Generator;
}

export interface Round {
  round: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** User + system CPU per request, µs: the target's process tree, the upstream, the load generator, this process. */
  cpuUsPerReq: number;
  upstreamCpuUsPerReq: number;
  /** The target's helper processes (the auth service behind nginx, the log reader, Redis), measured apart. */
  auxCpuUsPerReq: number;
  loadGenCpuUsPerReq: number;
  benchCpuUsPerReq: number;
  /** Cores' worth of CPU that processes outside the benchmark used during the round. */
  otherCores: number;
  statuses: Record<string, number>;
}

export interface Summary {
  name: TargetName;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerReq: number;
  upstreamCpuUsPerReq: number;
  auxCpuUsPerReq: number;
  loadGenCpuUsPerReq: number;
  /** Memory of the target's process tree after its last round (hwmMB: sum of the peaks). */
  memory: Memory;
  readyMs: number;
  cookieBytes: number;
  /** Lines of the target's request log (Portcullis: stdout; Apache: access log), if it keeps one, and requests it was sent. */
  logLines: number | undefined;
  requestsSent: number;
  rounds: Round[];
  /** Latency at a steady 1,000 req/s (forward-auth targets): the median over rounds of each percentile, and the rounds. */
  steady?: { p50Ms: number; p95Ms: number; p99Ms: number; rounds: SteadyRound[] };
}

export interface SteadyRound { p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number; ok: number; failed: number }

/** The steady rate for the latency figures, and how long each pass lasts. */
export const STEADY_RATE = 1000;
const STEADY_SECONDS = 5;

/** A pass of bench/rate.ts (its own process) at STEADY_RATE against the target's load path. */
async function steadyPass(t: Target, connections: number): Promise<SteadyRound> {
  const spec = { url: `${t.url}${t.path}`, headers: requestHeaders(t), rate: STEADY_RATE, seconds: STEADY_SECONDS, connections };
  const child = spawnNode('rate', [join(HERE, 'rate.js'), JSON.stringify(spec)], { keepStdout: true });
  const killer = setTimeout(() => child.proc.kill('SIGKILL'), (STEADY_SECONDS + 20) * 1000);
  await child.exit;
  clearTimeout(killer);
  const line = /^@@RATE (.*)$/m.exec(child.stdoutText())?.[1];
  if (!line) throw new Error(`rate.js against ${t.name} printed no result:\n${child.tail.join('\n')}`);
  return JSON.parse(line) as SteadyRound;
}

export interface Ratio { a: TargetName; b: TargetName; metric: 'rps' | 'cpuUsPerReq'; median: number; perRound: number[] }

export interface Comparison { summaries: Summary[]; ratios: Ratio[]; excluded: Excluded[]; otherCores: number }

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function measure(t: Target, stack: Stack, p: CompareParams, seconds: number, round: number): Promise<{ load: LoadResult; round: Round }> {
  const pid = t.child.pid;
  const upstreamPid = stack.upstream.pid;
  // One /proc pass per snapshot; every process of the benchmark, to tell the machine's other load apart.
  const take = (): { target: number; aux: number; upstream: number; ours: number } => {
    const snap = snapshot();
    const upstream = treeCpuSeconds(upstreamPid, snap);
    const tree = (x: Target): number => treeCpuSeconds(x.child.pid, snap) + x.aux.reduce((a, c) => a + treeCpuSeconds(c.pid, snap), 0);
    return {
      target: treeCpuSeconds(pid, snap), aux: t.aux.reduce((a, c) => a + treeCpuSeconds(c.pid, snap), 0),
      upstream, ours: upstream + stack.targets.reduce((a, x) => a + tree(x), 0),
    };
  };
  const before = take();
  const machine0 = machineBusySeconds();
  const at = performance.now();
  const self0 = process.cpuUsage();
  const load = await runLoad(p.generator, { url: `${t.url}${t.path}`, headers: requestHeaders(t), seconds, connections: p.connections });
  const self = process.cpuUsage(self0);
  const wallS = (performance.now() - at) / 1000;
  const after = take();
  const machine1 = machineBusySeconds();
  const selfS = (self.user + self.system) / 1e6;
  const perReq = (s: number): number => (s * 1e6) / load.requests;
  const others = machine1 - machine0 - (after.ours - before.ours) - selfS - load.cpuSeconds;
  return {
    load,
    round: {
      round,
      requests: load.requests,
      rps: load.rps,
      p50Ms: load.p50Ms,
      p90Ms: load.p90Ms,
      p99Ms: load.p99Ms,
      cpuUsPerReq: perReq(after.target - before.target),
      upstreamCpuUsPerReq: perReq(after.upstream - before.upstream),
      auxCpuUsPerReq: perReq(after.aux - before.aux),
      loadGenCpuUsPerReq: perReq(load.cpuSeconds),
      benchCpuUsPerReq: perReq(selfS),
      otherCores: Math.max(0, others / wallS),
      statuses: load.statuses,
    },
  };
}

const BASES: readonly TargetName[] = ['bare-http-proxy', 'bare-http-proxy-3', 'bare-node-http'];
const PORTCULLIS: readonly TargetName[] = ['portcullis', 'portcullis-no-log', 'portcullis-workers-2'];
const PEERS: readonly TargetName[] = ['apache-oidc-cookie', 'apache-oidc-shm', 'express-openid-connect'];

/** The pairs the report shows: every target against both bare hops, each Portcullis against each authenticating peer. */
export function ratioPairs(names: readonly TargetName[]): Array<[TargetName, TargetName]> {
  const has = new Set(names);
  const pairs: Array<[TargetName, TargetName]> = [];
  // Forward-auth targets answer another request than the hops: they are compared with their own floor.
  const proxied = (n: TargetName): boolean => !FORWARD_AUTH_TARGETS.includes(n) && !n.startsWith('nginx-auth');
  for (const b of BASES) for (const a of names) if (a !== b && has.has(b) && proxied(a) && !(b === 'bare-http-proxy-3' && a === 'bare-http-proxy')) pairs.push([a, b]);
  for (const a of PORTCULLIS) for (const b of PEERS) if (has.has(a) && has.has(b)) pairs.push([a, b]);
  // What a second worker adds on this machine.
  if (has.has('portcullis-workers-2') && has.has('portcullis')) pairs.push(['portcullis-workers-2', 'portcullis']);
  // The request log: on against off, and on against itself with other stdout readers.
  for (const [a, b] of [
    ['portcullis', 'portcullis-no-log'], ['portcullis-log-file', 'portcullis-no-log'], ['portcullis-slow-reader', 'portcullis-no-log'],
    ['portcullis-log-file', 'portcullis'], ['portcullis-slow-reader', 'portcullis'],
    // Redis sessions beside cookie sessions; forward-auth beside the zero-work 202 server, asked directly and behind nginx.
    ['portcullis-redis', 'portcullis'], ['portcullis-auth', 'auth-zero'], ['portcullis-auth-baseline', 'auth-zero'], ['nginx-auth-portcullis', 'nginx-auth-zero'],
    ['nginx-auth-zero', 'nginx'], ['nginx-auth-portcullis', 'nginx-auth-floor'], ['nginx-auth-floor', 'nginx-auth-zero'],
    // The floors: what each unavoidable piece costs the zero-work server, and Portcullis over the floor that does it all.
    ['auth-zero-unseal', 'auth-zero'], ['auth-zero-session', 'auth-zero'], ['auth-zero-log', 'auth-zero'], ['auth-floor', 'auth-zero'],
    ['portcullis-auth', 'auth-floor'], ['portcullis-auth-baseline', 'auth-floor'], ['portcullis-auth', 'auth-zero-unseal'],
    ['portcullis', 'bare-http-proxy-log'], ['portcullis-baseline', 'bare-http-proxy-log'],
  ] as Array<[TargetName, TargetName]>) if (has.has(a) && has.has(b)) pairs.push([a, b]);
  // A change against the build before it (--baseline-bin).
  if (has.has('portcullis-baseline') && has.has('portcullis')) pairs.push(['portcullis', 'portcullis-baseline']);
  if (has.has('portcullis-no-log-baseline') && has.has('portcullis-no-log')) pairs.push(['portcullis-no-log', 'portcullis-no-log-baseline']);
  if (has.has('portcullis-slow-reader-baseline') && has.has('portcullis-slow-reader')) pairs.push(['portcullis-slow-reader', 'portcullis-slow-reader-baseline']);
  if (has.has('portcullis-auth-baseline') && has.has('portcullis-auth')) pairs.push(['portcullis-auth', 'portcullis-auth-baseline']);
  return pairs;
}

export async function compare(stack: Stack, p: CompareParams, log: (line: string) => void): Promise<Comparison> {
  const excluded: Excluded[] = [...stack.excluded];
  let live = [...stack.targets];
  const sent = new Map<TargetName, number>(live.map((t) => [t.name, 4])); // the checks' requests
  const drop = (t: Target, reason: string): void => {
    excluded.push({ name: t.name, status: 'failed', reason });
    live = live.filter((x) => x !== t);
    log(`FAILED ${t.name}: ${reason}`);
  };

  if (p.warmup > 0) {
    for (const t of [...live]) {
      const { load } = await measure(t, stack, p, p.warmup, 0);
      sent.set(t.name, sent.get(t.name)! + load.requests);
      const problem = loadProblem(load, true);
      if (problem) drop(t, `warm-up: ${problem}`);
      else log(`warm-up ${t.name}: ${Math.round(load.rps)} req/s`);
    }
  }

  const rounds = new Map<TargetName, Round[]>(live.map((t) => [t.name, []]));
  const memory = new Map<TargetName, Memory>();
  for (let i = 1; i <= p.rounds; i++) {
    for (const t of [...live]) {
      if (t.child.exited()) { drop(t, `exited:\n${t.child.tail.join('\n')}`); continue; }
      const { load, round } = await measure(t, stack, p, p.duration, i);
      sent.set(t.name, sent.get(t.name)! + load.requests);
      const problem = loadProblem(load);
      if (problem) { drop(t, `round ${i}: ${problem}`); continue; }
      rounds.get(t.name)!.push(round);
      if (i === p.rounds) memory.set(t.name, treeMemory(t.child.pid));
      log(`round ${i} ${t.name.padEnd(22)} ${fmtInt(round.rps).padStart(7)} req/s  p50 ${round.p50Ms.toFixed(2)} ms  p99 ${round.p99Ms.toFixed(2)} ms  `
        + `CPU ${round.cpuUsPerReq.toFixed(0)} µs/req (${processTree(t.child.pid).length} proc)${t.aux.length ? `  aux ${round.auxCpuUsPerReq.toFixed(0)}` : ''}  upstream ${round.upstreamCpuUsPerReq.toFixed(0)}  `
        + `${p.generator} ${round.loadGenCpuUsPerReq.toFixed(1)}  bench ${round.benchCpuUsPerReq.toFixed(1)}  others ${round.otherCores.toFixed(2)} cores`);
    }
  }

  // Forward-auth at a steady rate, interleaved like the rounds: the latency it adds when not saturated.
  const steady = new Map<TargetName, SteadyRound[]>();
  // Of the floors only the whole one (auth-floor): the pieces are told apart by their CPU.
  const steadyTargets = live.filter((t) => (FORWARD_AUTH_TARGETS.includes(t.name) && !t.name.startsWith('auth-zero-')) || t.name.startsWith('nginx-auth'));
  for (let i = 1; i <= Math.min(p.rounds, 3) && steadyTargets.length; i++) {
    for (const t of steadyTargets) {
      const r = await steadyPass(t, p.connections);
      if (r.failed > 0) { log(`steady ${t.name}: ${r.failed} failed answers, not counted`); continue; }
      if (!steady.has(t.name)) steady.set(t.name, []);
      steady.get(t.name)!.push(r);
      log(`steady ${i} ${t.name.padEnd(22)} ${STEADY_RATE} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p95 ${r.p95Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms`);
    }
  }

  const summaries: Summary[] = live.map((t) => {
    const rs = rounds.get(t.name)!;
    return {
      name: t.name,
      rps: median(rs.map((r) => r.rps)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      cpuUsPerReq: median(rs.map((r) => r.cpuUsPerReq)),
      upstreamCpuUsPerReq: median(rs.map((r) => r.upstreamCpuUsPerReq)),
      auxCpuUsPerReq: median(rs.map((r) => r.auxCpuUsPerReq)),
      loadGenCpuUsPerReq: median(rs.map((r) => r.loadGenCpuUsPerReq)),
      memory: memory.get(t.name)!,
      readyMs: t.readyMs,
      cookieBytes: t.cookie.length,
      logLines: t.logLines(),
      requestsSent: sent.get(t.name)! + (steady.get(t.name) ?? []).reduce((a, r) => a + r.ok, 0),
      rounds: rs,
      ...(steady.has(t.name) ? { steady: {
        p50Ms: median(steady.get(t.name)!.map((r) => r.p50Ms)), p95Ms: median(steady.get(t.name)!.map((r) => r.p95Ms)),
        p99Ms: median(steady.get(t.name)!.map((r) => r.p99Ms)), rounds: steady.get(t.name)!,
      } } : {}),
    };
  });
  const byName = new Map(summaries.map((s) => [s.name, s]));
  const ratios: Ratio[] = [];
  for (const [a, b] of ratioPairs(summaries.map((s) => s.name))) {
    for (const metric of ['rps', 'cpuUsPerReq'] as const) {
      const ra = byName.get(a)!.rounds, rb = byName.get(b)!.rounds;
      const perRound = ra.map((r, i) => r[metric] / rb[i]![metric]);
      ratios.push({ a, b, metric, median: median(perRound), perRound });
    }
  }
  const otherCores = median(summaries.flatMap((s) => s.rounds.map((r) => r.otherCores)));
  return { summaries, ratios, excluded, otherCores };
}

export const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
