// Summarizes a V8 .cpuprofile (from `npm run bench -- --profile`): where the CPU time went, by
// function (self and inclusive time) and by module (node internals, each package, each file of ours).
// Usage: node dist/bench/profile.js [--top 25] [--requests N] FILE.cpuprofile
// With --requests (the count run.js prints beside each profile), times are also given in µs per request.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** Where a frame comes from: a package, a file of this repository, node internals, or V8's own buckets. */
export function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return url;
  const ours = /\/dist\/(.+)$/.exec(url);
  if (ours) return ours[1]!;
  return url.replace(/^file:\/\//, '');
}

const keyOf = (f: CallFrame): string =>
  `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}` : ''}`.trim();

export function summarize(p: Profile, top = 25, requests = 0): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const modules = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    const node = byId.get(p.samples[i]!);
    if (!node) continue;
    total += dt;
    const f = node.callFrame;
    if (f.functionName === '(idle)') { idle += dt; continue; }
    self.set(keyOf(f), (self.get(keyOf(f)) ?? 0) + dt);
    const mod = moduleOf(f.url, f.functionName);
    modules.set(mod, (modules.get(mod) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const k = keyOf(byId.get(id)!.callFrame);
      if (k === '(root)' || seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
  const busy = total - idle;
  const pct = (v: number): string => `${((100 * v) / busy).toFixed(1).padStart(5)} %`;
  const perReq = (v: number): string => (requests > 0 ? `${(v / requests).toFixed(2).padStart(7)} µs/req  ` : '');
  const list = (m: Map<string, number>, n: number): string =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${pct(v)}  ${(v / 1000).toFixed(0).padStart(7)} ms  ${perReq(v)}${k}`).join('\n');
  return [
    `profile: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)} %); percentages are of busy time`
      + (requests > 0 ? `; ${requests} requests, ${(busy / requests).toFixed(1)} µs busy per request` : ''),
    '', 'self time by module:', list(modules, top),
    '', 'self time by function:', list(self, top),
    '', 'inclusive time by function:', list(inclusive, top),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, requests: { type: 'string', default: '0' } } });
  if (positionals.length === 0) {
    process.stderr.write('usage: node dist/bench/profile.js [--top N] [--requests N] FILE.cpuprofile...\n');
    process.exit(2);
  }
  for (const file of positionals) {
    process.stdout.write(`== ${file}\n${summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(values.top), Number(values.requests))}\n\n`);
  }
}
