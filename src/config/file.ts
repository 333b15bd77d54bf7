import { TomlError, parse } from 'smol-toml';
import { OPTIONS, OPTION_BY_NAME } from './options.js';
import { FOREIGN_BY_NAME, OAUTH2_PROXY_KEYS, foreignOptionProblems } from './oauth2proxy.js';
import { closest } from './values.js';

export interface ConfigFile {
  /** Values by option name, as the environment would give them (strings; lists as arrays). */
  readonly values: Record<string, string | string[]>;
  readonly errors: string[];
  readonly warnings: string[];
}

/**
 * oauth2-proxy's configuration file (`--config`): TOML, one flat table, keys in its snake_case names
 * (the option table's `name`), lists under their plural names. Values are taken as oauth2-proxy's
 * loader takes them: `cookie_secure = "false"` and `upstreams = "http://app"` (a string for a list)
 * are accepted, then checked by the same validation as flags and variables. `where` names the file
 * in messages.
 */
export function parseConfigFile(text: string, where: string): ConfigFile {
  const values: Record<string, string | string[]> = {};
  const errors: string[] = [];
  const warnings: string[] = [];
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    const detail = e instanceof TomlError ? `line ${e.line}, column ${e.column}: ${e.message.split('\n')[0]}` : String(e);
    return { values, errors: [`${where} is not valid TOML (${detail})`], warnings };
  }
  const known = OPTIONS.map((o) => o.name);
  const foreign: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(doc)) {
    const spec = OPTION_BY_NAME.get(key);
    if (!spec && isTable(value)) {
      errors.push(`[${key}] (${where}) is a table: the configuration file is flat, key = value lines (oauth2-proxy's alpha YAML configuration is read with --alpha-config)`);
      continue;
    }
    if (!spec) {
      if (FOREIGN_BY_NAME.has(key)) {
        foreign[key] = Array.isArray(value) ? value.map(String) : String(value);
      } else if (OAUTH2_PROXY_KEYS.has(key)) {
        warnings.push(`${key} (${where}) is an oauth2-proxy option Portcullis does not support; it is ignored`);
      } else {
        const hint = closest(key, [...known, ...OAUTH2_PROXY_KEYS]);
        errors.push(`${key} (${where}) is not an option${hint ? `; did you mean ${hint}?` : ''}`);
      }
      continue;
    }
    const scalar = (v: unknown): string | undefined => (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) ? String(v) : undefined);
    if (spec.type === 'list') {
      const items = Array.isArray(value) ? value.map(scalar) : [scalar(value)];
      if (items.every((i): i is string => i !== undefined)) values[key] = items;
      else errors.push(`${key} (${where}): expected a list of strings, such as ${key} = ["a", "b"]`);
    } else {
      const v = scalar(value);
      if (v !== undefined) values[key] = v;
      else errors.push(`${key} (${where}): expected a single value${spec.type === 'bool' ? ' (true or false)' : ' in quotes'}, not ${Array.isArray(value) ? 'a list' : 'a table'}`);
    }
  }
  // Refused as from the environment: ignoring an access restriction would let in everyone the other rules allow.
  const problems = foreignOptionProblems(foreign, { from: 'config', where });
  return { values, errors: [...errors, ...problems.errors], warnings: [...warnings, ...problems.warnings] };
}

function isTable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}
