// What one request-log line costs the process that writes it, and whether that depends on who
// reads its stdout: a child process writes N request lines (the request log's own shape, through
// the request logger and the stdout sink of a build of Portcullis) at a steady pace, its stdout
// going to a file, to a pipe read at full speed, or to a pipe read slowly (4 KiB reads, every line
// parsed and kept, a 1 ms pause after each full read: bench/slow-reader.ts); it reports its own
// CPU time (process.cpuUsage: every thread, the sink's writes included) per line. Every child is
// its own process and measures only itself, so other load on the machine moves the figures less
// than it moves a load test's req/s. Rounds are interleaved across builds and readers.
// Usage: node dist/bench/logline.js [--lines N] [--rounds N] [--rate LINES_PER_S] [--baseline DIST_SRC_DIR]
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './compare.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench

/** The child: writes the lines, then prints its CPU per line on stderr. */
async function child(logModule: string, lines: number, rate: number): Promise<void> {
  type LogModule = { requestLogger(level: string): { write?(l: object): void; info?(o: object): void } | undefined; stdoutSink(): { drain(ms: number): Promise<void> } };
  // 'none': the same loop building the same fields, logging nothing: what the others are net of.
  const m = logModule === 'none' ? undefined : await import(logModule) as LogModule;
  const log = m?.requestLogger('info');
  // The old build's request logger is pino (info); the new one is RequestLog (write).
  let kept: object | undefined;
  const emit = !log ? (l: object): void => { kept = l; } : log.write ? (l: object): void => log.write!(l) : (l: object): void => log.info!(l);
  const perTick = Math.max(1, Math.round(rate / 1000));
  const cpu0 = process.cpuUsage();
  let n = 0;
  await new Promise<void>((done) => {
    const tick = setInterval(() => {
      for (let i = 0; i < perTick && n < lines; i++, n++) {
        emit({ method: 'GET', path: `/app/items/${n % 1000}`, status: 200, durationMs: 1.234567 + (n % 100) / 1000, user: 'demo-user-1', client: '127.0.0.1', requestId: '0f8fad5b-d9cb-469f-a165-70867728950e', upgrade: false });
      }
      if (n >= lines) { clearInterval(tick); done(); }
    }, 1);
  });
  await m?.stdoutSink().drain(30_000);
  const u = process.cpuUsage(cpu0);
  void kept;
  process.stderr.write(`@@LINE ${JSON.stringify({ cpuUsPerLine: (u.user + u.system) / lines, userUs: u.user / lines, systemUs: u.system / lines })}\n`);
}

interface Result { build: string; reader: string; round: number; cpuUsPerLine: number; readerUsPerLine?: number; linesSeen: number }

async function runOne(build: string, logModule: string, reader: 'file' | 'fast-pipe' | 'slow-pipe', lines: number, rate: number, dir: string, round: number): Promise<Result> {
  const out = join(dir, `${build}-${reader}-${round}`);
  let stdout: number;
  let readerProc: ReturnType<typeof spawn> | undefined;
  let seen = (): number => 0;
  if (reader === 'file') {
    stdout = openSync(out, 'w');
    seen = () => readFileSync(out, 'utf8').split('\n').filter(Boolean).length;
  } else {
    execFileSync('mkfifo', [out]);
    const args = reader === 'slow-pipe' ? [join(HERE, 'slow-reader.js'), out] : ['-e', `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(out)},'r');const b=Buffer.alloc(1<<16);let n=0,k;while((k=fs.readSync(fd,b))>0)for(let i=0;i<k;i++)if(b[i]===10)n++;process.stdout.write(JSON.stringify({lines:n})+'\\n')`];
    readerProc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    readerProc.stdout!.on('data', (b: Buffer) => { text += b.toString(); if (text.length > 1e5) text = text.slice(-1e4); });
    seen = () => Number(/"lines":(\d+)\}\s*$/.exec(text)?.[1] ?? 0);
    stdout = openSync(out, 'w');
  }
  const c = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', logModule, '--lines', String(lines), '--rate', String(rate)], { stdio: ['ignore', stdout, 'pipe'] });
  closeSync(stdout);
  let err = '';
  c.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const killer = setTimeout(() => c.kill('SIGKILL'), 120_000);
  await new Promise((r) => c.once('exit', r));
  clearTimeout(killer);
  let readerUs: number | undefined;
  if (readerProc) {
    const pid = readerProc.pid!;
    await new Promise((r) => readerProc!.once('exit', r));
    void pid;
  }
  const m = /@@LINE (.*)/.exec(err);
  if (!m) throw new Error(`${build} ${reader}: the writer printed no result:\n${err.slice(-2000)}`);
  return { build, reader, round, cpuUsPerLine: (JSON.parse(m[1]!) as { cpuUsPerLine: number }).cpuUsPerLine, readerUsPerLine: readerUs, linesSeen: seen() };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { child: { type: 'string' }, lines: { type: 'string' }, rounds: { type: 'string' }, rate: { type: 'string' }, baseline: { type: 'string' } } });
  const lines = Math.min(Number(values.lines ?? 100_000), 1_000_000);
  const rate = Math.min(Number(values.rate ?? 10_000), 100_000);
  if (values.child) return child(values.child, lines, rate);
  const rounds = Math.min(Number(values.rounds ?? 3), 10);
  const builds: Array<[string, string]> = [['no log', 'none'], ['this build', pathToFileURL(join(HERE, '..', 'src', 'log.js')).href]];
  if (values.baseline) builds.push(['baseline', pathToFileURL(join(resolve(values.baseline), 'log.js')).href]);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-logline-'));
  const results: Result[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const reader of ['file', 'fast-pipe', 'slow-pipe'] as const) {
        for (const [build, mod] of builds) {
          const r = await runOne(build, mod, reader, lines, rate, dir, round);
          results.push(r);
          process.stdout.write(`round ${round} ${build.padEnd(10)} ${reader.padEnd(9)} ${r.cpuUsPerLine.toFixed(2)} µs CPU per line, ${r.linesSeen} of ${lines} lines arrived\n`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`\nmedian CPU µs per line (${lines} lines at ${rate}/s, ${rounds} rounds), net of the same loop logging nothing:\n`);
  // Per round, minus that round's no-log figure (the loop, the timer ticks): what the line itself costs.
  const none = (reader: string, round: number): number => results.find((r) => r.build === 'no log' && r.reader === reader && r.round === round)!.cpuUsPerLine;
  for (const [build] of builds.filter(([b]) => b !== 'no log')) {
    const m = (reader: string): number => median(results.filter((r) => r.build === build && r.reader === reader).map((r) => r.cpuUsPerLine - none(reader, r.round)));
    const file = m('file'), fast = m('fast-pipe'), slow = m('slow-pipe');
    process.stdout.write(`${build.padEnd(10)} file ${file.toFixed(2)}  fast pipe ${fast.toFixed(2)}  slow pipe ${slow.toFixed(2)}  (slow ÷ fast ${(slow / fast).toFixed(2)}, slow ÷ file ${(slow / file).toFixed(2)})\n`);
  }
}

await main();
