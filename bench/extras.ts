// The extra modes, each bounded in time and count, loopback only, instead of the comparison:
//   --sessions N     N distinct sessions, RSS before and after (bench/sessions.ts)
//   --soak S         S seconds of steady wrk load on Portcullis, RSS sampled every second
//   --download SIZE  one SIZE body through Portcullis and the bare http-proxy-3 hop, read at full
//                    speed and then by a slow reader; RSS sampled every 100 ms (it should stay flat:
//                    the proxy streams and honours backpressure instead of buffering)
//   --startup N      N cold starts of Portcullis, spawn to /ready 200
// Each writes its own section of docs/benchmarks.md (unless --no-docs) and its JSON results.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { fmtInt, median } from './compare.js';
import { DOC, RESULTS, commandLine, machine, runDate, versions, writeResults } from './facts.js';
import { loadProblem, runLoad, type Generator } from './load.js';
import { machineBusySeconds, stop, stopAll, treeCpuSeconds, treeMemory } from './procs.js';
import { writeDocSection } from './report.js';
import { runSessions } from './sessions.js';
import { startStack, type Stack } from './stack.js';
import { plan, requestHeaders, start, type Target, type TargetName } from './targets.js';

export interface ExtraParams {
  sessions: number;
  soak: number;
  download: number;
  startup: number;
  connections: number;
  generator: Generator;
  docs: boolean;
  bin: string;
  out?: string;
}

const f1 = (n: number): string => n.toFixed(1);

async function withStack<T>(names: TargetName[], p: ExtraParams, log: (l: string) => void, fn: (s: Stack) => Promise<T>): Promise<T> {
  const stack = await startStack({ names, bin: p.bin, cookieSecret: randomBytes(32).toString('base64url'), cwd: RESULTS, log });
  try {
    const failed = stack.excluded.find((e) => e.status === 'failed');
    if (failed) throw new Error(`${failed.name} did not start: ${failed.reason}`);
    return await fn(stack);
  } finally {
    await stopAll(5_000);
    await stack.close();
  }
}

function header(what: string): string {
  const portcullis = versions().split(', ')[0];
  return `Run of ${runDate()}: \`${commandLine()}\` on ${machine()}; ${portcullis}.\n\n${what}`;
}

function soakSeries(rss: number[]): string {
  return rss.length > 61 ? `every 10 s: ${rss.filter((_, i) => i % 10 === 0).map(f1).join(' ')}` : rss.map(f1).join(' ');
}

/** RSS at every tenth of the sessions sent, from the samples. */
function curveText(curve: Array<[number, number]>, n: number): string {
  const out: string[] = [];
  for (let k = 0; k <= 10; k++) {
    const at = (n * k) / 10;
    const nearest = curve.reduce((a, b) => (Math.abs(b[0] - at) < Math.abs(a[0] - at) ? b : a));
    out.push(`${fmtInt(nearest[0])}: ${f1(nearest[1])}`);
  }
  return out.join(', ');
}

// ---------------------------------------------------------------------------------------------

interface SoakResult { seconds: number; otherCores: number; rps: number; cpuUsPerReq: number; p99Ms: number; rssMB: number[]; startMB: number; endMB: number; maxMB: number; hwmMB: number; logLines: number; requests: number }

async function soak(stack: Stack, seconds: number, p: ExtraParams, log: (l: string) => void): Promise<SoakResult> {
  const t = stack.targets.find((x) => x.name === 'portcullis')!;
  const spec = { url: `${t.url}/`, headers: requestHeaders(t), connections: p.connections };
  const warm = await runLoad(p.generator, { ...spec, seconds: 5 });
  const warmProblem = loadProblem(warm);
  if (warmProblem) throw new Error(`soak warm-up: ${warmProblem}`);
  const rss: number[] = [treeMemory(t.child.pid).rssMB];
  const sampler = setInterval(() => rss.push(treeMemory(t.child.pid).rssMB), 1000);
  const cpu0 = treeCpuSeconds(t.child.pid);
  const ours = (): number => treeCpuSeconds(t.child.pid) + treeCpuSeconds(stack.upstream.pid);
  const ours0 = ours(), machine0 = machineBusySeconds(), self0 = process.cpuUsage(), at = performance.now();
  const load = await runLoad(p.generator, { ...spec, seconds });
  const self = process.cpuUsage(self0);
  const otherCores = Math.max(0, (machineBusySeconds() - machine0 - (ours() - ours0) - (self.user + self.system) / 1e6 - load.cpuSeconds) / ((performance.now() - at) / 1000));
  clearInterval(sampler);
  rss.push(treeMemory(t.child.pid).rssMB);
  const problem = loadProblem(load);
  if (problem) throw new Error(`soak: ${problem}`);
  const r: SoakResult = {
    seconds, otherCores, rps: load.rps, cpuUsPerReq: ((treeCpuSeconds(t.child.pid) - cpu0) * 1e6) / load.requests, p99Ms: load.p99Ms, rssMB: rss.map((x) => Number(x.toFixed(1))),
    startMB: rss[0]!, endMB: rss[rss.length - 1]!, maxMB: Math.max(...rss), hwmMB: treeMemory(t.child.pid).hwmMB,
    logLines: t.logLines() ?? 0, requests: load.requests,
  };
  log(`soak ${seconds} s: ${fmtInt(r.rps)} req/s, ${r.cpuUsPerReq.toFixed(0)} µs CPU/req, p99 ${r.p99Ms.toFixed(2)} ms; `
    + `Portcullis RSS ${f1(r.startMB)} MB at the start, ${f1(r.endMB)} MB at the end, ${f1(r.maxMB)} MB at most (VmHWM ${f1(r.hwmMB)} MB)`);
  return r;
}

// ---------------------------------------------------------------------------------------------

interface DownloadRun { target: TargetName; reader: 'fast' | 'slow'; bytes: number; seconds: number; mbPerS: number; rssBeforeMB: number; rssPeakMB: number; rssAfterMB: number }

function download(t: Target, bytes: number, bytesPerSecond: number): Promise<{ received: number; seconds: number; peakMB: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let peak = treeMemory(t.child.pid).rssMB;
    const sampler = setInterval(() => { peak = Math.max(peak, treeMemory(t.child.pid).rssMB); }, 100);
    const done = (e: Error | undefined, received = 0): void => {
      clearInterval(sampler);
      clearTimeout(killer);
      if (e) reject(e); else resolve({ received, seconds: (performance.now() - t0) / 1000, peakMB: peak });
    };
    const req = http.get(`${t.url}/__download?bytes=${bytes}`, { agent: false, headers: requestHeaders(t) }, (res) => {
      if (res.statusCode !== 200) { res.resume(); return done(new Error(`${t.name}: download answered ${res.statusCode}`)); }
      let received = 0;
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (!Number.isFinite(bytesPerSecond)) return;
        // The slow reader: stop reading whenever ahead of its rate; the proxy must then hold back too.
        const aheadMs = (received / bytesPerSecond) * 1000 - (performance.now() - t0);
        if (aheadMs > 5) { res.pause(); setTimeout(() => res.resume(), aheadMs); }
      });
      res.on('end', () => done(received === bytes ? undefined : new Error(`${t.name}: received ${received} of ${bytes} bytes`), received));
      res.on('error', (e) => done(e));
    });
    req.on('error', (e) => done(e));
    const killer = setTimeout(() => req.destroy(new Error(`${t.name}: download took over 120 s`)), 120_000);
  });
}

async function downloads(stack: Stack, bytes: number, log: (l: string) => void): Promise<DownloadRun[]> {
  const out: DownloadRun[] = [];
  const slowRate = bytes / 8; // the slow reader takes about 8 s
  for (const reader of ['fast', 'slow'] as const) {
    for (const t of stack.targets) {
      const before = treeMemory(t.child.pid).rssMB;
      const r = await download(t, bytes, reader === 'fast' ? Infinity : slowRate);
      const after = treeMemory(t.child.pid).rssMB;
      const run: DownloadRun = { target: t.name, reader, bytes, seconds: r.seconds, mbPerS: bytes / 1024 ** 2 / r.seconds, rssBeforeMB: before, rssPeakMB: Math.max(r.peakMB, after), rssAfterMB: after };
      out.push(run);
      log(`download ${fmtInt(bytes / 1024 ** 2)} MiB through ${t.name}, ${reader} reader: ${r.seconds.toFixed(1)} s (${run.mbPerS.toFixed(0)} MiB/s); `
        + `RSS ${f1(before)} MB before, ${f1(run.rssPeakMB)} MB at most, ${f1(after)} MB after`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

async function startups(stack: Stack, n: number, log: (l: string) => void): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = await start(await plan('portcullis'), stack.ctx);
    times.push(t.readyMs);
    await stop(t.child, 5_000);
  }
  log(`Portcullis start-up to /ready 200, ${n} cold starts: median ${median(times).toFixed(0)} ms (${times.map((x) => x.toFixed(0)).join(', ')})`);
  return times;
}

// ---------------------------------------------------------------------------------------------

export async function runExtras(p: ExtraParams, log: (l: string) => void): Promise<number> {
  const results: Record<string, unknown> = {};
  const section = (id: string, title: string, body: string): void => { if (p.docs) writeDocSection(DOC, id, title, header(body)); };
  if (p.startup) {
    // The starts need an issuer client whose redirect URI matches their port; any port works for /ready.
    const times = await withStack(['portcullis'], p, log, (s) => startups(s, p.startup, log));
    results.startup = { runsMs: times, medianMs: median(times) };
    section('startup', 'Start-up time', `Portcullis from spawn to its first \`/ready\` 200 (it fetches the issuer's discovery document first), `
      + `${p.startup} cold starts: median **${median(times).toFixed(0)} ms** (${times.map((x) => x.toFixed(0)).join(', ')} ms).`);
  }
  if (p.sessions) {
    const r = await withStack(['portcullis'], p, log, (s) => runSessions(s, p.sessions, log));
    results.sessions = r;
    section('sessions', `${fmtInt(p.sessions)} sessions`, [
      `A real login against the dev issuer took ${r.realLogins.medianMs.toFixed(1)} ms (median of ${r.realLogins.count} in a row; Portcullis CPU `
      + `${r.realLogins.portcullisCpuMsPerLogin.toFixed(1)} ms, dev issuer + client ${r.realLogins.benchCpuMsPerLogin.toFixed(1)} ms), so ${fmtInt(p.sessions)} real logins would take `
      + `about ${Math.round(r.realLogins.estimateForAllS)} s. Instead the bench sealed ${fmtInt(p.sessions)} sessions itself with Portcullis's own codec `
      + `(\`dist/src/session/codec.js\`, the proxy's cookie secret and key derivation), each a copy of the real login's session with its own user, `
      + `subject and email (${r.sealing.cookieBytes}-byte cookies; ${r.sealing.usPerSession.toFixed(0)} µs per seal, wall clock, 64 at a time), `
      + `and sent each once through the proxy (${r.firstRequests.concurrency} connections). Every one answered the upstream's 200 body; `
      + `the upstream saw each session's own user (${r.checked.join('; ')}).`,
      '',
      '| | value |', '|---|---:|',
      `| first requests per second | ${fmtInt(r.firstRequests.perSecond)} |`,
      `| Portcullis CPU per first request (unseal + hop) | ${r.firstRequests.portcullisCpuUsPerRequest.toFixed(0)} µs |`,
      `| RSS before | ${f1(r.memory.before.rssMB)} MB |`,
      `| RSS after | ${f1(r.memory.after.rssMB)} MB |`,
      `| RSS at most (sampled every 500 ms) | ${f1(r.memory.peakRssMB)} MB |`,
      `| RSS 5 s later, idle | ${f1(r.memory.settled.rssMB)} MB |`,
      `| growth per session (after − before) | ${r.memory.perSessionKB.toFixed(2)} KB |`,
      '',
      `RSS in MB against the sessions sent so far: ${curveText(r.memory.curve, p.sessions)}. Portcullis keeps at most 10,000 unsealed `
      + 'sessions (oldest out first, `src/session/codec.ts`); a session pushed out costs one more unseal on its next request. RSS also holds '
      + 'whatever the V8 heap grew to, which Node does not hand back at once, so this is an upper bound on what the sessions keep.',
    ].join('\n'));
  }
  if (p.soak) {
    const r = await withStack(['portcullis'], p, log, (s) => soak(s, p.soak, p, log));
    results.soak = r;
    section('soak', 'Soak', `Portcullis (request log on) under ${p.connections} connections of ${p.generator} for ${p.soak} s after a 5 s warm-up: `
      + `${fmtInt(r.rps)} req/s, ${r.cpuUsPerReq.toFixed(0)} µs CPU per request, p99 ${r.p99Ms.toFixed(2)} ms, no errors `
      + `(other processes used ${r.otherCores.toFixed(2)} cores meanwhile). `
      + `RSS **${f1(r.startMB)} MB at the start, ${f1(r.endMB)} MB at the end**, ${f1(r.maxMB)} MB at most (sampled every second; ${soakSeries(r.rssMB)}).`);
  }
  if (p.download) {
    const runs = await withStack(['bare-http-proxy-3', 'portcullis'], p, log, (s) => downloads(s, p.download, log));
    results.download = runs;
    section('download', 'Large download', [
      `One ${fmtInt(p.download / 1024 ** 2)} MiB body from the upstream (\`/__download\`, 64 KiB chunks), read by a client at full speed, then by a slow `
      + 'reader (about 8 s for the whole body); RSS of the target sampled every 100 ms. A proxy that streams with backpressure stays flat.',
      '',
      '| target | reader | seconds | MiB/s | RSS before MB | RSS peak MB | RSS after MB |', '|---|---|---:|---:|---:|---:|---:|',
      ...runs.map((r) => `| ${r.target} | ${r.reader} | ${r.seconds.toFixed(1)} | ${r.mbPerS.toFixed(0)} | ${f1(r.rssBeforeMB)} | ${f1(r.rssPeakMB)} | ${f1(r.rssAfterMB)} |`),
    ].join('\n'));
  }
  const file = writeResults('extras', p.out, { date: runDate(), command: commandLine(), machine: machine(), versions: versions(), parameters: p, ...results });
  log(`results: ${file}`);
  if (p.docs) log('wrote its sections of docs/benchmarks.md');
  return 0;
}
