// Latency at a steady rate, for forward-auth's "adds under 0.5 ms at p95 at 1,000 req/s": wrk
// (-t1, closed loop) measures how fast a target can go, not what one request costs at a load it
// handles with room to spare. This client, in its own process, sends GET requests at a fixed rate
// (a tick every 10 ms sends that tick's share) over a keep-alive pool, for a bounded time and
// count, and prints `@@RATE {"sent","ok","p50Ms","p95Ms","p99Ms","maxMs"}` (every answer's time
// from send to its last byte). The same client measures every target, so differences are the targets'.
// Usage: node dist/bench/rate.js '{"url":…,"headers":{…},"rate":1000,"seconds":5,"connections":32}'
import http from 'node:http';

const spec = JSON.parse(process.argv[2]!) as { url: string; headers: Record<string, string>; rate: number; seconds: number; connections: number };
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
const total = Math.min(spec.rate * spec.seconds, 100_000);
const times: number[] = [];
let sent = 0, ok = 0, failed = 0;
const started = performance.now();

function one(): void {
  const t0 = performance.now();
  const req = http.get(spec.url, { agent, headers: spec.headers }, (res) => {
    res.resume();
    res.on('end', () => {
      times.push(performance.now() - t0);
      if (res.statusCode! >= 200 && res.statusCode! < 300) ok++; else failed++;
      if (ok + failed === total) finish();
    });
  });
  req.on('error', () => { failed++; if (ok + failed === total) finish(); });
}

const timer = setInterval(() => {
  // What the clock says should have been sent by now: a late tick catches up rather than lowering the rate.
  const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * spec.rate));
  while (sent < due) { sent++; one(); }
  if (sent >= total) clearInterval(timer);
}, 10);
const guard = setTimeout(finish, (spec.seconds + 10) * 1000);

function finish(): void {
  clearInterval(timer);
  clearTimeout(guard);
  times.sort((a, b) => a - b);
  const q = (p: number): number => times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? NaN;
  process.stdout.write(`@@RATE ${JSON.stringify({ sent, ok, failed, p50Ms: q(0.5), p95Ms: q(0.95), p99Ms: q(0.99), maxMs: times[times.length - 1] ?? NaN })}\n`);
  process.exit(0);
}
