// The comparison's report: the terminal table, the Markdown section for docs/benchmarks.md, and
// the section writer that replaces one generated section of that file and leaves the rest alone.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { STEADY_RATE, fmtInt, median, type Comparison, type Ratio, type Summary } from './compare.js';
import type { Excluded } from './stack.js';
import { DOC } from './facts.js';
import { barChart } from './svg.js';
import { DESCRIPTIONS, isAuthenticated, type TargetName } from './targets.js';

const f = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

function ratioOf(c: Comparison, a: TargetName, b: TargetName, metric: Ratio['metric']): Ratio | undefined {
  return c.ratios.find((r) => r.a === a && r.b === b && r.metric === metric);
}

/** The ratio a ÷ b, or the inverse of b ÷ a when only that pair is reported (bare-http-proxy ÷ bare-http-proxy-3). */
function cell(c: Comparison, a: TargetName, b: TargetName, metric: Ratio['metric']): string {
  if (a === b) return '1';
  const r = ratioOf(c, a, b, metric);
  if (r) return f(r.median, 3);
  const inv = ratioOf(c, b, a, metric);
  return inv ? f(median(inv.perRound.map((x) => 1 / x)), 3) : '';
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function targetRows(c: Comparison): string[][] {
  const head = ['target', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'peak RSS MB', 'procs', 'ready ms',
    'req/s ÷ http-proxy', 'req/s ÷ http-proxy-3', 'CPU ÷ http-proxy-3', 'aux µs/req', 'upstream µs/req', 'load-gen µs/req'];
  const has = new Set(c.summaries.map((s) => s.name));
  const vs = (s: Summary, b: TargetName, metric: Ratio['metric']): string => (has.has(b) ? cell(c, s.name, b, metric) : '');
  const rows = c.summaries.map((s) => [s.name, fmtInt(s.rps), f(s.p50Ms), f(s.p99Ms), f(s.cpuUsPerReq, 0), f(s.memory.hwmMB, 1),
    String(s.memory.processes), fmtInt(s.readyMs), vs(s, 'bare-http-proxy', 'rps'), vs(s, 'bare-http-proxy-3', 'rps'),
    vs(s, 'bare-http-proxy-3', 'cpuUsPerReq'), s.auxCpuUsPerReq > 0 ? f(s.auxCpuUsPerReq, 0) : '', f(s.upstreamCpuUsPerReq, 0), f(s.loadGenCpuUsPerReq, 1)]);
  return [head, ...rows];
}

function ratioRows(c: Comparison): string[][] {
  const head = ['ratio', 'req/s (median)', 'per round', 'CPU µs/req (median)', 'per round'];
  const seen = new Set<string>();
  const rows: string[][] = [];
  for (const r of c.ratios) {
    const key = `${r.a} ÷ ${r.b}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const rps = ratioOf(c, r.a, r.b, 'rps')!, cpu = ratioOf(c, r.a, r.b, 'cpuUsPerReq')!;
    rows.push([key, f(rps.median, 3), rps.perRound.map((x) => f(x, 3)).join(' '), f(cpu.median, 3), cpu.perRound.map((x) => f(x, 3)).join(' ')]);
  }
  return [head, ...rows];
}

function excludedLines(excluded: readonly Excluded[]): string[] {
  return excluded.map((e) => `${e.status} ${e.name}: ${e.reason.split('\n')[0]}`);
}

function logCheck(c: Comparison): string {
  return c.summaries.filter((s) => s.logLines !== undefined)
    .map((s) => `\`${s.name}\` ${fmtInt(s.logLines!)} lines for ${fmtInt(s.requestsSent)} requests`).join('; ');
}

/** Latency at a steady 1,000 req/s of the forward-auth targets, and what each Portcullis adds over its zero-work twin. */
function steadyRows(c: Comparison): string[][] {
  const rows = c.summaries.filter((s) => s.steady).map((s) => {
    const twins = s.name === 'nginx-auth-portcullis' ? ['nginx-auth-zero', 'nginx-auth-floor'] : s.name.startsWith('portcullis-auth') ? ['auth-zero', 'auth-floor'] : [];
    const added = twins.flatMap((twin) => {
      const z = c.summaries.find((x) => x.name === twin)?.steady;
      // Per pass (pass i of both ran seconds apart), then the median.
      return z ? [`${f(median(s.steady!.rounds.map((r, i) => r.p95Ms - (z.rounds[i]?.p95Ms ?? NaN)).filter(Number.isFinite)))} (over ${twin})`] : [];
    });
    return [s.name, f(s.steady!.p50Ms), f(s.steady!.p95Ms), f(s.steady!.p99Ms), added.join('; '), s.steady!.rounds.map((r) => f(r.p95Ms)).join(' ')];
  });
  return rows.length ? [[`at ${fmtInt(STEADY_RATE)} req/s`, 'p50 ms', 'p95 ms', 'p99 ms', 'p95 added ms (median of passes)', 'p95 per pass'], ...rows] : [];
}

export function terminalReport(c: Comparison): string {
  const logs = logCheck(c);
  const steady = steadyRows(c);
  return `\n${pad(targetRows(c))}\n\n${pad(ratioRows(c))}\n`
    + (steady.length ? `\n${pad(steady)}\n` : '')
    + (logs ? `\nrequest logs: ${logs}\n` : '')
    + (c.excluded.length ? `\n${excludedLines(c.excluded).join('\n')}\n` : '');
}

function mdTable(rows: string[][]): string {
  const [head, ...body] = rows;
  return [`| ${head!.join(' | ')} |`, `|${head!.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export interface RunInfo {
  date: string;
  command: string;
  machine: string;
  versions: string;
  parameters: string;
  /** The chart's subtitle: CPUs, generator, rounds. */
  chartNote: string;
  busy: string;
  runtimeS: number;
}

export function markdownSection(c: Comparison, info: RunInfo, chart?: string): string {
  const targets = c.summaries.map((s) => `- \`${s.name}\`: ${DESCRIPTIONS[s.name]}`
    + (s.cookieBytes ? `; ${isAuthenticated(s.name) ? 'its session cookie' : 'forwards Portcullis\'s cookie,'} ${fmtInt(s.cookieBytes)} bytes` : '')).join('\n');
  const logs = logCheck(c);
  return [
    `Run of ${info.date}: \`${info.command}\` (${f(info.runtimeS, 0)} s).`,
    '',
    `- Machine: ${info.machine}`,
    `- Versions: ${info.versions}`,
    `- Parameters: ${info.parameters}`,
    `- Load on the machine: ${info.busy}`,
    '',
    mdTable(targetRows(c)),
    '',
    ...(chart ? [`![req/s and CPU µs per request of each target](${chart})`, ''] : []),
    'Ratios, each the median of the per-round ratios (rounds are interleaved, so round *i* of two targets ran a few seconds apart):',
    '',
    mdTable(ratioRows(c)),
    '',
    ...(steadyRows(c).length ? [`Forward-auth latency at a steady ${fmtInt(STEADY_RATE)} req/s (bench/rate.ts, one client process for every target, 32 keep-alive connections, 5 s passes interleaved):`, '', mdTable(steadyRows(c)), ''] : []),
    targets,
    ...(logs ? ['', `Request logs (Portcullis: stdout lines; Apache: access log lines): ${logs}.`] : []),
    ...(c.excluded.length ? ['', 'Not measured:', '', ...excludedLines(c.excluded).map((l) => `- ${l}`)] : []),
  ].join('\n');
}

/** Replaces the section between `<!-- bench:ID -->` and `<!-- /bench:ID -->` (appends it when absent). */
export function writeDocSection(file: string, id: string, title: string, body: string): void {
  const open = `<!-- bench:${id} -->`, close = `<!-- /bench:${id} -->`;
  const block = `${open}\n${body.trim()}\n${close}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const i = text.indexOf(open), j = text.indexOf(close);
  const next = i >= 0 && j > i
    ? text.slice(0, i) + block + text.slice(j + close.length)
    : `${text.trimEnd()}\n\n## ${title}\n\n${block}\n`;
  writeFileSync(file, next);
}

/**
 * Writes a comparison's chart (docs/benchmarks[-ID].svg) and its section of docs/benchmarks.md;
 * returns what it wrote.
 */
export function publishComparison(c: Comparison, info: RunInfo, mode: string, sessionId: string, heading?: string): string {
  const chart = `benchmarks${sessionId ? `-${sessionId}` : ''}.svg`;
  const size = heading ? '' : sessionId.replace(/^session-/, '').replace(/k$/, ' KB');
  writeFileSync(join(dirname(DOC), chart), barChart({
    title: `Authenticated GET through each target (forward-auth: GET /oauth2/auth)${size ? ` (a ~${size} session)` : ''}`,
    subtitle: `${info.date}, ${info.chartNote}; other processes used ${c.otherCores.toFixed(2)} cores`,
    labels: c.summaries.map((s) => s.name),
    highlight: (l) => l.startsWith('portcullis'),
    panels: [
      { title: 'requests/s (higher is better)', format: (v) => fmtInt(v), values: c.summaries.map((s) => s.rps) },
      { title: 'CPU µs per request, with aux (lower is better)', format: (v) => v.toFixed(0), values: c.summaries.map((s) => s.cpuUsPerReq + (s.auxCpuUsPerReq || 0)) },
    ],
  }));
  const title = heading ?? (sessionId ? `Results with a ~${size} session (\`--session-size ${sessionId.replace(/^session-/, '')}\`)` : 'Results');
  writeDocSection(DOC, mode, title, markdownSection(c, info, chart));
  return `wrote docs/benchmarks.md (section ${mode}) and docs/${chart}`;
}
