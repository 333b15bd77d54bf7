// Checks for deployment recipes that cannot run here (no Docker engine, no cluster, no Traefik):
// each one reads a recipe as written and returns every problem it finds, as a sentence naming the
// place, so that a test asserts an empty list and a broken recipe shows what to fix.
import { readFileSync } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { parseAllDocuments, parseDocument } from 'yaml';
import { OPTIONS, defaultOf, type OptionSpec } from '../../src/config/options.js';
import { foreignVariableProblems, mergeSources, unknownVariableWarnings } from '../../src/config/load.js';
import { parseListenAddress, validateConfig, type Config } from '../../src/config/validate.js';
import { OWNED_IDENTITY_HEADERS } from '../../src/upstream/identity.js';
import { REPO } from './proxy.js';

export type Env = Record<string, string>;
type Obj = Record<string, unknown>;

const BY_ENV = new Map<string, OptionSpec>(OPTIONS.map((o) => [o.env, o]));
/** Secret options (type 'secret') with the option that reads the same secret from a file, if any (client_secret_file). */
const SECRET_OPTIONS = OPTIONS.filter((o) => o.type === 'secret');
const FILE_FORM = new Map(SECRET_OPTIONS.flatMap((s) => {
  const f = OPTIONS.find((o) => o.name === `${s.name}_file`);
  return f ? [[f.env, s] as const] : [];
}));
/** Made-up values a placeholder secret takes when a recipe's environment goes through the loader. */
export const PLACEHOLDER_SECRET = 'placeholder-secret-0123456789abcdef';
export const PLACEHOLDER_COOKIE_SECRET = Buffer.alloc(32, 7).toString('base64url');
const placeholderFor = (env: string): string => (env.includes('COOKIE_SECRET') ? PLACEHOLDER_COOKIE_SECRET : PLACEHOLDER_SECRET);

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The image as the Dockerfile builds it: its tag (from the build line in its header), its ENV and EXPOSE. */
export interface Image { readonly tag: string; readonly env: Env; readonly exposed: number[]; readonly healthcheck: string[] }
export function dockerImage(text = readFileSync(join(REPO, 'Dockerfile'), 'utf8')): Image {
  const tag = /docker build -t (\S+) \./.exec(text)?.[1] ?? '';
  const env: Env = {};
  for (const m of text.matchAll(/^ENV (\w+)=(\S+)$/gm)) env[m[1]!] = m[2]!;
  const exposed = [...text.matchAll(/^EXPOSE (\d+)$/gm)].map((m) => Number(m[1]));
  const hc = /HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])/.exec(text)?.[1];
  return { tag, env, exposed, healthcheck: hc ? JSON.parse(hc) as string[] : [] };
}

/** Words of a shell text as the shell splits them: continuations joined, comments dropped, quotes removed. */
export function shellWords(text: string): string[][] {
  const commands: string[][] = [];
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const words: string[] = [];
    let cur = '';
    let inWord = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (c === "'") { const end = line.indexOf("'", i + 1); cur += line.slice(i + 1, end); i = end; inWord = true; continue; }
      if (c === '"') {
        // $( … ) inside double quotes may hold quotes of its own: kept as written.
        let j = i + 1;
        let depth = 0;
        for (; j < line.length && (line[j] !== '"' || depth > 0); j++) {
          if (line.startsWith('$(', j)) depth++;
          else if (line[j] === ')' && depth > 0) depth--;
        }
        cur += line.slice(i + 1, j); i = j; inWord = true; continue;
      }
      if (c === '#' && !inWord) break;
      if (/\s/.test(c)) { if (inWord) words.push(cur); cur = ''; inWord = false; continue; }
      cur += c; inWord = true;
    }
    if (inWord) words.push(cur);
    if (words.length) commands.push(words);
  }
  return commands;
}

/** Every OAUTH2_PROXY_* name an environment uses that no option has. */
function unknownVariables(env: Env, where: string): string[] {
  return Object.keys(env).filter((k) => k.startsWith('OAUTH2_PROXY_') && !BY_ENV.has(k))
    .map((k) => `${where}: ${k} is not an option's variable (src/config/options.ts)`);
}

/**
 * Runs an environment through the real configuration loader (mergeSources, the unknown and foreign
 * variable checks, validateConfig) with `files` standing for the files the container sees; returns
 * every error and warning, and the config when valid.
 */
export function loadRecipe(env: Env, files: ReadonlyMap<string, string>, where: string): { problems: string[]; config?: Config } {
  const readFile = (p: string): string => {
    const text = files.get(p);
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return text;
  };
  const foreign = foreignVariableProblems(env, where);
  const result = validateConfig(mergeSources({ flags: {}, env, dotenv: {} }), readFile);
  const problems = [
    ...unknownVariableWarnings(Object.keys(env), where),
    ...foreign.errors, ...foreign.warnings,
    ...(result.ok ? [] : result.errors), ...result.warnings,
  ].map((p) => `${where}: ${p}`);
  return { problems, config: result.ok ? result.config : undefined };
}

/**
 * Secrets: a secret option never has a literal value; its file form must point at a file that is
 * mounted from a secret (`secretFiles`). Returns the problems and the files as the container sees them.
 */
function secretProblems(env: Env, literal: ReadonlySet<string>, secretFiles: ReadonlySet<string>, where: string): { problems: string[]; files: Map<string, string> } {
  const problems: string[] = [];
  const files = new Map<string, string>();
  for (const s of SECRET_OPTIONS) {
    if (literal.has(s.env)) problems.push(`${where}: ${s.env} is a secret written as a literal value; read it from a file (${OPTIONS.find((o) => o.name === `${s.name}_file`)?.env ?? 'no file form'}) or a secret store`);
  }
  for (const [fileEnv, secret] of FILE_FORM) {
    const path = env[fileEnv];
    if (path === undefined) continue;
    if (!secretFiles.has(path)) problems.push(`${where}: ${fileEnv}=${path} is not a file mounted from a secret`);
    else files.set(path, placeholderFor(secret.env));
  }
  return { problems, files };
}

/** The port an http_address listens on (the image's ENV when the recipe does not set it). */
export function listenPort(env: Env): number | undefined {
  const addr = parseListenAddress(env.OAUTH2_PROXY_HTTP_ADDRESS ?? defaultOf('http_address'));
  return addr?.kind === 'tcp' ? addr.port : undefined;
}

// ---------------------------------------------------------------------------------------------
// docker run

export interface DockerRun { readonly buildTag?: string; readonly image: string; readonly env: Env; readonly mounts: Map<string, string>; readonly ports: Array<{ host: string; container: number }> }

/** The `docker build -t` and `docker run` commands of a block. */
export function parseDockerRun(text: string): DockerRun {
  let buildTag: string | undefined;
  let run: string[] | undefined;
  for (const words of shellWords(text)) {
    if (words[0] === 'docker' && words[1] === 'build') buildTag = words[words.indexOf('-t') + 1];
    if (words[0] === 'docker' && words[1] === 'run') run = words.slice(2);
  }
  if (!run) throw new Error('no docker run command in the block');
  const env: Env = {};
  const mounts = new Map<string, string>();
  const ports: Array<{ host: string; container: number }> = [];
  const withValue = new Set(['-e', '--env', '-v', '--volume', '-p', '--publish', '--name', '--add-host', '--user', '-u', '--network']);
  let image = '';
  for (let i = 0; i < run.length; i++) {
    let flag = run[i]!;
    let value: string | undefined;
    if (flag.startsWith('--') && flag.includes('=')) { value = flag.slice(flag.indexOf('=') + 1); flag = flag.slice(0, flag.indexOf('=')); }
    if (!flag.startsWith('-')) { image = flag; break; }
    if (withValue.has(flag) && value === undefined) value = run[++i];
    if (value === undefined) continue;
    if (flag === '-e' || flag === '--env') { const eq = value.indexOf('='); env[value.slice(0, eq)] = value.slice(eq + 1); }
    if (flag === '-v' || flag === '--volume') { const [src, dst] = value.split(':'); mounts.set(dst!, src!); }
    if (flag === '-p' || flag === '--publish') { const parts = value.split(':'); ports.push({ host: parts.slice(0, -1).join(':'), container: Number(parts.at(-1)) }); }
  }
  return { buildTag, image, env, mounts, ports };
}

export function checkDockerRun(text: string, image = dockerImage()): { problems: string[]; env: Env; files: Map<string, string> } {
  const where = 'docker run';
  const run = parseDockerRun(text);
  const problems: string[] = [];
  if (run.buildTag !== image.tag) problems.push(`${where}: built as ${run.buildTag}, the Dockerfile's build line says ${image.tag}`);
  if (run.image !== image.tag) problems.push(`${where}: runs the image ${run.image}, built as ${image.tag}`);
  const env = { ...image.env, ...run.env };
  problems.push(...unknownVariables(run.env, where));
  const port = listenPort(env);
  for (const p of run.ports) {
    if (p.container !== port) problems.push(`${where}: publishes container port ${p.container}, Portcullis listens on ${port} (OAUTH2_PROXY_HTTP_ADDRESS)`);
    if (!image.exposed.includes(p.container)) problems.push(`${where}: publishes ${p.container}, the image exposes ${image.exposed.join(', ')}`);
  }
  if (run.ports.length === 0) problems.push(`${where}: publishes no port`);
  // A file mounted read-only from the host is how a secret reaches a plain docker run.
  const secret = secretProblems(env, new Set(Object.keys(run.env).filter((k) => SECRET_OPTIONS.some((s) => s.env === k))), new Set(run.mounts.keys()), where);
  problems.push(...secret.problems);
  const loaded = loadRecipe(env, secret.files, where);
  problems.push(...loaded.problems);
  return { problems, env, files: secret.files };
}

// ---------------------------------------------------------------------------------------------
// docker compose

/** Parses YAML, reporting every syntax error and warning with the block's name. */
export function parseYaml(text: string, where: string): { value: unknown; problems: string[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  return { value: doc.toJS() as unknown, problems: [...doc.errors, ...doc.warnings].map((e) => `${where}: ${e.message}`) };
}

/** docker compose's merge of several files: mappings merge, sequences append (depends_on, ports, secrets). */
export function mergeCompose(base: unknown, over: unknown): unknown {
  if (isObj(base) && isObj(over)) {
    const out: Obj = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeCompose(base[k], v) : v;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over)) return [...new Set([...base, ...over])];
  return over;
}

/** A compose service's environment, from either of its two forms (mapping or KEY=VALUE list). */
export function composeEnv(service: Obj): Env {
  const e = service.environment;
  const out: Env = {};
  if (Array.isArray(e)) for (const item of e) { const s = String(item); const eq = s.indexOf('='); out[s.slice(0, eq)] = s.slice(eq + 1); }
  else if (isObj(e)) for (const [k, v] of Object.entries(e)) out[k] = typeof v === 'string' ? v : String(v);
  return out;
}

/** The Portcullis service of a compose file: the one whose image is the Dockerfile's (or that builds it). */
export function portcullisService(compose: Obj, image: Image): [string, Obj] | undefined {
  const services = isObj(compose.services) ? compose.services : {};
  return Object.entries(services).find((e): e is [string, Obj] => isObj(e[1]) && (e[1].image === image.tag || e[1].build !== undefined));
}

export function checkCompose(compose: unknown, where: string, image = dockerImage()): { problems: string[]; env: Env; files: Map<string, string>; service?: Obj } {
  const problems: string[] = [];
  if (!isObj(compose) || !isObj(compose.services)) return { problems: [`${where}: no services`], env: {}, files: new Map() };
  const found = portcullisService(compose, image);
  if (!found) return { problems: [`${where}: no service runs the image ${image.tag}`], env: {}, files: new Map() };
  const [name, svc] = found;
  if (svc.image !== image.tag) problems.push(`${where}: service ${name} runs ${String(svc.image)}, built as ${image.tag}`);
  const own = composeEnv(svc);
  const env = { ...image.env, ...own };
  problems.push(...unknownVariables(own, where));
  // Every service named in the environment's URLs exists (http://app:8080/, redis://redis:6379).
  const services = compose.services;
  for (const key of ['OAUTH2_PROXY_UPSTREAMS', 'OAUTH2_PROXY_REDIS_CONNECTION_URL']) {
    for (const u of (own[key] ?? '').split(',').filter((x) => /^[a-z]+:\/\//.test(x) && !x.startsWith('static:') && !x.startsWith('file:'))) {
      const host = new URL(u).hostname;
      if (!(host in services)) problems.push(`${where}: ${key} names the host ${host}, and no service is called that`);
    }
  }
  for (const p of Array.isArray(svc.ports) ? svc.ports : []) {
    const container = Number(String(p).split(':').at(-1));
    if (container !== listenPort(env)) problems.push(`${where}: publishes container port ${container}, Portcullis listens on ${listenPort(env)}`);
  }
  // Docker secrets: each listed secret is mounted at /run/secrets/<name> and must be declared at the top level with a file.
  const declared = isObj(compose.secrets) ? compose.secrets : {};
  const mounted = new Set<string>();
  for (const s of Array.isArray(svc.secrets) ? svc.secrets : []) {
    const source = isObj(s) ? String(s.source) : String(s);
    const target = isObj(s) && typeof s.target === 'string' ? (s.target.startsWith('/') ? s.target : `/run/secrets/${s.target}`) : `/run/secrets/${source}`;
    const decl = declared[source];
    if (!isObj(decl) || (typeof decl.file !== 'string' && typeof decl.environment !== 'string')) problems.push(`${where}: the secret ${source} is not declared with a file under the top-level secrets:`);
    else mounted.add(target);
  }
  // A value of only ${NAME} comes from the shell or .env at `up` time, not from the file.
  const literal = new Set(Object.entries(own).filter(([, v]) => !/^\$\{\w+\}$/.test(v)).map(([k]) => k));
  const secret = secretProblems(env, literal, mounted, where);
  problems.push(...secret.problems);
  problems.push(...loadRecipe(env, secret.files, where).problems);
  return { problems, env, files: secret.files, service: svc };
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/** The name and keys of `kubectl create secret generic NAME --from-file=KEY=… --from-literal=KEY=…`. */
export function parseKubectlSecret(text: string): { name: string; keys: Set<string> } | undefined {
  for (const w of shellWords(text)) {
    if (w[0] !== 'kubectl' || w[1] !== 'create' || w[2] !== 'secret') continue;
    const keys = new Set<string>();
    for (const a of w) {
      const m = /^--from-(?:file|literal)=([^=]+)(=.*)?$/.exec(a);
      if (m) keys.add(m[2] !== undefined ? m[1]! : basename(m[1]!));
    }
    return { name: w[4]!, keys };
  }
  return undefined;
}

const labelsMatch = (selector: unknown, labels: unknown): boolean =>
  isObj(selector) && Object.keys(selector).length > 0 && isObj(labels) && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Portcullis's drain on SIGTERM, as src/server/stopping.ts has it (no option sets it). */
export function drainSeconds(): number {
  const m = /target\.close\((\d[\d_]*)\)/.exec(readFileSync(join(REPO, 'src/server/stopping.ts'), 'utf8'));
  if (!m) throw new Error('src/server/stopping.ts: no target.close(ms) found; update drainSeconds()');
  return Number(m[1]!.replace(/_/g, '')) / 1000;
}

/** The Secret, the Deployment + Service + Ingress, and the app's Ingress, checked together. */
export function checkKubernetes(secretBlock: string, portcullisBlock: string, appIngressBlock: string): { problems: string[]; env: Env; files: Map<string, string>; responseHeaders: string[] } {
  const problems: string[] = [];
  const docs: Obj[] = [];
  for (const [where, text] of [['k8s-portcullis', portcullisBlock], ['k8s-app-ingress', appIngressBlock]] as const) {
    for (const d of parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true }) as ReturnType<typeof parseDocument>[]) {
      problems.push(...[...d.errors, ...d.warnings].map((e) => `${where}: ${e.message}`));
      const v = d.toJS() as unknown;
      if (isObj(v)) docs.push(v);
    }
  }
  const empty = { env: {}, files: new Map<string, string>(), responseHeaders: [] };
  const kind = (k: string): Obj[] => docs.filter((d) => d.kind === k);
  const secret = parseKubectlSecret(secretBlock);
  if (!secret) problems.push('k8s-secret: no kubectl create secret command');
  const [deploy] = kind('Deployment');
  const [service] = kind('Service');
  if (!deploy || !service) return { problems: [...problems, 'k8s-portcullis: needs a Deployment and a Service'], ...empty };
  const spec = deploy.spec as Obj;
  const tpl = spec.template as Obj;
  const podLabels = (tpl.metadata as Obj | undefined)?.labels;
  const pod = tpl.spec as Obj;
  if (!labelsMatch((spec.selector as Obj | undefined)?.matchLabels, podLabels)) problems.push('Deployment: spec.selector.matchLabels does not select the pod template\'s labels');
  if (!labelsMatch((service.spec as Obj).selector, podLabels)) problems.push(`Service ${String((service.metadata as Obj).name)}: its selector does not select the Deployment's pods`);
  const container = (pod.containers as Obj[]).find((c) => /(^|\/)portcullis(:|@|$)/.test(String(c.image)));
  if (!container) return { problems: [...problems, 'Deployment: no container runs the portcullis image'], ...empty };

  // The environment: literal values, secretKeyRef values, and files mounted from the Secret.
  const env: Env = { ...dockerImage().env };
  const literal = new Set<string>();
  const own: Env = {};
  for (const e of (container.env as Obj[] | undefined) ?? []) {
    const name = String(e.name);
    const ref = isObj(e.valueFrom) ? e.valueFrom.secretKeyRef : undefined;
    if (typeof e.value === 'string') { own[name] = e.value; literal.add(name); }
    else if (isObj(ref)) {
      if (ref.name !== secret?.name || !secret?.keys.has(String(ref.key))) problems.push(`Deployment: ${name} comes from secret ${String(ref.name)} key ${String(ref.key)}, which the kubectl create secret command does not make`);
      own[name] = placeholderFor(name);
    } else problems.push(`Deployment: ${name} has neither a value nor a secretKeyRef`);
  }
  Object.assign(env, own);
  problems.push(...unknownVariables(own, 'Deployment'));
  const volumes = new Map(((pod.volumes as Obj[] | undefined) ?? []).map((v) => [String(v.name), v]));
  const secretFiles = new Set<string>();
  for (const m of (container.volumeMounts as Obj[] | undefined) ?? []) {
    const vol = volumes.get(String(m.name));
    if (!vol) { problems.push(`Deployment: volumeMount ${String(m.name)} has no volume`); continue; }
    if (!isObj(vol.secret)) continue;
    if (vol.secret.secretName !== secret?.name) problems.push(`Deployment: volume ${String(m.name)} mounts secret ${String(vol.secret.secretName)}, the kubectl command makes ${secret?.name}`);
    const items = vol.secret.items as Obj[] | undefined;
    const files = items ? items.map((i) => String(i.path)) : [...secret?.keys ?? []];
    for (const i of items ?? []) if (!secret?.keys.has(String(i.key))) problems.push(`Deployment: volume ${String(m.name)} wants key ${String(i.key)}, not in the Secret`);
    for (const f of files) secretFiles.add(posix.join(String(m.mountPath), f));
  }
  const sec = secretProblems(env, literal, secretFiles, 'Deployment');
  problems.push(...sec.problems);
  const loaded = loadRecipe(env, sec.files, 'Deployment');
  problems.push(...loaded.problems);
  const config = loaded.config;

  // Ports: the container port is the one Portcullis listens on; the Service's targetPort reaches it.
  const port = listenPort(env);
  const ports = (container.ports as Obj[] | undefined) ?? [];
  const resolve = (p: unknown): number | undefined => (typeof p === 'number' ? p : ports.find((x) => x.name === p)?.containerPort as number | undefined);
  if (!ports.some((p) => p.containerPort === port)) problems.push(`Deployment: no containerPort is ${port}, the port of OAUTH2_PROXY_HTTP_ADDRESS`);
  const svcPorts = ((service.spec as Obj).ports as Obj[]) ?? [];
  for (const p of svcPorts) if (resolve(p.targetPort ?? p.port) !== port) problems.push(`Service: port ${String(p.port)} targets ${String(p.targetPort)}, which is not the container's port ${port}`);

  // Probes: paths Portcullis answers, on its port.
  const ping = config?.pingPath ?? defaultOf('ping_path');
  const ready = config?.readyPath ?? defaultOf('ready_path');
  for (const [probe, allowed] of [['livenessProbe', [ping]], ['readinessProbe', [ready, ping]], ['startupProbe', [ready, ping]]] as const) {
    const p = container[probe];
    if (p === undefined) { if (probe !== 'startupProbe') problems.push(`Deployment: no ${probe}`); continue; }
    const get = isObj(p) ? p.httpGet : undefined;
    if (!isObj(get)) { problems.push(`Deployment: ${probe} is not an httpGet`); continue; }
    if (!(allowed as readonly string[]).includes(String(get.path))) problems.push(`Deployment: ${probe} asks ${String(get.path)}; Portcullis answers ${allowed.join(' or ')} there`);
    if (resolve(get.port) !== port) problems.push(`Deployment: ${probe} asks port ${String(get.port)}, Portcullis listens on ${port}`);
  }

  // Shutdown: the grace period covers the preStop hook, the drain and the final log flush (1 s).
  const grace = typeof pod.terminationGracePeriodSeconds === 'number' ? pod.terminationGracePeriodSeconds : 30;
  const preStop = ((container.lifecycle as Obj | undefined)?.preStop as Obj | undefined);
  const cmd = (preStop?.exec as Obj | undefined)?.command as string[] | undefined;
  const hook = cmd?.[0] === 'sleep' ? Number(cmd[1]) : Number((preStop?.sleep as Obj | undefined)?.seconds ?? 0);
  if (grace < hook + drainSeconds() + 1) problems.push(`Deployment: terminationGracePeriodSeconds ${grace} < preStop ${hook} s + drain ${drainSeconds()} s + 1 s`);

  // Ingresses: Portcullis's serves the proxy prefix on the app's host, through the Service.
  const ingresses = kind('Ingress');
  const svcName = String((service.metadata as Obj).name);
  const prefix = config?.proxyPrefix ?? defaultOf('proxy_prefix');
  const own_ = ingresses.find((i) => !isObj((i.metadata as Obj).annotations) || !('nginx.ingress.kubernetes.io/auth-url' in ((i.metadata as Obj).annotations as Obj)));
  const app = ingresses.find((i) => i !== own_);
  if (!own_ || !app) return { problems: [...problems, 'k8s: needs Portcullis\'s Ingress and the app\'s Ingress with auth-url'], env, files: sec.files, responseHeaders: [] };
  const hostsOf = (i: Obj): string[] => (((i.spec as Obj).rules as Obj[]) ?? []).map((r) => String(r.host));
  const appHosts = hostsOf(app);
  for (const r of ((own_.spec as Obj).rules as Obj[]) ?? []) {
    if (!appHosts.includes(String(r.host))) problems.push(`Ingress ${String((own_.metadata as Obj).name)}: host ${String(r.host)} is not the app's (${appHosts.join(', ')}), so its cookies would not be the app's`);
    for (const p of (((r.http as Obj).paths as Obj[]) ?? [])) {
      if (p.path !== prefix) problems.push(`Ingress ${String((own_.metadata as Obj).name)}: path ${String(p.path)} is not the proxy prefix ${prefix}`);
      const b = (p.backend as Obj).service as Obj;
      if (b.name !== svcName) problems.push(`Ingress ${String((own_.metadata as Obj).name)}: backend ${String(b.name)} is not the Service ${svcName}`);
      const bp = b.port as Obj;
      if (!svcPorts.some((sp) => (bp.name !== undefined ? sp.name === bp.name : sp.port === bp.number))) problems.push(`Ingress ${String((own_.metadata as Obj).name)}: backend port ${JSON.stringify(bp)} is not a port of the Service`);
    }
  }
  const redirect = env.OAUTH2_PROXY_REDIRECT_URL ? new URL(env.OAUTH2_PROXY_REDIRECT_URL) : undefined;
  if (redirect && (!appHosts.includes(redirect.hostname) || redirect.pathname !== `${prefix}/callback`)) problems.push(`Deployment: OAUTH2_PROXY_REDIRECT_URL ${redirect.href} is not ${prefix}/callback on the app's host`);
  if (redirect && ((app.spec as Obj).tls !== undefined) !== (redirect.protocol === 'https:')) problems.push(`Deployment: OAUTH2_PROXY_REDIRECT_URL ${redirect.href} does not match the Ingress's TLS`);

  // The annotations: auth-url is the Service's /oauth2/auth, auth-signin its /oauth2/start?rd=…
  const ann = (app.metadata as Obj).annotations as Obj;
  const authUrl = new URL(String(ann['nginx.ingress.kubernetes.io/auth-url']));
  const svcPort = Number(authUrl.port || (authUrl.protocol === 'https:' ? 443 : 80));
  const nameOk = authUrl.hostname === svcName || authUrl.hostname.startsWith(`${svcName}.`) && /\.svc(\.cluster\.local)?$/.test(authUrl.hostname);
  if (!nameOk) problems.push(`app Ingress: auth-url host ${authUrl.hostname} is not the Service ${svcName}`);
  if (!svcPorts.some((p) => p.port === svcPort)) problems.push(`app Ingress: auth-url port ${svcPort} is not a port of the Service (${svcPorts.map((p) => String(p.port)).join(', ')})`);
  if (authUrl.pathname !== `${prefix}/auth`) problems.push(`app Ingress: auth-url path ${authUrl.pathname} is not ${prefix}/auth`);
  if (authUrl.protocol !== 'http:') problems.push('app Ingress: auth-url must be plain http to the Service (Portcullis serves plain http on its pod port)');
  const signin = String(ann['nginx.ingress.kubernetes.io/auth-signin'] ?? '');
  const m = /^https?:\/\/([^/]+)(\/[^?]*)\?(.*)$/.exec(signin);
  if (!m || (m[1] !== '$host' && !appHosts.includes(m[1]!)) || m[2] !== `${prefix}/start` || !/(^|&)rd=/.test(m[3]!)) problems.push(`app Ingress: auth-signin ${signin} is not ${prefix}/start?rd=… on the app's host`);
  const responseHeaders = String(ann['nginx.ingress.kubernetes.io/auth-response-headers'] ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  problems.push(...responseHeaderProblems(responseHeaders, config, 'app Ingress: auth-response-headers'));
  return { problems, env, files: sec.files, responseHeaders };
}

/**
 * Headers a forward-auth recipe copies from /oauth2/auth must be ones Portcullis can set there:
 * X-Auth-Request-* names it emits (with set_xauthrequest on), or Authorization (set_authorization_header).
 * The test then logs in and sees each one on a real 202.
 */
export function responseHeaderProblems(names: readonly string[], config: Config | undefined, where: string): string[] {
  const out: string[] = [];
  if (names.length === 0) out.push(`${where}: lists no header, so the app learns nothing of the user`);
  if (!config) return out; // the loader's problems are reported already
  for (const n of names) {
    const h = n.toLowerCase();
    if (h === 'authorization') { if (!config.setAuthorizationHeader && !config.setBasicAuth) out.push(`${where}: Authorization is set on /oauth2/auth only with OAUTH2_PROXY_SET_AUTHORIZATION_HEADER or SET_BASIC_AUTH`); continue; }
    if (!h.startsWith('x-auth-request-') || !OWNED_IDENTITY_HEADERS.has(h)) out.push(`${where}: ${n} is not a header Portcullis sets on /oauth2/auth`);
    else if (!config.setXAuthRequest) out.push(`${where}: ${n} is set only with OAUTH2_PROXY_SET_XAUTHREQUEST=true`);
    else if (h === 'x-auth-request-access-token' && !config.passAccessToken) out.push(`${where}: ${n} is set only with OAUTH2_PROXY_PASS_ACCESS_TOKEN=true`);
  }
  return out;
}

/** Where a secret file the recipe mounts lives on the host, relative to the compose file (./secrets/x). */
export function composeSecretSources(compose: Obj): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, decl] of Object.entries(isObj(compose.secrets) ? compose.secrets : {})) if (isObj(decl) && typeof decl.file === 'string') out.set(`/run/secrets/${name}`, decl.file);
  return out;
}
