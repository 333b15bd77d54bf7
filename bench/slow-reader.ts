// A slow reader of a process's stdout, as a log shipper is: it reads the FIFO the proxy writes its
// log to in small pieces (4 KiB at most per read), parses every line as JSON and keeps the latest
// ones, and pauses 1 ms after every full read, so the pipe is full much of the time (at most about
// 4 MB/s, a few times what the proxy writes under the benchmark's load). Every 200 ms it prints
// `{"lines":N}` on its own stdout: the benchmark's count of the proxy's request-log lines.
// Usage: node dist/bench/slow-reader.js FIFO
import { closeSync, openSync, read } from 'node:fs';

const KEEP = 20_000;
const fd = openSync(process.argv[2]!, 'r');
const buf = Buffer.alloc(4096);
const kept: unknown[] = [];
let lines = 0;
let partial = '';
const report = (): void => { process.stdout.write(`${JSON.stringify({ lines })}\n`); };
const timer = setInterval(report, 200);

function next(): void {
  read(fd, buf, 0, buf.length, null, (err, n) => {
    if (err || n === 0) {
      clearInterval(timer);
      report();
      closeSync(fd);
      return;
    }
    const text = partial + buf.toString('utf8', 0, n);
    const parts = text.split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      if (!l) continue;
      kept.push(JSON.parse(l));
      lines++;
    }
    if (kept.length > KEEP) kept.splice(0, kept.length - KEEP);
    if (n === buf.length) setTimeout(next, 1);
    else next();
  });
}
next();
process.once('SIGTERM', () => { report(); process.exit(0); });
