import { OPTIONS, isSecret, type OptionGroup, type OptionSpec } from './options.js';
import { OAUTH2_PROXY_KEYS } from './oauth2proxy.js';
import { COOKIE_SECRET_HINT } from './secret.js';

/**
 * Documentation generated from the option table: `.env.example` and docs/configuration.md's option table.
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

/** The configuration reference's option table (docs/configuration.md), one row per option in table order. */
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

/** The text between a pair of markers of a page (the option table by default), or undefined when they are missing. */
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
    throw new Error(`the page needs the markers ${open} and ${close}, in that order, around the generated table`);
  }
  const body = table.endsWith('\n') ? table : `${table}\n`;
  return `${doc.slice(0, start + open.length)}\n${body}${doc.slice(end)}`;
}

/** The options a first deployment sets, shown first in `--help`, in the order they are usually written. */
export const ESSENTIAL_OPTIONS = ['upstreams', 'oidc_issuer_url', 'client_id', 'client_secret', 'client_secret_file', 'redirect_url', 'cookie_secret', 'email_domains', 'http_address'] as const;

/**
 * `text` broken at spaces into lines of at most `width` characters, the first indented `first`
 * spaces, the others `rest`. A word longer than a line (a URL) is cut, so no line is ever longer.
 */
export function wrapText(text: string, width: number, first = 0, rest = first): string[] {
  const lines: string[] = [];
  let line = ' '.repeat(first);
  let empty = true;
  for (let word of text.split(/\s+/).filter(Boolean)) {
    for (;;) {
      const room = width - line.length - (empty ? 0 : 1);
      if (word.length <= room) {
        line += (empty ? '' : ' ') + word;
        empty = false;
        break;
      }
      if (!empty) { lines.push(line); line = ' '.repeat(rest); empty = true; continue; }
      // Alone on its line and still too long: cut it.
      line += word.slice(0, room);
      word = word.slice(room);
      lines.push(line);
      line = ' '.repeat(rest);
    }
  }
  if (!empty || lines.length === 0) lines.push(line.trimEnd());
  return lines;
}

/** The flag as `--help` writes it, with what it takes. */
function flagWithArgument(spec: OptionSpec): string {
  if (spec.type === 'bool') return `${spec.flag} [bool]`;
  return `${spec.flag} <${spec.type === 'duration' ? 'duration' : spec.type === 'list' ? 'list' : 'value'}>`;
}

/**
 * The first clause of an option's help, without oauth2-proxy compatibility remarks: what `--help`
 * shows; `--help-all` has the whole text.
 */
export function optionSummary(spec: OptionSpec): string {
  let h = spec.help.replace(/^Portcullis addition(?: \([^)]*\))?:\s*/i, '');
  // Parenthetical remarks (oauth2-proxy's default, an example, a unit) are for --help-all.
  for (let prev = ''; prev !== h;) { prev = h; h = h.replace(/\s+\([^()]*\)/g, ''); }
  const end = /;\s|(?<!\be\.g|\bi\.e|\betc)\.\s/.exec(h);
  return end && end.index >= 16 ? h.slice(0, end.index) : h;
}

/** One option as a help entry: the flag, then its text beside it (or below, for a long flag). */
function entry(flag: string, text: string, width: number): string[] {
  const col = Math.min(32, Math.max(20, Math.floor(width * 0.38)));
  if (flag.length + 4 <= col) {
    const lines = wrapText(text, width, col, col);
    lines[0] = `  ${flag}`.padEnd(col) + lines[0]!.slice(col);
    return lines;
  }
  return [`  ${flag}`.slice(0, width), ...wrapText(text, width, 8, 8)];
}

function heading(title: string): string[] {
  return ['', title];
}

/** The lines before the options, the same in `--help` and `--help-all`. */
function helpIntro(width: number): string[] {
  const w = (t: string, first = 0, rest = first): string[] => wrapText(t, width, first, rest);
  return [
    'Usage: portcullis [options]',
    '',
    ...w('Identity-aware reverse proxy: OpenID Connect sign-in in front of any web app, configured like oauth2-proxy (same flags, OAUTH2_PROXY_* variables and /oauth2/* endpoints).'),
    '',
    'Try it:',
    ...w('Run portcullis with no issuer configured (and NODE_ENV not production): a demo starts on http://127.0.0.1:4180/ with a stand-in identity provider and an echo app.', 2, 2),
    '',
    'Quick start:',
    '  portcullis --upstream http://127.0.0.1:8080/ \\',
    '    --oidc-issuer-url https://login.example.com/ \\',
    '    --client-id my-app --client-secret-file /run/secrets/client \\',
    '    --cookie-secret "$(openssl rand -base64 32 | tr -- \'+/\' \'-_\')" \\',
    '    --email-domain example.com',
  ];
}

const OTHER_COMMANDS = [
  ['portcullis sessions revoke --sub SUBJECT | --sid SID', 'end sessions on every replica that shares the store'],
  ['portcullis healthcheck', 'exit 0 when /ping on http_address answers (the container HEALTHCHECK)'],
] as const;

function helpOutro(width: number, all: boolean): string[] {
  const lines = [
    ...heading('Other commands'),
    ...OTHER_COMMANDS.flatMap(([c, t]) => [`  ${c}`.slice(0, width), ...wrapText(t, width, 6, 6)]),
    '',
    ...wrapText('Every option is also read from its OAUTH2_PROXY_* variable, an oauth2-proxy TOML file (--config) and a .env file; flags win over the environment, which wins over the config file, which wins over .env.', width),
  ];
  if (all) {
    lines.push('', ...wrapText("oauth2-proxy's options of its other providers (GitHub, Google, Azure/Entra, GitLab, Bitbucket, Keycloak groups, login.gov) and of log files are recognised, and refused with the reason.", width));
  } else {
    lines.push('', ...wrapText('portcullis --help-all: every option in full, with its variable, its default and how it compares with oauth2-proxy. docs/configuration.md has the same table.', width));
  }
  return lines;
}

/**
 * `--help`: the demo and a quick start first, then the essential options, then every other option
 * by its group in one line of summary; wrapped to `width` columns (the terminal's).
 */
export function helpText(width = 80): string {
  width = Math.max(60, width);
  const lines = helpIntro(width);
  const essential = new Set<string>(ESSENTIAL_OPTIONS);
  lines.push(...heading('Essential options'));
  for (const name of ESSENTIAL_OPTIONS) {
    const spec = OPTIONS.find((s) => s.name === name)!;
    lines.push(...entry(flagWithArgument(spec), `${optionSummary(spec)} [${spec.env}]`, width));
  }
  for (const [group, specs] of groups()) {
    lines.push(...heading(group));
    for (const spec of specs) if (!essential.has(spec.name)) lines.push(...entry(flagWithArgument(spec), optionSummary(spec), width));
  }
  lines.push(...heading('Commands and files'));
  lines.push(...entry('--config <path>', 'read options from an oauth2-proxy configuration file (TOML)', width));
  lines.push(...entry('--env-file <path>', 'read OAUTH2_PROXY_* variables from this file (default: ./.env)', width));
  lines.push(...entry('--version', 'print the version and exit', width));
  lines.push(...entry('-h, --help', 'show this help', width));
  lines.push(...entry('--help-all', 'every option in full', width));
  lines.push(...helpOutro(width, false));
  return `${lines.join('\n')}\n`;
}

/** `--help-all`: every option's whole text, with its variable and default, by group. */
export function helpAllText(width = 80): string {
  width = Math.max(60, width);
  const lines = helpIntro(width);
  for (const [group, specs] of groups()) {
    lines.push(...heading(group));
    for (const spec of specs) {
      const dflt = spec.default === '' ? '' : `, default ${spec.default}`;
      lines.push(`  ${flagWithArgument(spec)}`.slice(0, width), ...wrapText(`${spec.help} [${spec.env}${dflt}]`, width, 6, 6));
    }
  }
  lines.push(...heading('Commands and files'));
  lines.push(`  --config <path>`, ...wrapText('read options from an oauth2-proxy configuration file (TOML, snake_case names such as cookie_secret, email_domains = ["example.com"])', width, 6, 6));
  lines.push(`  --env-file <path>`, ...wrapText('read OAUTH2_PROXY_* variables from this file (default: ./.env if present)', width, 6, 6));
  lines.push(...helpOutro(width, true));
  return `${lines.join('\n')}\n`;
}
