/** Parsers for option values as users write them (oauth2-proxy / Go spellings). Each returns a value or an error text. */

export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

const TRUE = new Set(['true', '1', 'yes', 'on', 't']);
const FALSE = new Set(['false', '0', 'no', 'off', 'f']);

export function parseBool(raw: string): Parsed<boolean> {
  const v = raw.trim().toLowerCase();
  if (TRUE.has(v)) return { ok: true, value: true };
  if (FALSE.has(v)) return { ok: true, value: false };
  return { ok: false, expected: 'true or false' };
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration grammar ("168h", "1h30m", "90s", "0"); returns milliseconds. */
export function parseDuration(raw: string): Parsed<number> {
  const v = raw.trim();
  const expected = 'a duration such as 168h, 30m or 1h30m';
  if (v === '0') return { ok: true, value: 0 };
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) return { ok: false, expected };
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return { ok: true, value: Math.round(total) };
}

/** Lists arrive comma- or space-separated (env vars, and pflag-style comma lists in one flag). */
export function parseList(raw: string | readonly string[]): string[] {
  const parts = typeof raw === 'string' ? [raw] : raw;
  return parts.flatMap((p) => p.split(/[\s,]+/)).filter((s) => s !== '');
}

/** Edit distance, for "did you mean" suggestions on unknown variables. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) { best = c; bestD = d; }
  }
  return bestD <= Math.max(3, Math.floor(name.length / 3)) ? best : undefined;
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * A list split on commas only: for values that may hold spaces (group names such as "Domain
 * Admins", which a split on spaces would turn into two groups, one of them maybe someone else's).
 * oauth2-proxy splits its list variables on commas too.
 */
export function parseCommaList(raw: string | readonly string[]): string[] {
  const parts = typeof raw === 'string' ? [raw] : raw;
  return parts.flatMap((p) => p.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * A list of regular expressions: split on commas that are outside brackets, braces and parentheses
 * and not escaped, so `^/a{1,3}$` and `[,;]` stay whole. Spaces inside an entry are kept.
 */
export function parsePatternList(raw: string | readonly string[]): string[] {
  const parts = typeof raw === 'string' ? [raw] : raw;
  const out: string[] = [];
  for (const p of parts) {
    let depth = 0;
    let inClass = false;
    let start = 0;
    for (let i = 0; i < p.length; i++) {
      const c = p[i];
      if (c === '\\') { i++; continue; }
      if (inClass) { if (c === ']') inClass = false; continue; }
      if (c === '[') inClass = true;
      else if (c === '(' || c === '{') depth++;
      else if ((c === ')' || c === '}') && depth > 0) depth--;
      else if (c === ',' && depth === 0) { out.push(p.slice(start, i)); start = i + 1; }
    }
    out.push(p.slice(start));
  }
  return out.map((s) => s.trim()).filter((s) => s !== '');
}
