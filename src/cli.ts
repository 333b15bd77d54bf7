import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import dotenv from 'dotenv';
import { OPTIONS, OPTION_BY_NAME, defaultOf, type OptionSpec } from './config/options.js';
import { helpAllText, helpText } from './config/docs.js';
import { parseConfigFile, type ConfigFile } from './config/file.js';
import { foreignVariableProblems, mergeSources, unknownVariableWarnings, type RawOptions } from './config/load.js';
import { FOREIGN_OPTIONS, foreignOptionProblems } from './config/oauth2proxy.js';
import { parseListenAddress, validateConfig } from './config/validate.js';
import { validateAlphaConfig, type AlphaFile } from './config/alpha/read.js';
import { convertToAlpha } from './config/alpha/convert.js';
import { isDemoWanted, startDemo, type Demo } from './demo/demo.js';
import { demoBanner } from './demo/banner.js';
import { createLogger, standardLogger, stderrSink, viewStdoutWith } from './log.js';
import { demoLogView } from './terminallog.js';
import { startPortcullis } from './run.js';
import { ListenError } from './server/listen.js';
import { stopOnSignals, type Stoppable } from './server/stopping.js';
import { WorkerStartError, Workers, runWorker } from './server/workers.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function optionHelp(spec: OptionSpec): string {
  const dflt = spec.default === '' ? '' : `, default ${spec.default}`;
  return `${spec.help} [${spec.env}${dflt}]`;
}

/** The commander program, generated from the option table. */
export function buildProgram(): Command {
  const program = new Command('portcullis')
    .description('Identity-aware reverse proxy: OpenID Connect login in front of any web app (oauth2-proxy compatible).\nEvery option is also read from its OAUTH2_PROXY_* variable, from an oauth2-proxy TOML file (--config) and from a .env file; flags win over the environment, which wins over the config file, which wins over .env.')
    .version(pkg.version, '--version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help')
    .option('--config <path>', 'read options from an oauth2-proxy configuration file (TOML, snake_case names such as cookie_secret, email_domains = ["example.com"])')
    .option('--alpha-config <path>', 'read oauth2-proxy\'s alpha configuration (YAML: server, metricsServer, upstreamConfig, injectRequestHeaders, injectResponseHeaders, providers) beside the other options; a legacy option for a section the file holds stops start-up')
    .option('--convert-config-to-alpha', 'print the upstreams, headers, provider and listeners configured by flags, variables and --config as an alpha configuration file, and exit')
    .option('--env-file <path>', 'read OAUTH2_PROXY_* variables from this file (default: ./.env if present)')
    .option('--help-all', 'show every option in full and exit')
    .allowExcessArguments(false);
  // Commander's own help is one flat list; ours is grouped, essentials first, wrapped to the terminal (config/docs.ts).
  program.helpInformation = () => helpText(terminalWidth());
  return addOptionFlags(program);
}

/** The terminal's width, for --help; 80 when stdout is not a terminal. */
function terminalWidth(): number {
  return Math.min(process.stdout.columns || 80, 120);
}

/** Every option of the table as a flag of `program` (the proxy, and the commands that read its configuration). */
export function addOptionFlags(program: Command): Command {
  for (const spec of OPTIONS) {
    const o = spec.type === 'bool'
      ? new Option(`${spec.flag} [bool]`, optionHelp(spec))
      : new Option(`${spec.flag} <${spec.type === 'list' ? 'value' : spec.type === 'duration' ? 'duration' : 'value'}>`, optionHelp(spec));
    if (spec.type === 'list') o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    program.addOption(o);
  }
  // oauth2-proxy's flags that Portcullis lacks are parsed (not shown), so that the answer says why
  // each is refused or ignored rather than "unknown option".
  for (const f of FOREIGN_OPTIONS) {
    if (!f.flag) continue;
    const o = new Option(f.bool ? `${f.flag} [bool]` : `${f.flag} <value>`).hideHelp();
    if (!f.bool) o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    program.addOption(o);
  }
  return program;
}

/** The foreign flags given, keyed by oauth2-proxy's configuration name. */
export function foreignFlagValues(program: Command): Record<string, string | string[]> {
  const given = program.opts<Record<string, unknown>>();
  const out: Record<string, string | string[]> = {};
  for (const f of FOREIGN_OPTIONS) {
    if (!f.flag) continue;
    const v = given[f.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
    if (v !== undefined) out[f.name] = v === true ? 'true' : (v as string | string[]);
  }
  return out;
}

export function flagValues(program: Command): Record<string, string | string[]> {
  const given = program.opts<Record<string, unknown>>();
  const out: Record<string, string | string[]> = {};
  for (const spec of OPTIONS) {
    const key = spec.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = given[key];
    if (v === undefined) continue;
    out[spec.name] = v === true ? 'true' : (v as string | string[]);
  }
  return out;
}

function fail(lines: string[], warnings: string[] = []): never {
  const notes = warnings.map((w) => `  warning: ${w}\n`).join('');
  process.stderr.write(`portcullis: the configuration has ${lines.length} problem${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  - ${l}`).join('\n')}\n${notes}`);
  process.exit(2);
}

/** A listener that cannot bind, worded with the option's spelling the user used. */
function describeStartError(e: Error): string {
  const spec = OPTION_BY_NAME.get(e instanceof ListenError ? e.option : 'http_address')!;
  return `${process.env[spec.env] ? spec.env : spec.flag}: ${e.message}`;
}

export async function main(argv: readonly string[]): Promise<void> {
  // A cluster worker takes its configuration from the primary, never from argv, the environment or .env.
  if (cluster.isWorker) return runWorker(describeStartError);
  const program = buildProgram();
  program.parse([...argv]);
  if (program.opts<{ helpAll?: boolean }>().helpAll) {
    process.stdout.write(helpAllText(terminalWidth()));
    process.exit(0);
  }
  const envFileFlag = program.opts<{ envFile?: string }>().envFile;
  const envFile = envFileFlag ?? (existsSync('.env') ? '.env' : undefined);
  let fileVars: Record<string, string> = {};
  if (envFile) {
    try {
      fileVars = dotenv.parse(readFileSync(envFile));
    } catch (e) {
      fail([`--env-file: cannot read ${JSON.stringify(envFile)} (${(e as NodeJS.ErrnoException).code ?? String(e)})`]);
    }
  }
  const configPath = program.opts<{ config?: string }>().config;
  let configFile: ConfigFile = { values: {}, errors: [], warnings: [] };
  if (configPath !== undefined) {
    try {
      configFile = parseConfigFile(readFileSync(configPath, 'utf8'), configPath);
    } catch (e) {
      fail([`--config: cannot read ${JSON.stringify(configPath)} (${(e as NodeJS.ErrnoException).code ?? String(e)})`]);
    }
  }
  const raw: RawOptions = mergeSources({ flags: flagValues(program), env: process.env, config: configFile.values, dotenv: fileVars });
  const alphaPath = program.opts<{ alphaConfig?: string }>().alphaConfig;
  let alpha: AlphaFile | undefined;
  if (alphaPath !== undefined) {
    try {
      alpha = { text: readFileSync(alphaPath, 'utf8'), file: alphaPath };
    } catch (e) {
      fail([`--alpha-config: cannot read ${JSON.stringify(alphaPath)} (${(e as NodeJS.ErrnoException).code ?? String(e)})`]);
    }
  }
  if (program.opts<{ convertConfigToAlpha?: boolean }>().convertConfigToAlpha) {
    if (alpha) fail(['--convert-config-to-alpha converts the legacy options: leave out --alpha-config']);
    const converted = convertToAlpha(raw);
    if (!converted.ok) fail([...configFile.errors, ...converted.errors]);
    process.stdout.write(converted.yaml);
    return;
  }
  const foreign = [
    foreignOptionProblems(foreignFlagValues(program), { from: 'flag' }),
    foreignVariableProblems(process.env, 'environment'),
    foreignVariableProblems(fileVars, envFile ?? '.env'),
  ];
  const warnings = [
    ...unknownVariableWarnings(Object.keys(process.env), 'environment'),
    ...unknownVariableWarnings(Object.keys(fileVars), envFile ?? '.env'),
    ...configFile.warnings,
    ...foreign.flatMap((p) => p.warnings),
  ];

  let demo: Demo | undefined;
  if (!alpha && isDemoWanted(raw, process.env)) {
    const listenAddr = parseListenAddress(String(raw.http_address!.value)) ?? parseListenAddress(defaultOf('http_address'))!;
    try {
      demo = await startDemo(listenAddr, raw);
    } catch (e) {
      fail([(e as Error).message]);
    }
    for (const [name, value] of Object.entries(demo.overrides)) {
      if (raw[name]!.origin === 'default') raw[name] = { value, origin: 'demo' };
    }
  }

  const result = alpha ? validateAlphaConfig(raw, alpha) : validateConfig(raw);
  const errors = [
    ...configFile.errors,
    ...(result.ok ? [] : result.errors),
    ...foreign.flatMap((p) => p.errors),
  ];
  if (!result.ok || errors.length) {
    await demo?.close();
    fail(errors, [...warnings, ...result.warnings]);
  }
  // The demo in a terminal logs one readable line per request; its start-up warnings are in its banner.
  if (demo) viewStdoutWith(demoLogView({ pretty: process.stdout.isTTY === true, color: process.stdout.isTTY === true && !process.env.NO_COLOR }));
  // errors_to_info_log=false (oauth2-proxy's default): error lines go to stderr, the rest to stdout.
  const root = createLogger(result.config.logLevel, undefined, result.config.errorsToInfoLog ? {} : { errors: stderrSink() });
  const log = standardLogger(root, result.config.standardLogging);
  // The demo chose plain http itself; its banner says so in plain words.
  const foldedIntoBanner = (w: string): boolean => raw.cookie_secure!.origin === 'demo' && w.startsWith(`${OPTION_BY_NAME.get('cookie_secure')!.env}=false`);
  for (const w of [...warnings, ...result.warnings]) if (!foldedIntoBanner(w)) log.warn({ event: 'config_warning' }, w);

  const start = async (): Promise<Stoppable> => {
    // The demo runs two dev issuers: its configuration lists both providers.
    if (result.config.workers === 1) return startPortcullis(demo ? demo.withProviders(result.config) : result.config, root);
    const workers = new Workers(result.config, raw, log, alpha);
    await workers.start();
    return workers;
  };
  const running = await start().catch(async (e: Error) => {
    await demo?.close();
    fail(e instanceof WorkerStartError ? e.lines : [describeStartError(e)]);
  });

  if (demo) {
    const port = result.config.listen?.kind === 'tcp' ? result.config.listen.port : 4180;
    const readme = new URL('../../README.md', import.meta.url);
    process.stderr.write(demoBanner({
      url: `http://127.0.0.1:${port}/`, issuerUrl: demo.issuerUrl, partnerIssuerUrl: demo.partnerIssuerUrl, upstreamUrl: demo.upstreamUrl,
      readme: existsSync(readme) ? readme.href : undefined, columns: process.stderr.columns,
    }));
  }

  process.on('unhandledRejection', (reason) => log.error({ err: String(reason) }, 'unhandled rejection'));
  stopOnSignals(running, log, async () => { await demo?.close(); });
}
