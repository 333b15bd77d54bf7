// The fallback load generator, used only when wrk is not installed: autocannon in a process of its
// own (not in the benchmark's, which also holds the dev issuer), printing the same report as the
// wrk script in load.ts. Latency is taken from every response's own time (autocannon's histogram
// keeps whole milliseconds). On two cores autocannon costs several times wrk's CPU per request.
// Usage: node dist/bench/autocannon-load.js '{"url":…,"headers":{…},"seconds":N,"connections":N}'
import autocannon from 'autocannon';

const spec = JSON.parse(process.argv[2] ?? '{}') as { url: string; headers: Record<string, string>; seconds: number; connections: number };
let lat = new Float64Array(1 << 17);
let n = 0;
const started = performance.now();
const instance = autocannon({ url: spec.url, connections: spec.connections, pipelining: 1, duration: spec.seconds, headers: spec.headers, timeout: 5 }, (err, r) => {
  if (err) {
    process.stderr.write(`autocannon: ${err.message}\n`);
    process.exit(1);
  }
  const sorted = lat.subarray(0, n).sort();
  const pct = (p: number): number => (n ? sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]! : 0);
  const statuses = Object.fromEntries(Object.entries(r.statusCodeStats).map(([s, v]) => [s, v.count]));
  const mean = n ? sorted.reduce((a, b) => a + b, 0) / n : 0;
  const report = {
    requests: n,
    durationUs: Math.round((performance.now() - started) * 1000),
    bytes: 0,
    errors: { connect: 0, read: r.errors - r.timeouts, write: 0, status: r.non2xx, timeout: r.timeouts },
    latencyUs: { p50: pct(50) * 1000, p90: pct(90) * 1000, p99: pct(99) * 1000, max: (sorted[n - 1] ?? 0) * 1000, mean: mean * 1000 },
    statuses,
  };
  process.stdout.write(`\n@@AUTOCANNON ${JSON.stringify(report)}\n`);
});
instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
  if (n === lat.length) { const grown = new Float64Array(n * 2); grown.set(lat); lat = grown; }
  lat[n++] = ms;
});
