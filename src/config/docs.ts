import { OPTIONS, isSecret, type OptionGroup, type OptionSpec } from './options.js';
import { OAUTH2_PROXY_KEYS } from './oauth2proxy.js';
import { COOKIE_SECRET_HINT } from './secret.js';

/**
 * Documentation generated from the option table: `.env.example` and the README's option table.
 * `npm run docs` writes them and test/docs.test.ts fails when the committed copies drift.
 */

export const OPTIONS_START_MARKER = '<!-- options:start -->';
export const OPTIONS_END_MARKER = '<!-- options:end -->';

function groups(): Array<[OptionGroup, OptionSpec[]]> {
  const out = new Map<OptionGroup, OptionSpec[]>();
  for (const spec of OPTIONS) {
    const list = out.get(spec.group) ?? [];
    list.push(spec);
    out.set(spec.group, list);
  }
  return [...out];
}

/** A value as dotenv reads it back unchanged: quoted when it holds spaces, quotes or `#`. */
function dotenvValue(v: string): string {
  return /[\s"'#`]/.test(v) ? `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : v;
}

/** The sample value: nothing for a secret (a copied secret is a shared secret), else placeholder or default. */
function sampleValue(spec: OptionSpec): string {
  if (isSecret(spec)) return '';
  return dotenvValue(spec.placeholder ?? spec.default);
}

/** The full text of `.env.example`. */
export function envExample(): string {
  const lines = [
    '# Portcullis configuration: every OAUTH2_PROXY_* variable it reads, with its default.',
    '# GENERATED from src/config/options.ts by `npm run docs`: edit the option table, not this file.',
    '#',
    '# Copy it to .env (read from the working directory, or pass --env-file <path>) and uncomment what',
    '# you set. Precedence: command-line flag > environment variable > --config file > .env file > default.',
    '# The same names work in oauth2-proxy, so an existing oauth2-proxy .env carries over.',
    '#',
    '# Required for a real deployment: OIDC_ISSUER_URL, CLIENT_ID, CLIENT_SECRET (or CLIENT_SECRET_FILE),',
    '# COOKIE_SECRET and EMAIL_DOMAINS. With no issuer configured (and NODE_ENV not production),',
    '# `npm start` runs a self-contained demo instead.',
    '#',
    `# Cookie secret: ${COOKIE_SECRET_HINT}`,
    '# Secrets are left empty here on purpose: never commit one.',
  ];
  for (const [group, specs] of groups()) {
    lines.push('', `# ── ${group} ──`);
    for (const spec of specs) {
      const dflt = spec.default === '' ? 'none' : spec.default;
      lines.push(`# ${spec.help} (flag ${spec.flag}; default ${dflt})`);
      lines.push(`#${spec.env}=${sampleValue(spec)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `|` would end a Markdown table cell; a newline would end the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Where an option's name comes from: oauth2-proxy's (same flag, variable and key), or Portcullis's own addition. */
export function optionOrigin(spec: OptionSpec): 'oauth2-proxy' | 'Portcullis' {
  return OAUTH2_PROXY_KEYS.has(spec.name) ? 'oauth2-proxy' : 'Portcullis';
}

/** The README's option table, one row per option in table order. */
export function optionsMarkdownTable(): string {
  const rows = [
    '| Variable | Flag | Default | Origin | Description |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const spec of OPTIONS) {
    const dflt = spec.default === '' ? '—' : `\`${cell(spec.default)}\``;
    const origin = optionOrigin(spec) === 'oauth2-proxy' ? 'oauth2-proxy' : '**Portcullis**';
    rows.push(`| \`${cell(spec.env)}\` | \`${cell(spec.flag)}\` | ${dflt} | ${origin} | ${cell(spec.help)} |`);
  }
  return `${rows.join('\n')}\n`;
}

export const ERRORS_MARKERS = ['<!-- errors:start -->', '<!-- errors:end -->'] as const;
const OPTIONS_MARKERS = [OPTIONS_START_MARKER, OPTIONS_END_MARKER] as const;

/** The text between a pair of markers of a README (the option table by default), or undefined when they are missing. */
export function textBetweenMarkers(doc: string, [open, close]: readonly [string, string] = OPTIONS_MARKERS): string | undefined {
  const start = doc.indexOf(open);
  const end = start < 0 ? -1 : doc.indexOf(close, start + open.length);
  if (start < 0 || end < 0) return undefined;
  return doc.slice(start + open.length, end);
}

/** `doc` with the text between the markers replaced by `table`; throws without both markers. */
export function replaceBetweenMarkers(doc: string, table: string, [open, close]: readonly [string, string] = OPTIONS_MARKERS): string {
  const start = doc.indexOf(open);
  const end = start < 0 ? -1 : doc.indexOf(close, start + open.length);
  if (start < 0 || end < 0) {
    throw new Error(`README.md needs the markers ${open} and ${close}, in that order, around the generated table`);
  }
  const body = table.endsWith('\n') ? table : `${table}\n`;
  return `${doc.slice(0, start + open.length)}\n${body}${doc.slice(end)}`;
}
