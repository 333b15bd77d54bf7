// What one request-log line costs the process that writes it, and whether that depends on who
// reads its stdout: a child process writes N request lines (the request log's own shape, through
// the request logger and the stdout sink of a build of Portcullis) at a steady pace, its stdout
// going to a file, to a pipe read at full speed, or to a pipe read slowly (4 KiB reads, every line
// parsed and kept, a 1 ms pause after each full read: bench/slow-reader.ts); it reports its own
// CPU time (process.cpuUsage: every thread, the sink's writes included) per line. Every child is
// its own process and measures only itself, so other load on the machine moves the figures less
// than it moves a load test's req/s. Rounds are interleaved across builds and readers.
// --floor adds the floor of each reader: the same lines' bytes (rendered before the clock starts by
// this build's request logger), handed out in the same batches as the stdout sink (src/logsink.ts:
// at most one write in flight on a libuv worker, every 10 ms or at once past a 64 KiB chunk,
// writev of 64 KiB pieces), by a loop that formats and copies nothing: what the kernel and libuv
// charge for the bytes, a file against a pipe, with nothing of Portcullis's on top.
// --strace: each build and reader once under `strace -f -c` (every thread), system calls per line
// net of the loop that logs nothing, and writes (write + writev) per line; its CPU figures are
// strace's, not printed.
// Usage: node dist/bench/logline.js [--lines N] [--rounds N] [--rate LINES_PER_S] [--baseline DIST_SRC_DIR] [--floor] [--strace]
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, write as fsWrite, writev as fsWritev } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './compare.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench

const THIS_BUILD = pathToFileURL(join(HERE, '..', 'src', 'log.js')).href;

type LogModule = {
  requestLogger(level: string, destination?: { write(line: string): unknown }): { write?(l: object): void; info?(o: object): void } | undefined;
  stdoutSink(): { drain(ms: number): Promise<void> };
};

/** Line n's fields: the request log's shape, a path and a duration that vary. */
function fields(n: number): object {
  return { method: 'GET', path: `/app/items/${n % 1000}`, status: 200, durationMs: 1.234567 + (n % 100) / 1000, user: 'demo-user-1', client: '127.0.0.1', requestId: '0f8fad5b-d9cb-469f-a165-70867728950e', upgrade: false };
}

/**
 * The floor of a line's cost: every line's bytes rendered up front (this build's request logger,
 * into memory), then per line only "these bytes are ready"; the bytes leave as the stdout sink's
 * do (src/logsink.ts's FLUSH_MS, CHUNK and one-write-in-flight rules), straight from the rendered
 * buffer: no formatting, no copy.
 */
async function floorWriter(lines: number): Promise<{ emit(n: number): void; drain(): Promise<void> }> {
  const FLUSH_MS = 10, CHUNK = 64 * 1024;
  const m = await import(THIS_BUILD) as LogModule;
  // Straight into one buffer, so no rendered line outlives the rendering (no old-generation
  // garbage for a collection inside the measured window).
  const all = Buffer.allocUnsafe(lines * 512);
  const ends = new Float64Array(lines);
  let bytes = 0, k = 0;
  const render = m.requestLogger('info', { write: (line: string) => { bytes += all.write(line, bytes); ends[k++] = bytes; } })!;
  for (let n = 0; n < lines; n++) render.write!(fields(n));
  let ready = 0, written = 0, sentEnd = 0;
  let inFlight = false;
  let timer: NodeJS.Timeout | undefined;
  let done: (() => void) | undefined;
  const flush = (): void => {
    timer = undefined;
    if (inFlight || ready === written) return;
    sentEnd = ready;
    send();
  };
  const send = (): void => {
    inFlight = true;
    if (sentEnd - written <= CHUNK) return void fsWrite(1, all, written, sentEnd - written, null, wrote);
    const bufs: Buffer[] = [];
    for (let at = written; at < sentEnd; at += CHUNK) bufs.push(all.subarray(at, Math.min(at + CHUNK, sentEnd)));
    fsWritev(1, bufs, null, wrote);
  };
  const later = (ms: number): void => {
    if (timer !== undefined) { if (ms !== 0) return; clearTimeout(timer); }
    timer = setTimeout(flush, ms);
  };
  const wrote = (err: NodeJS.ErrnoException | null, n: number): void => {
    if (err) throw err;
    written += n;
    inFlight = false;
    if (written < sentEnd) return send();
    if (ready - written > CHUNK) flush();
    else if (ready > written) later(FLUSH_MS);
    else if (done && written === bytes) done();
  };
  return {
    emit(n: number): void {
      ready = ends[n]!;
      if (inFlight) return;
      later(ready - written > CHUNK ? 0 : FLUSH_MS);
    },
    drain: () => new Promise<void>((resolve) => {
      if (written === bytes) return resolve();
      done = resolve;
      if (!inFlight) later(0);
    }),
  };
}

/** The child: writes the lines, then prints its CPU per line on stderr. */
async function child(logModule: string, lines: number, rate: number): Promise<void> {
  // 'none': the same loop building the same fields, logging nothing: what the others are net of.
  // 'floor': the same loop, the bytes of the lines handed out as the sink would, nothing else.
  const m = logModule === 'none' || logModule === 'floor' ? undefined : await import(logModule) as LogModule;
  const floor = logModule === 'floor' ? await floorWriter(lines) : undefined;
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
        emit(fields(n));
        floor?.emit(n);
      }
      if (n >= lines) { clearInterval(tick); done(); }
    }, 1);
  });
  await m?.stdoutSink().drain(30_000);
  await floor?.drain();
  const u = process.cpuUsage(cpu0);
  void kept;
  process.stderr.write(`@@LINE ${JSON.stringify({ cpuUsPerLine: (u.user + u.system) / lines, userUs: u.user / lines, systemUs: u.system / lines })}\n`);
}

interface Result { build: string; reader: string; round: number; cpuUsPerLine: number; linesSeen: number; syscalls?: Record<string, number> }

type Reader = 'file' | 'fast-pipe' | 'slow-pipe';
const READERS: readonly Reader[] = ['file', 'fast-pipe', 'slow-pipe'];

/** `strace -c -U calls,errors,name` output: calls per system call, and `total`. */
function parseStrace(text: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const m of text.matchAll(/^\s*(\d+)\s+(?:\d+\s+)?(\w+)\s*$/gm)) calls[m[2]!] = Number(m[1]);
  return calls;
}

async function runOne(build: string, logModule: string, reader: Reader, lines: number, rate: number, dir: string, round: number, strace: boolean): Promise<Result> {
  const out = join(dir, `${build.replace(/\W/g, '-')}-${reader}-${round}`);
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
  const childArgs = [fileURLToPath(import.meta.url), '--child', logModule, '--lines', String(lines), '--rate', String(rate)];
  const straceOut = `${out}.strace`;
  const c = strace
    ? spawn('strace', ['-f', '-c', '-U', 'calls,errors,name', '-o', straceOut, process.execPath, ...childArgs], { stdio: ['ignore', stdout, 'pipe'] })
    : spawn(process.execPath, childArgs, { stdio: ['ignore', stdout, 'pipe'] });
  closeSync(stdout);
  let err = '';
  c.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const killer = setTimeout(() => c.kill('SIGKILL'), 120_000);
  await new Promise((r) => c.once('exit', r));
  clearTimeout(killer);
  if (readerProc) await new Promise((r) => readerProc!.once('exit', r));
  const m = /@@LINE (.*)/.exec(err);
  if (!m) throw new Error(`${build} ${reader}: the writer printed no result:\n${err.slice(-2000)}`);
  return {
    build, reader, round, cpuUsPerLine: (JSON.parse(m[1]!) as { cpuUsPerLine: number }).cpuUsPerLine, linesSeen: seen(),
    syscalls: strace ? parseStrace(readFileSync(straceOut, 'utf8')) : undefined,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' }, lines: { type: 'string' }, rounds: { type: 'string' }, rate: { type: 'string' }, baseline: { type: 'string' },
      floor: { type: 'boolean', default: false }, strace: { type: 'boolean', default: false },
    },
  });
  const lines = Math.min(Number(values.lines ?? 100_000), 1_000_000);
  const rate = Math.min(Number(values.rate ?? 10_000), 100_000);
  if (values.child) return child(values.child, lines, rate);
  const strace = values.strace!;
  const rounds = strace ? 1 : Math.min(Number(values.rounds ?? 3), 10);
  const builds: Array<[string, string]> = [['no log', 'none'], ['this build', THIS_BUILD]];
  if (values.floor) builds.push(['floor', 'floor']);
  if (values.baseline) builds.push(['baseline', pathToFileURL(join(resolve(values.baseline), 'log.js')).href]);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-logline-'));
  const results: Result[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const reader of READERS) {
        for (const [build, mod] of builds) {
          const r = await runOne(build, mod, reader, lines, rate, dir, round, strace);
          results.push(r);
          const what = strace ? `${r.syscalls?.total ?? '?'} system calls, ${(r.syscalls?.write ?? 0) + (r.syscalls?.writev ?? 0)} write/writev` : `${r.cpuUsPerLine.toFixed(2)} µs CPU per line`;
          process.stdout.write(`round ${round} ${build.padEnd(10)} ${reader.padEnd(9)} ${what}, ${r.linesSeen} of ${lines} lines arrived\n`);
          if (build !== 'no log' && r.linesSeen !== lines) process.stdout.write(`  (${lines - r.linesSeen} lines missing)\n`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const others = builds.filter(([b]) => b !== 'no log').map(([b]) => b);
  const find = (build: string, reader: string, round: number): Result => results.find((r) => r.build === build && r.reader === reader && r.round === round)!;
  if (strace) {
    process.stdout.write(`\nsystem calls per line (${lines} lines at ${rate}/s, strace -f -c, every thread), net of the same loop logging nothing; writes = write + writev per line:\n`);
    const writes = (r: Result): number => (r.syscalls?.write ?? 0) + (r.syscalls?.writev ?? 0);
    for (const build of others) {
      const cols = READERS.map((reader) => {
        const r = find(build, reader, 1), none = find('no log', reader, 1);
        const net = ((r.syscalls?.total ?? NaN) - (none.syscalls?.total ?? NaN)) / lines;
        const top = Object.entries(r.syscalls ?? {}).filter(([k]) => k !== 'total')
          .map(([k, v]) => [k, (v - (none.syscalls?.[k] ?? 0)) / lines] as const).filter(([, v]) => v >= 0.001).sort((x, y) => y[1] - x[1]).slice(0, 4)
          .map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ');
        return `${reader} ${net.toFixed(3)} (writes ${((writes(r) - writes(none)) / lines).toFixed(4)}; ${top})`;
      });
      process.stdout.write(`${build.padEnd(10)} ${cols.join('  ')}\n`);
    }
    return;
  }
  process.stdout.write(`\nmedian CPU µs per line (${lines} lines at ${rate}/s, ${rounds} rounds), net of the same loop logging nothing:\n`);
  // Per round, minus that round's no-log figure (the loop, the timer ticks): what the line itself costs.
  const net = (build: string, reader: string): number[] => results.filter((r) => r.build === build && r.reader === reader)
    .map((r) => r.cpuUsPerLine - find('no log', reader, r.round).cpuUsPerLine);
  const spread = (xs: number[]): string => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  for (const build of others) {
    const m = (reader: string): number => median(net(build, reader));
    const file = m('file'), fast = m('fast-pipe'), slow = m('slow-pipe');
    process.stdout.write(`${build.padEnd(10)} file ${file.toFixed(2)} (${spread(net(build, 'file'))})  fast pipe ${fast.toFixed(2)} (${spread(net(build, 'fast-pipe'))})  slow pipe ${slow.toFixed(2)} (${spread(net(build, 'slow-pipe'))})`
      + `  (fast ÷ file ${(fast / file).toFixed(2)}, slow ÷ fast ${(slow / fast).toFixed(2)}, slow ÷ file ${(slow / file).toFixed(2)})\n`);
  }
  if (values.floor) {
    // Per round: the build's line over the floor's, and how much more a pipe costs than a file in each.
    process.stdout.write('\nthis build ÷ floor per reader (median of per-round ratios), and pipe − file in µs (this build; floor):\n');
    const ratio = (reader: string): number[] => Array.from({ length: rounds }, (_, i) => {
      const none = find('no log', reader, i + 1).cpuUsPerLine;
      return (find('this build', reader, i + 1).cpuUsPerLine - none) / (find('floor', reader, i + 1).cpuUsPerLine - none);
    });
    const diff = (build: string, reader: string): number => median(Array.from({ length: rounds }, (_, i) => find(build, reader, i + 1).cpuUsPerLine - find(build, 'file', i + 1).cpuUsPerLine));
    for (const reader of READERS) process.stdout.write(`${reader.padEnd(9)} ${median(ratio(reader)).toFixed(2)} (per round ${ratio(reader).map((x) => x.toFixed(2)).join(' ')})\n`);
    for (const reader of ['fast-pipe', 'slow-pipe']) process.stdout.write(`${reader} − file: this build ${diff('this build', reader).toFixed(2)} µs, floor ${diff('floor', reader).toFixed(2)} µs\n`);
  }
}

await main();
