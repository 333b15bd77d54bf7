import { extname } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { RoutePolicies, underPrefix, type Requirements, type RouteRule, type StepUp } from '../../access/routepolicies.js';
import { compilePattern } from '../../access/routes.js';
import { describeOrigin } from '../load.js';
import type { OptionReader } from '../reader.js';
import { closest } from '../values.js';
import type { RoutesFilePart } from '../types.js';

export type { RoutesFilePart };

const RULE_KEYS = ['id', 'match', 'allow', 'require'];
const MATCH_KEYS = ['path', 'regex', 'methods'];
const REQUIRE_KEYS = ['groups', 'email_domains', 'claims', 'provider', 'acr_values', 'max_age'];
const ALLOW = ['anonymous', 'authenticated'];

/** Where a value sits in the file, for messages: "rule 2 (id "admin", line 7), require.max_age". */
type Say = (field: string, got: unknown, expected: string) => void;

/**
 * routes_file: per-route policies, YAML or JSON (by the extension, else by the first character).
 * Every problem is reported, each with the file, the rule (number, id and line), the field and the
 * form expected; start-up stops on any of them, so no rule is ever half understood.
 */
export function validateRoutesFile(r: OptionReader): RoutesFilePart {
  const file = r.str('routes_file');
  if (file === '') return {};
  const where = `${describeOrigin(r.spec('routes_file'), r.raw.routes_file!.origin)} (${file})`;
  let text: string;
  try {
    text = r.readFile(file);
  } catch (e) {
    r.fail('routes_file', `a readable YAML or JSON rules file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    return {};
  }
  const parsed = parseRulesText(text, file);
  if ('error' in parsed) {
    r.errors.push(`${where}: ${parsed.error}`);
    return {};
  }
  const before = r.errors.length;
  const rules = rulesFrom(parsed.doc, parsed.lines, where, r.errors, r.warnings);
  if (r.errors.length > before) return {};
  const policies = new RoutePolicies(rules);
  if (policies.stepsUp && r.str('oidc_issuer_url') === '') {
    r.warnings.push(`${where}: rules ask for acr_values or max_age, which only a verified ID token tells (acr, auth_time); without OAUTH2_PROXY_OIDC_ISSUER_URL those routes refuse everyone`);
  }
  return { routePolicies: policies };
}

type Parsed = { doc: Document; lines: LineCounter } | { error: string };

/** JSON for .json (or text that starts with `{`), strictly; YAML otherwise. Both are read into one document model for line numbers. */
function parseRulesText(text: string, file: string): Parsed {
  const ext = extname(file).toLowerCase();
  const json = ext === '.json' || (ext !== '.yaml' && ext !== '.yml' && /^\s*[{[]/.test(text));
  if (json) {
    try {
      JSON.parse(text);
    } catch (e) {
      return { error: `not valid JSON (${(e as Error).message})` };
    }
  }
  const lines = new LineCounter();
  // YAML 1.2's core schema: `no` and `on` stay strings. A key given twice is an error, not the last one winning.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const problem = doc.errors[0];
  if (problem) {
    const at = lines.linePos(problem.pos[0]);
    return { error: `not valid ${json ? 'JSON' : 'YAML'} (line ${at.line}, column ${at.col}: ${problem.message.split('\n')[0]})` };
  }
  return { doc, lines };
}

function rulesFrom(doc: Document, lines: LineCounter, where: string, errors: string[], warnings: string[]): RouteRule[] {
  const top: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!isMapping(top) || !Array.isArray(top.rules)) {
    errors.push(`${where}: expected a mapping with a list of rules, such as\n  rules:\n    - match: { path: /admin }\n      require: { groups: [admins] }`);
    return [];
  }
  for (const key of Object.keys(top)) {
    if (key !== 'rules') errors.push(`${where}: unknown top-level key ${JSON.stringify(key)} (the file has one key, rules)`);
  }
  if (top.rules.length === 0) warnings.push(`${where}: the rules list is empty; every route follows the global rules`);
  const ids = new Map<string, number>();
  const rules: RouteRule[] = [];
  top.rules.forEach((raw: unknown, i: number) => {
    const offset = (doc.getIn(['rules', i], true) as { range?: [number, number, number] } | undefined)?.range?.[0];
    const line = offset === undefined ? undefined : lines.linePos(offset).line;
    const id = isMapping(raw) && typeof raw.id === 'string' ? raw.id : undefined;
    const about = [...(id !== undefined ? [`id ${JSON.stringify(id)}`] : []), ...(line !== undefined ? [`line ${line}`] : [])];
    const label = `rule ${i + 1}${about.length ? ` (${about.join(', ')})` : ''}`;
    const say: Say = (field, got, expected) => errors.push(`${where}: ${label}, ${field}: got ${shown(got)}, expected ${expected}`);
    const rule = ruleFrom(raw, i, say);
    if (id !== undefined) {
      const first = ids.get(id);
      if (first !== undefined) say('id', id, `an id no other rule has (rule ${first + 1} has it too)`);
      else ids.set(id, i);
    }
    if (rule) rules.push(rule);
  });
  warnShadowed(rules, where, warnings);
  return rules;
}

function ruleFrom(raw: unknown, i: number, say: Say): RouteRule | undefined {
  if (!isMapping(raw)) {
    say('the rule', raw, 'a mapping with match and either allow or require');
    return undefined;
  }
  let ok = true;
  const fail: Say = (f, g, e) => { ok = false; say(f, g, e); };
  unknownKeys(raw, RULE_KEYS, '', fail);
  const id = raw.id;
  if (id !== undefined && (typeof id !== 'string' || id === '' || id.length > 100)) fail('id', id, 'a name of 1 to 100 characters');

  let prefix: string | undefined;
  let pattern: RegExp | undefined;
  let methods: Set<string> | undefined;
  const match = raw.match;
  if (!isMapping(match)) {
    fail('match', match, 'a mapping with path (a prefix such as /admin) or regex, and optionally methods');
  } else {
    const strays = unknownKeys(match, MATCH_KEYS, 'match.', fail);
    if (match.path === undefined && match.regex === undefined && strays > 0) {
      // a misspelt path or regex: said once, by the unknown field
    } else if ((match.path === undefined) === (match.regex === undefined)) {
      fail('match', match, 'exactly one of path (a prefix such as /admin) and regex (such as ^/reports/[0-9]+$)');
    } else if (match.path !== undefined) {
      prefix = pathPrefix(match.path, fail);
    } else {
      pattern = anchoredPattern(match.regex, fail);
    }
    if (match.methods !== undefined) {
      const list = Array.isArray(match.methods) ? match.methods : [match.methods];
      if (list.length === 0 || !list.every((m) => typeof m === 'string' && /^[A-Za-z]+$/.test(m))) {
        fail('match.methods', match.methods, 'a list of HTTP methods such as [GET, HEAD] (leave it out for any method)');
      } else {
        methods = new Set(list.map((m: string) => m.toUpperCase()));
      }
    }
  }

  let anonymous = false;
  let require: Requirements | undefined;
  if ((raw.allow === undefined) === (raw.require === undefined)) {
    fail('allow/require', raw.allow ?? raw.require, 'exactly one of allow (anonymous or authenticated) and require (groups, email_domains, claims, provider, acr_values, max_age)');
  } else if (raw.allow !== undefined) {
    if (typeof raw.allow !== 'string' || !ALLOW.includes(raw.allow)) fail('allow', raw.allow, 'anonymous (no login) or authenticated (any signed-in user the global rules let in)');
    anonymous = raw.allow === 'anonymous';
  } else {
    require = requirementsFrom(raw.require, fail);
  }
  if (!ok) return undefined;
  return { id: typeof id === 'string' ? id : `#${i + 1}`, methods, prefix, pattern, anonymous, require };
}

function requirementsFrom(raw: unknown, fail: Say): Requirements | undefined {
  if (!isMapping(raw) || Object.keys(raw).length === 0) {
    fail('require', raw, `a mapping with at least one of ${REQUIRE_KEYS.join(', ')}`);
    return undefined;
  }
  unknownKeys(raw, REQUIRE_KEYS, 'require.', fail);
  const out: { -readonly [K in keyof Requirements]: Requirements[K] } = {};
  if (raw.groups !== undefined) {
    const groups = stringList(raw.groups);
    if (!groups) fail('require.groups', raw.groups, 'a list of group names, one of which the user must have, such as [admins]');
    else out.groups = new Set(groups);
  }
  if (raw.provider !== undefined) {
    const ids = typeof raw.provider === 'string' ? [raw.provider] : stringList(raw.provider);
    if (!ids || ids.length === 0) fail('require.provider', raw.provider, 'a list of provider ids (alpha providers[].id), one of which the user must have signed in with, such as [staff]');
    else out.providers = new Set(ids);
  }
  if (raw.email_domains !== undefined) {
    const domains = stringList(raw.email_domains);
    if (!domains || !domains.every((d) => d === '*' || /^(\*\.|\.)?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(d))) {
      fail('require.email_domains', raw.email_domains, 'a list of email domains as email_domains takes them: example.com, .example.com or *.example.com');
    } else {
      out.emailDomains = domains.map((d) => d.toLowerCase());
    }
  }
  if (raw.claims !== undefined) {
    const claims: Array<{ name: string; values: Set<string> }> = [];
    if (!isMapping(raw.claims) || Object.keys(raw.claims).length === 0) {
      fail('require.claims', raw.claims, 'a mapping of claim names to the values accepted, such as { department: [eng, ops] }');
    } else {
      for (const [name, v] of Object.entries(raw.claims)) {
        const values = scalarList(v);
        if (!/^[A-Za-z0-9_:.$-]{1,100}$/.test(name)) fail(`require.claims.${name}`, name, 'a claim name, or a dot-separated path into nested claims (letters, digits, _ : . $ -)');
        else if (!values) fail(`require.claims.${name}`, v, 'a list of accepted values (strings, numbers or true/false), such as [eng, ops]');
        else claims.push({ name, values: new Set(values) });
      }
      out.claims = claims;
    }
  }
  const stepUp: { acrValues?: string[]; maxAgeS?: number } = {};
  if (raw.acr_values !== undefined) {
    // OIDC writes acr_values space-separated: a string is split on spaces, a list is taken as it is.
    const values = typeof raw.acr_values === 'string' ? raw.acr_values.split(' ').filter(Boolean) : stringList(raw.acr_values);
    if (!values || values.length === 0 || values.some((v) => /[\s"\\]/.test(v) || /[\x00-\x1f\x7f]/.test(v))) {
      fail('require.acr_values', raw.acr_values, 'a list of acr values, any of which will do, such as [urn:example:mfa] (no spaces, quotes or backslashes in a value)');
    } else {
      stepUp.acrValues = values;
    }
  }
  if (raw.max_age !== undefined) {
    if (typeof raw.max_age !== 'number' || !Number.isSafeInteger(raw.max_age) || raw.max_age < 1) {
      fail('require.max_age', raw.max_age, 'a whole number of seconds of at least 1, such as 300: how long ago the user may have signed in');
    } else {
      stepUp.maxAgeS = raw.max_age;
    }
  }
  if (stepUp.acrValues || stepUp.maxAgeS !== undefined) out.stepUp = stepUp as StepUp;
  return out;
}

/**
 * `match.path`: a prefix written as the decoded path reads (so no `%`), without anything that never
 * reaches a rule (query, fragment, dot segments, `;`, `//`: such paths are read otherwise).
 */
function pathPrefix(v: unknown, fail: Say): string | undefined {
  const ok = typeof v === 'string' && v.startsWith('/') && !/[\s?#%;\\\x00-\x1f\x7f]/.test(v) && !v.includes('//')
    && !v.split('/').some((seg) => seg === '.' || seg === '..');
  if (!ok) {
    fail('match.path', v, 'a path prefix starting with /, written decoded (no %, ?, #, ;, //, . or .. segments), such as /admin');
    return undefined;
  }
  return v as string;
}

/** `match.regex`, with oauth2-proxy's Go spellings translated (access/routes.ts), matched against the whole path. */
function anchoredPattern(v: unknown, fail: Say): RegExp | undefined {
  if (typeof v !== 'string' || v === '') {
    fail('match.regex', v, 'a regular expression matched against the whole decoded path, such as ^/reports/[0-9]+$');
    return undefined;
  }
  const compiled = compilePattern(v);
  if ('error' in compiled) {
    fail('match.regex', v, `a regular expression that compiles (${compiled.error})`);
    return undefined;
  }
  // Anchored at both ends: `/admin` is the path /admin, never /x/admin or /admin-old.
  return new RegExp(`^(?:${compiled.source})$`, compiled.flags);
}

/**
 * A later rule an earlier one always wins over (first match wins): an earlier prefix that covers
 * it, for at least its methods. Likely a rule file in the wrong order (`/` first), so said at start.
 */
function warnShadowed(rules: readonly RouteRule[], where: string, warnings: string[]): void {
  rules.forEach((later, j) => {
    if (later.prefix === undefined) return;
    const earlier = rules.slice(0, j).find((e) => e.prefix !== undefined && underPrefix(later.prefix!, e.prefix)
      && (!e.methods || (later.methods !== undefined && [...later.methods].every((m) => e.methods!.has(m)))));
    if (earlier) warnings.push(`${where}: rule ${later.id} can never match: rule ${earlier.id} (path ${earlier.prefix}) comes first and covers every request it would (the first rule that matches decides; put the narrower rule first)`);
  });
}

/** Reports fields the rule format does not have, with the likely one meant; returns how many. */
function unknownKeys(o: Record<string, unknown>, known: readonly string[], prefix: string, say: Say): number {
  let n = 0;
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    n++;
    // A field one level off (methods beside match, groups beside require) is the common slip.
    const nested = prefix === '' ? (MATCH_KEYS.includes(key) ? `match.${key}` : REQUIRE_KEYS.includes(key) ? `require.${key}` : undefined) : undefined;
    const hint = nested ?? (closest(key, known) && prefix + closest(key, known)!);
    say(`${prefix}${key}`, key, hint ? `a known field (did you mean ${hint}?)` : `one of the fields ${known.map((k) => prefix + k).join(', ')}`);
  }
  return n;
}

/** A list of non-empty strings; a single string is a list of one. */
function stringList(v: unknown): string[] | undefined {
  const list = Array.isArray(v) ? v : [v];
  return list.length > 0 && list.every((x) => typeof x === 'string' && x !== '') ? list as string[] : undefined;
}

/** Claim values: strings, numbers and booleans, compared as strings. */
function scalarList(v: unknown): string[] | undefined {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || !list.every((x) => (typeof x === 'string' && x !== '') || typeof x === 'number' || typeof x === 'boolean')) return undefined;
  return list.map(String);
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  let text: string;
  try { text = JSON.stringify(v) ?? String(v); } catch { text = String(v); }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
