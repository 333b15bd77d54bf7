import { OPTIONS, isSecret, type OptionSpec } from './options.js';
import { FOREIGN_OPTIONS, foreignOptionProblems } from './oauth2proxy.js';
import { closest } from './values.js';

const FOREIGN_VARIABLES = new Set(FOREIGN_OPTIONS.map((o) => o.env));
const isForeignVariable = (name: string): boolean => FOREIGN_VARIABLES.has(name);

/** One option's value as given, with where it came from (for messages that name what to change). */
export interface RawValue {
  readonly value: string | readonly string[];
  readonly origin: 'flag' | 'env' | 'config' | 'dotenv' | 'default' | 'demo' | 'alpha';
  /** Set for a value from the alpha configuration: its key there, `providers[0].clientID (line 7 of FILE)`. */
  readonly where?: string;
}
export type RawOptions = Record<string, RawValue>;

export interface Sources {
  /** Flag values keyed by option name (only flags the user gave). */
  readonly flags: Readonly<Record<string, string | readonly string[]>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Values from the --config file, keyed by option name. */
  readonly config?: Readonly<Record<string, string | readonly string[]>>;
  readonly dotenv: Readonly<Record<string, string>>;
}

/** Precedence: flag > environment > config file > .env file > default. */
export function mergeSources(src: Sources): RawOptions {
  const raw: RawOptions = {};
  for (const spec of OPTIONS) {
    const flag = src.flags[spec.name];
    const env = src.env[spec.env];
    const dot = src.dotenv[spec.env];
    const file = src.config?.[spec.name];
    if (flag !== undefined) raw[spec.name] = { value: flag, origin: 'flag' };
    else if (env !== undefined) raw[spec.name] = { value: env, origin: 'env' };
    else if (file !== undefined) raw[spec.name] = { value: file, origin: 'config' };
    else if (dot !== undefined) raw[spec.name] = { value: dot, origin: 'dotenv' };
    else raw[spec.name] = { value: spec.default, origin: 'default' };
  }
  return raw;
}

/**
 * Warnings for variables that look meant for Portcullis and that no option reads: usually a typo that
 * silently does nothing. That covers a misspelt prefix too (Crossid's article sets OAUTH_PROXY_VALIDATE,
 * which oauth2-proxy ignores without a word).
 */
export function unknownVariableWarnings(names: Iterable<string>, where: string): string[] {
  const known = OPTIONS.map((o) => o.env);
  const knownSet = new Set(known);
  const out: string[] = [];
  for (const name of names) {
    if (name.startsWith('OAUTH2_PROXY_')) {
      if (knownSet.has(name) || isForeignVariable(name)) continue;
      const hint = closest(name, known);
      out.push(`${name} (${where}) is not an option Portcullis knows${hint ? `; did you mean ${hint}?` : ''}`);
      continue;
    }
    const prefix = MISSPELT_PREFIX.exec(name);
    if (!prefix) continue;
    const meant = `OAUTH2_PROXY_${name.slice(prefix[0].length).toUpperCase()}`;
    const hint = knownSet.has(meant) ? meant : closest(meant, known);
    out.push(`${name} (${where}) is ignored: Portcullis, like oauth2-proxy, reads only variables that start with OAUTH2_PROXY_${hint ? `; did you mean ${hint}?` : ''}`);
  }
  return out;
}

/** OAUTH_PROXY_, OAUTH2PROXY_, oauth2_proxy_ and the like; the exact OAUTH2_PROXY_ is handled before. */
const MISSPELT_PREFIX = /^OAUTH2?[_-]?PROXY[_-]/i;

/**
 * oauth2-proxy's options that Portcullis does not have, as variables (oauth2proxy.ts): errors for
 * those that would change who may sign in or where logs go, warnings for the rest.
 */
export function foreignVariableProblems(vars: Readonly<Record<string, string | undefined>>, where: string): { errors: string[]; warnings: string[] } {
  return foreignOptionProblems(vars, { from: 'env', where });
}

/** How a message names an option: the spelling the user actually used. */
export function describeOrigin(spec: OptionSpec, origin: RawValue['origin']): string {
  switch (origin) {
    case 'flag': return spec.flag;
    case 'dotenv': return `${spec.env} (from the .env file)`;
    case 'config': return `${spec.name} (in the --config file)`;
    case 'alpha': return `${spec.name} (from the --alpha-config file)`;
    case 'env': return spec.env;
    default: return `${spec.env} / ${spec.flag}`;
  }
}

/** The value as it may appear in a message: secrets show only their length. */
export function displayValue(spec: OptionSpec, value: string | readonly string[]): string {
  const text = typeof value === 'string' ? value : value.join(',');
  if (isSecret(spec)) return text === '' ? '(empty)' : `(hidden, ${text.length} characters)`;
  return JSON.stringify(text);
}
