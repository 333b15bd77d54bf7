import { OPTIONS, isSecret, type OptionGroup, type OptionSpec } from './options.js';
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
    '# you set. Precedence: command-line flag > environment variable > .env file > default.',
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

/** The README's option table, one row per option in table order. */
export function optionsMarkdownTable(): string {
  const rows = [
    '| Variable | Flag | Default | Description |',
    '| --- | --- | --- | --- |',
  ];
  for (const spec of OPTIONS) {
    const dflt = spec.default === '' ? '—' : `\`${cell(spec.default)}\``;
    rows.push(`| \`${cell(spec.env)}\` | \`${cell(spec.flag)}\` | ${dflt} | ${cell(spec.help)} |`);
  }
  return `${rows.join('\n')}\n`;
}

/** The text between the option-table markers of a README, or undefined when the markers are missing. */
export function textBetweenMarkers(doc: string): string | undefined {
  const start = doc.indexOf(OPTIONS_START_MARKER);
  const end = start < 0 ? -1 : doc.indexOf(OPTIONS_END_MARKER, start + OPTIONS_START_MARKER.length);
  if (start < 0 || end < 0) return undefined;
  return doc.slice(start + OPTIONS_START_MARKER.length, end);
}

/** `doc` with the text between the option-table markers replaced by `table`; throws without both markers. */
export function replaceBetweenMarkers(doc: string, table: string): string {
  const start = doc.indexOf(OPTIONS_START_MARKER);
  const end = start < 0 ? -1 : doc.indexOf(OPTIONS_END_MARKER, start + OPTIONS_START_MARKER.length);
  if (start < 0 || end < 0) {
    throw new Error(`README.md needs the markers ${OPTIONS_START_MARKER} and ${OPTIONS_END_MARKER}, in that order, around the option table`);
  }
  const body = table.endsWith('\n') ? table : `${table}\n`;
  return `${doc.slice(0, start + OPTIONS_START_MARKER.length)}\n${body}${doc.slice(end)}`;
}
