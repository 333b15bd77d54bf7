// The load generator: wrk (C, one thread) in its own process, or autocannon in its own process when
// wrk is not installed. Either way the result is the same shape, the generator's own CPU time is
// measured, and every response's status is counted, so a run that got login redirects or errors
// instead of the upstream's 200 is caught (wrk's own summary counts only statuses ≥ 400).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseStatCpu, spawnChild } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
export const WRK = '/usr/bin/wrk';

export type Generator = 'wrk' | 'autocannon';

export interface LoadResult {
  generator: Generator;
  requests: number;
  durationS: number;
  /** requests / duration. */
  rps: number;
  bytes: number;
  /** Count of responses per HTTP status. */
  statuses: Record<string, number>;
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** User + system CPU of the load generator process during the run, seconds. */
  cpuSeconds: number;
}

export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  /** The run's length; with maxRequests, its upper bound. */
  seconds: number;
  connections: number;
  /** Stop after this many responses (wrk only). */
  maxRequests?: number;
}

export function pickGenerator(): Generator {
  return existsSync(WRK) ? 'wrk' : 'autocannon';
}

// Runs in wrk's thread for every response (the one Lua call per response is part of the
// generator's CPU figure); done() runs once and prints one JSON line. A limit given after `--`
// stops the thread at that many responses (a few more may land in the same turn of its loop) and
// sends wrk itself SIGINT, which ends its -d wait early, as Ctrl-C does, with the summary printed.
// The kill runs in the background after 50 ms: system() ignores SIGINT in wrk while it waits.
const WRK_SCRIPT = `
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  statuses = {}
  limit = tonumber(args[1]) or 0
  seen = 0
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if limit > 0 then
    seen = seen + 1
    if seen == limit then
      wrk.thread:stop()
      os.execute("(sleep 0.05; kill -INT $PPID) &")
    end
  end
end
function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do counts[k] = (counts[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(counts) do table.insert(parts, string.format('"%d":%d', k, v)) end
  local e = summary.errors
  io.write(string.format('\\n@@WRK {"requests":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"statuses":{%s}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    table.concat(parts, ",")))
end
`;
let scriptPath: string | undefined;
function wrkScript(): string {
  if (!scriptPath) {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-wrk-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    scriptPath = join(dir, 'count-statuses.lua');
    writeFileSync(scriptPath, WRK_SCRIPT);
  }
  return scriptPath;
}

// The generator runs under `sh`, which prints its own /proc/PID/stat after the generator exits:
// the shell's cutime/cstime is then exactly the CPU the generator used.
const WRAPPER = '"$@"; c=$?; printf "\\n@@STAT %s\\n" "$(cat /proc/$$/stat)"; exit $c';

/** One bounded load run (the generator's own -d / duration, and a kill at seconds + 20 s). */
export async function runLoad(generator: Generator, spec: LoadSpec): Promise<LoadResult> {
  if (spec.maxRequests && generator !== 'wrk') throw new Error('a request count needs wrk (bash bench/setup.sh --smoke installs it)');
  const cmd = generator === 'wrk'
    ? [WRK, '-t1', `-c${spec.connections}`, `-d${spec.seconds}s`, '--timeout', '5s', '-s', wrkScript(),
      ...Object.entries(spec.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), spec.url, ...(spec.maxRequests ? ['--', String(spec.maxRequests)] : [])]
    : [process.execPath, join(HERE, 'autocannon-load.js'), JSON.stringify(spec)];
  const child = spawnChild(generator, '/bin/sh', ['-c', WRAPPER, 'sh', ...cmd], { keepStdout: true });
  const killer = setTimeout(() => child.proc.kill('SIGKILL'), (spec.seconds + 20) * 1000);
  const code = await child.exit;
  clearTimeout(killer);
  const out = child.stdoutText();
  const report = /^@@WRK (.*)$/m.exec(out)?.[1] ?? /^@@AUTOCANNON (.*)$/m.exec(out)?.[1];
  const stat = /^@@STAT (.*)$/m.exec(out)?.[1];
  if (code !== 0 || !report || !stat) {
    throw new Error(`${generator} failed (exit ${code}) against ${spec.url}:\n${[...child.tail, out.slice(-1500)].join('\n')}`);
  }
  const r = JSON.parse(report) as {
    requests: number; durationUs: number; bytes: number;
    errors: { connect: number; read: number; write: number; timeout: number };
    latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number };
    statuses: Record<string, number>;
  };
  const non2xx = Object.entries(r.statuses).reduce((a, [s, n]) => a + (s.startsWith('2') ? 0 : n), 0);
  const durationS = r.durationUs / 1e6;
  return {
    generator,
    requests: r.requests,
    durationS,
    rps: r.requests / durationS,
    bytes: r.bytes,
    statuses: r.statuses,
    non2xx,
    socketErrors: { connect: r.errors.connect, read: r.errors.read, write: r.errors.write, timeout: r.errors.timeout },
    p50Ms: r.latencyUs.p50 / 1000,
    p90Ms: r.latencyUs.p90 / 1000,
    p99Ms: r.latencyUs.p99 / 1000,
    maxMs: r.latencyUs.max / 1000,
    meanMs: r.latencyUs.mean / 1000,
    cpuSeconds: parseStatCpu(stat).children,
  };
}

/**
 * A description of what went wrong in a load run, or undefined when every response was a 2xx
 * (and, unless allowNone, there was at least one: a warm-up may end before a slow target answers).
 */
export function loadProblem(r: LoadResult, allowNone = false): string | undefined {
  const e = r.socketErrors;
  const socket = e.connect + e.read + e.write + e.timeout;
  if (r.non2xx === 0 && socket === 0 && (r.requests > 0 || allowNone)) return undefined;
  const codes = Object.entries(r.statuses).map(([s, n]) => `${s}×${n}`).join(' ') || 'none';
  return `${r.requests} responses (statuses: ${codes}), ${r.non2xx} non-2xx, socket errors: `
    + `connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`;
}
