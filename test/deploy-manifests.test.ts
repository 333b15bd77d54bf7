// The deployment recipes that cannot run here (no Docker engine, no cluster, no Traefik binary):
// docs/docker.md, docs/kubernetes.md and docs/traefik.md. Each block is parsed as written and
// checked against Portcullis itself (the option table, the configuration loader, the paths and
// headers it serves); then Portcullis is started with each recipe's environment against a real
// issuer, where only hosts, ports and file paths are swapped for this machine's. The checkers are
// shown to fail on broken copies of the same blocks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYamlValue } from 'yaml';
import { docBlock } from './support/docblock.js';
import { HttpBrowser } from './support/browser.js';
import { startPeers, startInProcess, type InProcess, type Peers } from './support/inprocess.js';
import { BIN, freePort } from './support/proxy.js';
import { ALICE, CLIENT_ID } from './support/stack.js';
import { defaultOf } from '../src/config/options.js';
import type { Config } from '../src/config/validate.js';
import {
  checkCompose, checkDockerRun, checkKubernetes, composeEnv, composeSecretSources, dockerImage, isObj,
  listenPort, loadRecipe, mergeCompose, parseDockerRun, parseYaml, responseHeaderProblems, type Env,
} from './support/deploy.js';

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Traefik (v3), from its documented dynamic configuration (doc.traefik.io, reference/routing-configuration/http)

type Field = 'string' | 'bool' | 'int' | 'strings' | { readonly obj: Readonly<Record<string, Field>>; readonly required?: readonly string[] } | { readonly map: Field } | { readonly list: Field };

const CLIENT_TLS: Field = { obj: { ca: 'string', cert: 'string', key: 'string', insecureSkipVerify: 'bool', caOptional: 'bool' } };
/** http.middlewares.<name>.forwardAuth, every field Traefik v3 documents (preserveRequestMethod since v3.5). */
const FORWARD_AUTH: Field = {
  obj: {
    address: 'string', tls: CLIENT_TLS, trustForwardHeader: 'bool', authResponseHeaders: 'strings', authResponseHeadersRegex: 'string',
    authRequestHeaders: 'strings', addAuthCookiesToResponse: 'strings', headerField: 'string', forwardBody: 'bool', maxBodySize: 'int',
    preserveLocationHeader: 'bool', preserveRequestMethod: 'bool',
  },
  required: ['address'],
};
const ERRORS: Field = { obj: { status: 'strings', statusRewrites: { map: 'int' }, service: 'string', query: 'string' }, required: ['status', 'service'] };
const ROUTER_TLS: Field = { obj: { certResolver: 'string', options: 'string', domains: { list: { obj: { main: 'string', sans: 'strings' } } } } };
const ROUTER: Field = {
  obj: {
    entryPoints: 'strings', rule: 'string', ruleSyntax: 'string', priority: 'int', middlewares: 'strings', service: 'string',
    tls: ROUTER_TLS,
    observability: { obj: { accessLogs: 'bool', metrics: 'bool', tracing: 'bool' } },
  },
  required: ['rule', 'service'],
};
const SERVICE: Field = {
  obj: {
    loadBalancer: {
      obj: {
        servers: { list: { obj: { url: 'string', weight: 'int', preservePath: 'bool' }, } },
        passHostHeader: 'bool', serversTransport: 'string', responseForwarding: { obj: { flushInterval: 'string' } },
        healthCheck: { obj: { path: 'string', interval: 'string', timeout: 'string', scheme: 'string', port: 'int', hostname: 'string', followRedirects: 'bool', headers: { map: 'string' } } },
      },
      required: ['servers'],
    },
  },
};
/** The only middleware kinds these recipes use; any other is reported rather than waved through. */
const MIDDLEWARE: Field = { obj: { forwardAuth: FORWARD_AUTH, errors: ERRORS } };
const TRAEFIK_HTTP: Field = { obj: { http: { obj: { routers: { map: ROUTER }, middlewares: { map: MIDDLEWARE }, services: { map: SERVICE } } } } };

/** Every place `value` strays from `field`: unknown keys, wrong types, missing required keys. */
function schemaProblems(value: unknown, field: Field, path: string): string[] {
  if (field === 'string') return typeof value === 'string' ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`];
  if (field === 'bool') return typeof value === 'boolean' ? [] : [`${path}: expected true or false, got ${JSON.stringify(value)}`];
  if (field === 'int') return Number.isInteger(value) ? [] : [`${path}: expected an integer, got ${JSON.stringify(value)}`];
  if (field === 'strings') return Array.isArray(value) && value.every((v) => typeof v === 'string') ? [] : [`${path}: expected a list of strings, got ${JSON.stringify(value)}`];
  if ('list' in field) return Array.isArray(value) ? value.flatMap((v, i) => schemaProblems(v, field.list, `${path}[${i}]`)) : [`${path}: expected a list`];
  if (!isObj(value)) return [`${path}: expected a mapping, got ${JSON.stringify(value)}`];
  if ('map' in field) return Object.entries(value).flatMap(([k, v]) => schemaProblems(v, field.map, `${path}.${k}`));
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const f = field.obj[k];
    if (!f) out.push(`${path}.${k}: not a field Traefik knows here (known: ${Object.keys(field.obj).join(', ')})`);
    else out.push(...schemaProblems(v, f, `${path}.${k}`));
  }
  for (const r of field.required ?? []) if (!(r in value)) out.push(`${path}.${r}: required`);
  if (field === MIDDLEWARE && Object.keys(value).length !== 1) out.push(`${path}: a middleware has exactly one kind`);
  return out;
}

/**
 * The docker provider's labels as the dynamic configuration they stand for. Names after the kind are
 * matched without case, as Traefik's label parser does; `loadbalancer.server.port` (docker only)
 * becomes a server URL on the container's name; values are converted by the schema's type.
 */
function traefikFromLabels(containers: ReadonlyArray<{ name: string; labels: readonly string[] }>): { config: Obj; problems: string[]; enabled: Set<string> } {
  const problems: string[] = [];
  const http: Obj = { routers: {}, middlewares: {}, services: {} };
  const enabled = new Set<string>();
  const convert = (raw: string, f: Field, where: string): unknown => {
    if (f === 'bool') { if (raw === 'true' || raw === 'false') return raw === 'true'; problems.push(`${where}: expected true or false, got ${raw}`); return raw; }
    if (f === 'int') { if (/^-?\d+$/.test(raw)) return Number(raw); problems.push(`${where}: expected an integer, got ${raw}`); return raw; }
    if (f === 'strings') return raw.split(',').map((x) => x.trim());
    if (f === 'string') return raw;
    // A router's tls is marked allowEmpty in Traefik: the label tls=true turns it on with no options.
    if (f === ROUTER_TLS && raw === 'true') return {};
    problems.push(`${where}: a mapping cannot take a value`);
    return raw;
  };
  for (const c of containers) {
    const servicesOfContainer = new Set<string>();
    const routersOfContainer = new Set<string>();
    for (const label of c.labels) {
      const eq = label.indexOf('=');
      const key = label.slice(0, eq);
      const raw = label.slice(eq + 1);
      const where = `${c.name}: ${key}`;
      if (key === 'traefik.enable') { if (raw === 'true') enabled.add(c.name); continue; }
      const parts = key.split('.');
      if (parts[0] !== 'traefik' || parts[1] !== 'http') { problems.push(`${where}: not a traefik.http.* label`); continue; }
      const section = ({ routers: 'routers', middlewares: 'middlewares', services: 'services' } as Record<string, string>)[parts[2]!.toLowerCase()];
      if (!section) { problems.push(`${where}: ${parts[2]} is not routers, middlewares or services`); continue; }
      const name = parts[3]!;
      if (section === 'services') servicesOfContainer.add(name);
      if (section === 'routers') routersOfContainer.add(name);
      const rest = parts.slice(4);
      if (section === 'services' && rest.length === 3 && rest[0]!.toLowerCase() === 'loadbalancer' && rest[1]!.toLowerCase() === 'server') {
        // docker only: the server is this container, on this port (and scheme)
        const lb = ((((http.services as Obj)[name] ??= {}) as Obj).loadBalancer ??= {}) as Obj;
        const server = (lb.server ??= { scheme: 'http', port: '' }) as Obj;
        if (rest[2]!.toLowerCase() === 'port' && /^\d+$/.test(raw)) server.port = raw;
        else if (rest[2]!.toLowerCase() === 'scheme') server.scheme = raw;
        else problems.push(`${where}: expected a port number or a scheme`);
        continue;
      }
      let field: Field = section === 'routers' ? ROUTER : section === 'middlewares' ? MIDDLEWARE : SERVICE;
      let node = (((http[section] as Obj)[name] ??= {}) as Obj);
      let ok = true;
      for (let i = 0; i < rest.length; i++) {
        if (typeof field === 'string' || !('obj' in field)) { problems.push(`${where}: ${rest[i]} goes below a value`); ok = false; break; }
        const known = Object.keys(field.obj).find((k) => k.toLowerCase() === rest[i]!.toLowerCase());
        if (!known) { problems.push(`${where}: ${rest[i]} is not a field Traefik knows here (known: ${Object.keys(field.obj).join(', ')})`); ok = false; break; }
        const next: Field = field.obj[known]!;
        if (i === rest.length - 1) node[known] = convert(raw, next, where);
        else node = (node[known] ??= {}) as Obj;
        field = next;
      }
      if (ok && rest.length === 0) problems.push(`${where}: names no field`);
    }
    // docker: a router without a service takes the container's only service.
    for (const r of routersOfContainer) {
      const router = (http.routers as Obj)[r] as Obj;
      if (router.service === undefined && servicesOfContainer.size === 1) router.service = [...servicesOfContainer][0];
    }
  }
  for (const [name, svc] of Object.entries(http.services as Obj)) {
    const lb = (svc as Obj).loadBalancer as Obj | undefined;
    const server = lb?.server as Obj | undefined;
    if (!server) continue;
    const container = containers.find((c) => c.labels.some((l) => l.toLowerCase().startsWith(`traefik.http.services.${name.toLowerCase()}.`)))!;
    delete lb!.server;
    lb!.servers = [{ url: `${String(server.scheme)}://${container.name}:${String(server.port)}/` }];
  }
  return { config: { http }, problems, enabled };
}

/**
 * A Traefik dynamic configuration with Portcullis beside the app: every router's middlewares and
 * service exist; every forwardAuth asks Portcullis's /oauth2/auth without trusting the client's
 * X-Forwarded-*; the errors middleware sends a 401 to the sign-in page; a router gives Portcullis
 * its prefix on the protected host.
 */
function checkTraefik(config: Obj, portcullis: { host: string; port: number; config?: Config }, where: string): { problems: string[]; responseHeaders: string[] } {
  const problems = schemaProblems(config, TRAEFIK_HTTP, where);
  const http = isObj(config.http) ? config.http : {};
  const routers = (isObj(http.routers) ? http.routers : {}) as Record<string, Obj>;
  const middlewares = (isObj(http.middlewares) ? http.middlewares : {}) as Record<string, Obj>;
  const services = (isObj(http.services) ? http.services : {}) as Record<string, Obj>;
  const prefix = portcullis.config?.proxyPrefix ?? defaultOf('proxy_prefix');
  const local = (ref: string): string => ref.replace(/@(docker|file)$/, '');
  // The Traefik service that is Portcullis: its servers are Portcullis's host and port.
  const urlsOf = (s: string): URL[] => (((services[s]?.loadBalancer as Obj | undefined)?.servers as Obj[] | undefined) ?? []).map((x) => new URL(String(x.url)));
  const isPortcullis = (u: URL): boolean => u.hostname === portcullis.host && Number(u.port || 80) === portcullis.port;
  const portcullisServices = Object.keys(services).filter((s) => urlsOf(s).length > 0 && urlsOf(s).every(isPortcullis));
  if (portcullisServices.length === 0) problems.push(`${where}: no service sends to Portcullis at ${portcullis.host}:${portcullis.port}`);
  const responseHeaders: string[] = [];
  for (const [name, m] of Object.entries(middlewares)) {
    const fa = m.forwardAuth as Obj | undefined;
    if (fa) {
      const u = new URL(String(fa.address));
      if (!isPortcullis(u) || u.pathname !== `${prefix}/auth`) problems.push(`${where}: middleware ${name}: forwardAuth.address ${u.href} is not Portcullis's ${prefix}/auth at ${portcullis.host}:${portcullis.port}`);
      if (fa.trustForwardHeader === true) problems.push(`${where}: middleware ${name}: trustForwardHeader true hands Portcullis the X-Forwarded-Uri a client wrote`);
      if (Array.isArray(fa.authRequestHeaders) && !fa.authRequestHeaders.some((h) => String(h).toLowerCase() === 'cookie')) problems.push(`${where}: middleware ${name}: authRequestHeaders leaves out Cookie, so Portcullis never sees the session`);
      const heads = Array.isArray(fa.authResponseHeaders) ? fa.authResponseHeaders.map(String) : [];
      responseHeaders.push(...heads);
      problems.push(...responseHeaderProblems(heads, portcullis.config, `${where}: middleware ${name}: authResponseHeaders`));
    }
    const er = m.errors as Obj | undefined;
    if (er) {
      if (!portcullisServices.includes(local(String(er.service)))) problems.push(`${where}: middleware ${name}: errors.service ${String(er.service)} is not Portcullis`);
      if (!(Array.isArray(er.status) && er.status.map(String).includes('401'))) problems.push(`${where}: middleware ${name}: errors.status does not catch 401`);
      if (!String(er.query).startsWith(`${prefix}/sign_in?rd=`)) problems.push(`${where}: middleware ${name}: errors.query ${String(er.query)} is not ${prefix}/sign_in?rd=…`);
    }
  }
  const hostOf = (rule: string): string | undefined => /Host\(`([^`]+)`\)/.exec(rule)?.[1];
  for (const [name, r] of Object.entries(routers)) {
    for (const ref of Array.isArray(r.middlewares) ? r.middlewares.map(String) : []) if (!(local(ref) in middlewares)) problems.push(`${where}: router ${name} uses middleware ${ref}, which is not defined`);
    if (!(local(String(r.service)) in services)) problems.push(`${where}: router ${name} sends to service ${String(r.service)}, which is not defined`);
    const guarded = (Array.isArray(r.middlewares) ? r.middlewares.map(String) : []).map(local).filter((x) => middlewares[x]?.forwardAuth);
    if (guarded.length === 0) continue;
    const host = hostOf(String(r.rule));
    // The errors middleware must come before (around) forwardAuth, or it never sees its 401.
    const mws = (r.middlewares as string[]).map(local);
    const errorsAt = mws.findIndex((x) => middlewares[x]?.errors);
    if (errorsAt < 0 || errorsAt > mws.indexOf(guarded[0]!)) problems.push(`${where}: router ${name}: no errors middleware before its forwardAuth, so a browser without a session gets a bare 401`);
    const own = Object.entries(routers).find(([, o]) => portcullisServices.includes(local(String(o.service))) && hostOf(String(o.rule)) === host && String(o.rule).includes(`PathPrefix(\`${prefix}/\`)`));
    if (!own) problems.push(`${where}: router ${name} is guarded, and no router sends ${prefix}/ on ${host} to Portcullis`);
  }
  return { problems, responseHeaders };
}

const blocks = {
  secrets: () => docBlock('docker-secrets', 'sh'),
  run: () => docBlock('docker-run', 'sh'),
  compose: () => docBlock('compose-file', 'yaml'),
  redis: () => docBlock('compose-redis', 'yaml'),
  k8sSecret: () => docBlock('k8s-secret', 'sh'),
  k8s: () => docBlock('k8s-portcullis', 'yaml'),
  k8sApp: () => docBlock('k8s-app-ingress', 'yaml'),
  traefikCompose: () => docBlock('traefik-compose', 'yaml'),
  traefikDynamic: () => docBlock('traefik-dynamic', 'yaml'),
};

/** docs/docker.md's compose file, optionally with the Redis override merged as `docker compose -f … -f …` does. */
function compose(text = blocks.compose(), redis?: string): ReturnType<typeof checkCompose> & { parseProblems: string[] } {
  const base = parseYaml(text, 'compose-file');
  const over = redis === undefined ? undefined : parseYaml(redis, 'compose-redis');
  const merged = over ? mergeCompose(base.value, over.value) : base.value;
  return { ...checkCompose(merged, over ? 'compose-file + compose-redis' : 'compose-file'), parseProblems: [...base.problems, ...over?.problems ?? []] };
}

/** docs/traefik.md: the labels of its compose file, and its dynamic file, each checked against the schema and against Portcullis. */
function traefik(composeText = blocks.traefikCompose(), dynamicText = blocks.traefikDynamic()): { problems: string[]; env: Env; files: Map<string, string>; responseHeaders: string[] } {
  const parsed = parseYaml(composeText, 'traefik-compose');
  const checked = checkCompose(parsed.value, 'traefik-compose');
  const c = parsed.value as Record<string, unknown>;
  const services = (isObj(c.services) ? c.services : {}) as Record<string, Record<string, unknown>>;
  const containers = Object.entries(services).map(([name, s]) => ({ name, labels: (Array.isArray(s.labels) ? s.labels : []).map(String) }));
  const labels = traefikFromLabels(containers);
  const portcullisName = Object.entries(services).find(([, s]) => s.build !== undefined)?.[0] ?? '';
  const port = listenPort(checked.env)!;
  const loaded = loadRecipe(checked.env, checked.files, 'traefik-compose');
  const target = { host: portcullisName, port, config: loaded.config };
  const fromLabels = checkTraefik(labels.config, target, 'traefik-compose labels');
  const dynamic = parseYaml(dynamicText, 'traefik-dynamic');
  const fromFile = checkTraefik(dynamic.value as Record<string, unknown>, target, 'traefik-dynamic');
  const problems = [...parsed.problems, ...checked.problems, ...labels.problems, ...fromLabels.problems, ...dynamic.problems, ...fromFile.problems];
  for (const name of containers.filter((x) => x.labels.length).map((x) => x.name)) if (!labels.enabled.has(name)) problems.push(`traefik-compose: ${name} has labels but no traefik.enable=true`);
  // Traefik must reach Portcullis over a network whose range is what Portcullis trusts.
  const networks = (isObj(c.networks) ? c.networks : {}) as Record<string, Record<string, unknown>>;
  const subnets = Object.values(networks).flatMap((n) => ((n.ipam as { config?: Array<{ subnet?: string }> } | undefined)?.config ?? []).map((x) => x.subnet));
  for (const ip of (checked.env.OAUTH2_PROXY_TRUSTED_PROXY_IPS ?? '').split(',').filter(Boolean)) if (!subnets.includes(ip)) problems.push(`traefik-compose: OAUTH2_PROXY_TRUSTED_PROXY_IPS ${ip} is not the range of a network in the file (${subnets.join(', ')})`);
  // Both forms say the same: the same routers, middlewares and Portcullis address.
  assert.deepEqual(Object.keys((labels.config.http as Record<string, object>).routers).sort(), Object.keys(((dynamic.value as { http: Record<string, object> }).http.routers)).sort(), 'the labels and the dynamic file define the same routers');
  return { problems, env: checked.env, files: checked.files, responseHeaders: [...new Set([...fromLabels.responseHeaders, ...fromFile.responseHeaders])] };
}

describe('the recipes as written pass every check', () => {
  test('docker-run: the image the Dockerfile builds, known variables, secrets from mounted files, a valid configuration', () => {
    assert.deepEqual(checkDockerRun(blocks.run()).problems, []);
  });

  test('compose-file (and with compose-redis merged): valid YAML, known variables, docker secrets, services that exist, a valid configuration', () => {
    const plain = compose();
    assert.deepEqual([...plain.parseProblems, ...plain.problems], []);
    const withRedis = compose(blocks.compose(), blocks.redis());
    assert.deepEqual([...withRedis.parseProblems, ...withRedis.problems], []);
    assert.equal(withRedis.env.OAUTH2_PROXY_SESSION_STORE_TYPE, 'redis', 'the override adds to the base file, not replaces it');
    assert.equal(withRedis.env.OAUTH2_PROXY_CLIENT_ID, plain.env.OAUTH2_PROXY_CLIENT_ID);
    // The health check is the image's own (Dockerfile HEALTHCHECK), as the page says.
    assert.deepEqual((plain.service!.healthcheck as { test: string[] }).test.slice(1), dockerImage().healthcheck);
  });

  test('k8s-secret + k8s-portcullis + k8s-app-ingress: multi-document YAML whose parts refer to each other, probes, ports, shutdown, annotations', () => {
    assert.deepEqual(checkKubernetes(blocks.k8sSecret(), blocks.k8s(), blocks.k8sApp()).problems, []);
  });

  test('traefik-compose and traefik-dynamic: Traefik v3\'s documented schema, references, forwardAuth at Portcullis\'s /oauth2/auth', () => {
    assert.deepEqual(traefik().problems, []);
  });

  test('the Traefik page says plainly that Traefik was not run here', () => {
    const page = readFileSync(new URL('../../docs/traefik.md', import.meta.url), 'utf8');
    assert.match(page, /\*\*Not run here\.\*\* Traefik's binary is in neither Debian nor npm/);
  });
});

describe('each check fails on a broken copy of its block', () => {
  const broken = (text: string, from: string | RegExp, to: string): string => {
    const out = text.replace(from, to);
    assert.notEqual(out, text, `the block no longer contains ${String(from)}: update this test`);
    return out;
  };

  test('docker-run: an unknown variable, a literal secret, a wrong port, an image that is not the one built', () => {
    const run = blocks.run();
    assert.match(checkDockerRun(broken(run, 'OAUTH2_PROXY_EMAIL_DOMAINS=', 'OAUTH2_PROXY_EMAIL_DOMAIN=')).problems.join('\n'), /OAUTH2_PROXY_EMAIL_DOMAIN is not an option/);
    assert.match(checkDockerRun(broken(run, 'OAUTH2_PROXY_CLIENT_SECRET_FILE=/run/secrets/client_secret', 'OAUTH2_PROXY_CLIENT_SECRET=s3cr3t')).problems.join('\n'), /OAUTH2_PROXY_CLIENT_SECRET is a secret written as a literal value/);
    assert.match(checkDockerRun(broken(run, '127.0.0.1:4180:4180', '127.0.0.1:4180:8080')).problems.join('\n'), /publishes container port 8080, Portcullis listens on 4180/);
    assert.match(checkDockerRun(broken(run, /\n {2}portcullis\n/, '\n  oauth2-proxy\n')).problems.join('\n'), /runs the image oauth2-proxy, built as portcullis/);
    assert.match(checkDockerRun(broken(run, '-v "$PWD/secrets/cookie_secret:/run/secrets/cookie_secret:ro"', '')).problems.join('\n'), /OAUTH2_PROXY_COOKIE_SECRET_FILE=\/run\/secrets\/cookie_secret is not a file mounted/);
    assert.match(checkDockerRun(broken(run, 'OAUTH2_PROXY_EMAIL_DOMAINS=example.com', 'OAUTH2_PROXY_EMAIL_DOMAINS=')).problems.join('\n'), /EMAIL_DOMAINS/, 'the loader itself runs');
  });

  test('compose-file: an unknown variable, a literal secret, an undeclared secret, an upstream no service answers, bad YAML', () => {
    const c = blocks.compose();
    assert.match(compose(broken(c, 'OAUTH2_PROXY_UPSTREAMS:', 'OAUTH2_PROXY_UPSTREAM:')).problems.join('\n'), /OAUTH2_PROXY_UPSTREAM is not an option/);
    assert.match(compose(broken(c, 'OAUTH2_PROXY_COOKIE_SECRET_FILE: /run/secrets/cookie_secret', 'OAUTH2_PROXY_COOKIE_SECRET: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).problems.join('\n'), /OAUTH2_PROXY_COOKIE_SECRET is a secret written as a literal value/);
    assert.match(compose(broken(c, /\n {2}cookie_secret:\n {4}file: \.\/secrets\/cookie_secret/, '')).problems.join('\n'), /the secret cookie_secret is not declared/);
    assert.match(compose(broken(c, 'http://app:8080/', 'http://backend:8080/')).problems.join('\n'), /names the host backend, and no service is called that/);
    assert.match(compose(broken(c, '"127.0.0.1:4180:4180"', '"127.0.0.1:4180:80"')).problems.join('\n'), /publishes container port 80/);
    assert.notDeepEqual(compose(broken(c, 'environment:', 'environment:\n    environment:')).parseProblems, []);
    assert.match(compose(c, broken(blocks.redis(), 'redis://redis:6379', 'redis://cache:6379')).problems.join('\n'), /names the host cache/);
  });

  test('kubernetes: an unknown variable, a literal secret, a wrong port, a Service that selects nothing, a probe on a path Portcullis does not answer, a short grace period, a wrong auth-url', () => {
    const [s, k, a] = [blocks.k8sSecret(), blocks.k8s(), blocks.k8sApp()];
    const problems = (k2 = k, a2 = a, s2 = s): string => checkKubernetes(s2, k2, a2).problems.join('\n');
    assert.match(problems(broken(k, 'name: OAUTH2_PROXY_SET_XAUTHREQUEST', 'name: OAUTH2_PROXY_SET_X_AUTH_REQUEST')), /OAUTH2_PROXY_SET_X_AUTH_REQUEST is not an option/);
    assert.match(problems(broken(k, /- name: OAUTH2_PROXY_CLIENT_SECRET_FILE\n\s+value: \/etc\/portcullis\/secrets\/client-secret/, '- name: OAUTH2_PROXY_CLIENT_SECRET\n              value: s3cr3t')), /OAUTH2_PROXY_CLIENT_SECRET is a secret written as a literal value/);
    assert.match(problems(broken(k, /- name: OAUTH2_PROXY_CLIENT_SECRET_FILE\n\s+value: \/etc\/portcullis\/secrets\/client-secret/, '- name: OAUTH2_PROXY_CLIENT_SECRET\n              valueFrom:\n                secretKeyRef:\n                  name: portcullis\n                  key: client_secret')), /comes from secret portcullis key client_secret, which the kubectl create secret command does not make/);
    assert.equal(problems(broken(k, /- name: OAUTH2_PROXY_CLIENT_SECRET_FILE\n\s+value: \/etc\/portcullis\/secrets\/client-secret/, '- name: OAUTH2_PROXY_CLIENT_SECRET\n              valueFrom:\n                secretKeyRef:\n                  name: portcullis\n                  key: client-secret')), '', 'a secretKeyRef to the Secret is fine too');
    assert.match(problems(broken(k, 'value: /etc/portcullis/secrets/cookie-secret', 'value: /etc/portcullis/cookie-secret')), /OAUTH2_PROXY_COOKIE_SECRET_FILE=\/etc\/portcullis\/cookie-secret is not a file mounted from a secret/);
    assert.match(problems(broken(k, 'containerPort: 4180', 'containerPort: 8080')), /no containerPort is 4180/);
    assert.match(problems(broken(k, 'value: "0.0.0.0:4180"', 'value: "0.0.0.0:9000"')), /no containerPort is 9000/);
    assert.match(problems(broken(k, /selector:\n {4}app\.kubernetes\.io\/name: portcullis/, 'selector:\n    app.kubernetes.io/name: portcullis-proxy')), /Service portcullis: its selector does not select/);
    assert.match(problems(broken(k, 'path: /ping', 'path: /healthz')), /livenessProbe asks \/healthz/);
    assert.match(problems(broken(k, 'terminationGracePeriodSeconds: 30', 'terminationGracePeriodSeconds: 10')), /terminationGracePeriodSeconds 10 < preStop 5 s \+ drain 10 s/);
    assert.match(problems(broken(k, 'secretName: portcullis', 'secretName: portcullis-secrets')), /mounts secret portcullis-secrets/);
    assert.match(problems(k, broken(a, 'svc.cluster.local:4180/oauth2/auth', 'svc.cluster.local:80/oauth2/auth')), /auth-url port 80 is not a port of the Service/);
    assert.match(problems(k, broken(a, 'http://portcullis.default', 'http://oauth2-proxy.default')), /auth-url host oauth2-proxy/);
    assert.match(problems(k, broken(a, '/oauth2/start?rd=', '/oauth2/sign_in?rd=')), /auth-signin .* is not \/oauth2\/start/);
    assert.match(problems(k, broken(a, 'X-Auth-Request-Groups', 'X-Auth-Request-Roles')), /X-Auth-Request-Roles is not a header Portcullis sets/);
    assert.match(problems(broken(k, /- name: OAUTH2_PROXY_SET_XAUTHREQUEST\n\s+value: "true"\n/, '')), /set only with OAUTH2_PROXY_SET_XAUTHREQUEST=true/);
    assert.match(problems(broken(k, 'host: app.example.com', 'host: auth.example.com')), /host auth.example.com is not the app's/);
    assert.match(problems(k, a, broken(s, '--from-file=cookie-secret=cookie-secret', '--from-file=cookie=cookie-secret')), /is not a file mounted from a secret/);
    assert.match(problems(broken(k, 'kind: Service\nmetadata:', 'kind: Service\n  metadata:')), /k8s-portcullis: /, 'bad YAML');
  });

  test('traefik: an unknown key, a wrong type, a missing middleware, an address that is not Portcullis, trustForwardHeader true, an unknown label', () => {
    const [c, d] = [blocks.traefikCompose(), blocks.traefikDynamic()];
    const problems = (c2 = c, d2 = d): string => traefik(c2, d2).problems.join('\n');
    assert.match(problems(c, broken(d, 'trustForwardHeader: false', 'trustForwardHeaders: false')), /trustForwardHeaders: not a field Traefik knows/);
    assert.match(problems(c, broken(d, 'trustForwardHeader: false', 'trustForwardHeader: "no"')), /trustForwardHeader: expected true or false/);
    assert.match(problems(c, broken(d, 'trustForwardHeader: false', 'trustForwardHeader: true')), /trustForwardHeader true hands Portcullis/);
    assert.match(problems(c, broken(d, /authResponseHeaders:\n(\s+- \S+\n)+/, 'authResponseHeaders: X-Auth-Request-User\n')), /authResponseHeaders: expected a list of strings/);
    assert.match(problems(c, broken(d, '- portcullis-signin\n', '- portcullis-login\n')), /uses middleware portcullis-login, which is not defined/);
    assert.match(problems(c, broken(d, 'http://portcullis:4180/oauth2/auth', 'http://portcullis:4180/oauth2/userinfo')), /forwardAuth.address .* is not Portcullis's \/oauth2\/auth/);
    assert.match(problems(c, broken(d, 'url: "http://portcullis:4180/"', 'url: "http://portcullis:8080/"')), /no service sends to Portcullis/);
    assert.match(problems(c, broken(d, /- portcullis-signin\n(\s+)- portcullis\n/, '- portcullis\n$1- portcullis-signin\n')), /no errors middleware before its forwardAuth/);
    assert.match(problems(c, broken(d, 'PathPrefix(`/oauth2/`)', 'PathPrefix(`/auth/`)')), /no router sends \/oauth2\/ on app.example.com to Portcullis/);
    assert.match(problems(broken(c, 'forwardauth.trustForwardHeader=false', 'forwardauth.trustForwardHeaders=false')), /trustForwardHeaders is not a field Traefik knows/);
    assert.match(problems(broken(c, 'forwardauth.trustForwardHeader=false', 'forwardauth.trustForwardHeader=yes')), /expected true or false, got yes/);
    assert.match(problems(broken(c, 'routers.app.middlewares=portcullis-signin,portcullis', 'routers.app.middlewares=portcullis-signin,portcullis-auth')), /uses middleware portcullis-auth, which is not defined/);
    assert.match(problems(broken(c, 'loadbalancer.server.port=4180', 'loadbalancer.server.port=8080')), /no service sends to Portcullis/);
    assert.match(problems(broken(c, 'Request-Groups"', 'Request-Team"')), /X-Auth-Request-Team is not a header Portcullis sets/);
    assert.match(problems(broken(c, 'OAUTH2_PROXY_TRUSTED_PROXY_IPS: 172.30.0.0/24', 'OAUTH2_PROXY_TRUSTED_PROXY_IPS: 0.0.0.0/0')), /0.0.0.0\/0 is not the range of a network/);
    // The schema on its own: a required key, a value of the wrong shape.
    assert.match(schemaProblems({ http: { middlewares: { m: { forwardAuth: { trustForwardHeader: false } } } } }, TRAEFIK_HTTP, 't').join('\n'), /forwardAuth.address: required/);
    assert.match(schemaProblems({ http: { middlewares: { m: { forwardAuth: { address: 'http://x/', maxBodySize: '1MB' } } } } }, TRAEFIK_HTTP, 't').join('\n'), /maxBodySize: expected an integer/);
  });
});

// ---------------------------------------------------------------------------------------------
// The recipes' environments, run: Portcullis started with each one against a real issuer.

/** A recipe's environment on this machine: the issuer, client ID, listen address and callback host swapped; `files` mapped to real paths. */
function onThisMachine(env: Env, files: ReadonlyMap<string, string>, peers: Peers, port: number, dir: string, upstream = peers.upstreamUrl): Env {
  const out: Env = { ...env };
  out.OAUTH2_PROXY_OIDC_ISSUER_URL = peers.env.OAUTH2_PROXY_OIDC_ISSUER_URL!;
  out.OAUTH2_PROXY_CLIENT_ID = CLIENT_ID;
  // The scopes this issuer needs to release email and groups (each issuer has its own).
  out.OAUTH2_PROXY_SCOPE = peers.env.OAUTH2_PROXY_SCOPE!;
  out.OAUTH2_PROXY_HTTP_ADDRESS = `127.0.0.1:${port}`;
  if (out.OAUTH2_PROXY_REDIRECT_URL) out.OAUTH2_PROXY_REDIRECT_URL = `http://127.0.0.1:${port}${new URL(out.OAUTH2_PROXY_REDIRECT_URL).pathname}`;
  if (!(out.OAUTH2_PROXY_UPSTREAMS ?? '').startsWith('static://')) out.OAUTH2_PROXY_UPSTREAMS = upstream;
  for (const [key, value] of Object.entries(out)) {
    if (!files.has(value)) continue;
    // The secret file as the container sees it, at a path of this machine, holding this issuer's client secret.
    const path = join(dir, key);
    writeFileSync(path, key.includes('CLIENT_SECRET') ? peers.env.OAUTH2_PROXY_CLIENT_SECRET! : peers.env.OAUTH2_PROXY_COOKIE_SECRET!, { mode: 0o600 });
    out[key] = path;
  }
  return out;
}

/** Signs in through the proxy; the browser ends on the upstream (an app, or static://202). */
async function signIn(proxyUrl: string): Promise<HttpBrowser> {
  const b = new HttpBrowser();
  const landed = await b.navigate(`${proxyUrl}/oauth2/start?rd=/`);
  assert.ok(landed.status === 200 || landed.status === 202, `login ended on ${landed.status} at ${landed.url}: ${landed.body.slice(0, 300)}`);
  assert.equal(new URL(landed.url).pathname, '/');
  return b;
}

describe('the recipes\' environments run: Portcullis against a real issuer', () => {
  let peers: Peers;
  let port: number;
  let dir: string;
  const running: InProcess[] = [];
  before(async () => {
    port = await freePort();
    peers = await startPeers({ ports: [port] });
    dir = mkdtempSync(join(tmpdir(), 'portcullis-deploy-'));
  });
  after(async () => {
    await Promise.all(running.map((p) => p.close()));
    await peers.close();
    rmSync(dir, { recursive: true, force: true });
  });
  /** Portcullis on the port the issuer knows, for the length of `use` (stopped even when it throws). */
  const withProxy = async (env: Env, use: (p: InProcess) => Promise<void>): Promise<void> => {
    const p = await startInProcess(env, port);
    running.push(p);
    try { await use(p); } finally { running.splice(running.indexOf(p), 1); await p.close(); }
  };

  test('docker-secrets runs as written; docker-run with those files signs in and forwards the user', async () => {
    const work = mkdtempSync(join(dir, 'secrets-'));
    const ran = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('bash', ['-euo', 'pipefail', '-c', blocks.secrets()], { cwd: work, env: { PATH: process.env.PATH!, CLIENT_SECRET: peers.env.OAUTH2_PROXY_CLIENT_SECRET! } });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(statSync(join(work, 'secrets')).mode & 0o777, 0o700);
    assert.equal(statSync(join(work, 'secrets/client_secret')).mode & 0o777, 0o644);
    assert.equal(readFileSync(join(work, 'secrets/client_secret'), 'utf8'), peers.env.OAUTH2_PROXY_CLIENT_SECRET);
    // The container's files are the block's files: the -v sources, from the folder it made.
    const run = checkDockerRun(blocks.run());
    const mounts = parseDockerRun(blocks.run()).mounts;
    const env = onThisMachine(run.env, new Map(), peers, port, dir);
    for (const key of ['OAUTH2_PROXY_CLIENT_SECRET_FILE', 'OAUTH2_PROXY_COOKIE_SECRET_FILE']) {
      const source = mounts.get(run.env[key]!);
      assert.ok(source?.startsWith('$PWD/'), `${key} is mounted from the folder the secrets block made (got ${source})`);
      env[key] = join(work, source!.slice('$PWD/'.length));
    }
    await withProxy(env, async (proxy) => {
      const b = await signIn(proxy.url);
      const echoed = JSON.parse((await b.request(`${proxy.url}/`, { headers: { accept: 'application/json' } })).body) as { headers: Record<string, string> };
      assert.equal(echoed.headers['x-forwarded-user'], ALICE.sub);
      assert.equal(echoed.headers['x-forwarded-email'], ALICE.email);
    });
  });

  test('compose-file: signs in and forwards the user; its health check command, as written, passes against it', async () => {
    const c = compose();
    const env = onThisMachine(c.env, c.files, peers, port, dir);
    assert.deepEqual([...composeSecretSources(parseYamlValue(blocks.compose()) as Record<string, unknown>).keys()].sort(), [...c.files.keys()].sort(), 'every secret file Portcullis reads is one compose mounts');
    // ["CMD", "/app/bin/portcullis", "healthcheck"]: the image's /app/bin/portcullis is this repository's bin/portcullis.
    const [kind, bin, ...args] = (c.service!.healthcheck as { test: string[] }).test;
    assert.equal(kind, 'CMD');
    assert.equal(bin, '/app/bin/portcullis');
    await withProxy(env, async (proxy) => {
      const b = await signIn(proxy.url);
      const echoed = JSON.parse((await b.request(`${proxy.url}/`, { headers: { accept: 'application/json' } })).body) as { headers: Record<string, string> };
      assert.equal(echoed.headers['x-forwarded-user'], ALICE.sub);
      const code = await new Promise<number | null>((resolve) => spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH!, ...composeEnv({ environment: env }) }, stdio: 'ignore' }).on('close', resolve));
      assert.equal(code, 0, 'portcullis healthcheck exits 0 against the running proxy');
    });
    const down = await new Promise<number | null>((resolve) => spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH!, ...env }, stdio: 'ignore' }).on('close', resolve));
    assert.equal(down, 1, 'and exits 1 once it has stopped');
  });

  test('k8s-portcullis: /oauth2/auth answers 401 without a session and 202 with every header auth-response-headers copies', async () => {
    const k = checkKubernetes(blocks.k8sSecret(), blocks.k8s(), blocks.k8sApp());
    await withProxy(onThisMachine(k.env, k.files, peers, port, dir), async (proxy) => {
      const b = await signIn(proxy.url);
      assert.equal((await new HttpBrowser().request(`${proxy.url}/oauth2/auth`)).status, 401);
      const ok = await b.request(`${proxy.url}/oauth2/auth`);
      assert.equal(ok.status, 202);
      assert.ok(k.responseHeaders.length >= 3);
      for (const h of k.responseHeaders) assert.ok(ok.headers[h.toLowerCase()], `${h} is on the 202 (got ${Object.keys(ok.headers).join(', ')})`);
      assert.equal(ok.headers['x-auth-request-user'], ALICE.sub);
    });
  });

  test('traefik-compose: /oauth2/auth answers 202 with every header authResponseHeaders copies; sign_in?rd= is a page', async () => {
    const t = traefik();
    await withProxy(onThisMachine(t.env, t.files, peers, port, dir), async (proxy) => {
      const b = await signIn(proxy.url);
      const ok = await b.request(`${proxy.url}/oauth2/auth`);
      assert.equal(ok.status, 202);
      for (const h of t.responseHeaders) assert.ok(ok.headers[h.toLowerCase()], `${h} is on the 202`);
      // What the errors middleware asks for a browser without a session ({url} escaped, as Traefik does).
      const page = await new HttpBrowser().request(`${proxy.url}/oauth2/sign_in?rd=${encodeURIComponent('/some/page?x=1')}`);
      assert.equal(page.status, 200);
      assert.match(page.body, /\/oauth2\/start\?rd=%2Fsome%2Fpage%3Fx%3D1/);
    });
  });
});
