// What every mode of the benchmark stands up: the upstream process, the dev issuer (in the
// benchmark's own process, idle while measuring) with one client per authenticating target, and the
// targets, each started, logged in and checked in turn. A target that cannot run here (peer not
// installed) is skipped, one that fails to start, log in or pass the checks is marked failed;
// either way the reason is kept for the report.
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevIssuer, type DevAccount, type DevIssuer } from '../src/devissuer/issuer.js';
import { get } from './client.js';
import { readPort, spawnNode, stop, type Child } from './procs.js';
import { isAuthenticated, login, missingFor, plan, start, verify, type StartContext, type Target, type TargetName } from './targets.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench

export interface Excluded { name: TargetName; status: 'skipped' | 'failed'; reason: string }

export interface Stack {
  upstream: Child;
  upstreamPort: number;
  upstreamUrl: string;
  /** The upstream's fixed 200 body, which every target must return. */
  upstreamBody: string;
  issuer: DevIssuer;
  targets: Target[];
  excluded: Excluded[];
  ctx: StartContext;
  close(): Promise<void>;
}

export interface StackOptions {
  names: readonly TargetName[];
  bin: string;
  baselineBin?: string;
  cookieSecret: string;
  /** The dev issuer's account (the sessions it makes); default: its demo user. */
  account?: DevAccount;
  /** Put every claim in the ID token too (so every peer's session carries the groups). */
  claimsInIdToken?: boolean;
  largeSessions?: boolean;
  nodeArgs?: (name: string) => string[];
  cwd: string;
  log: (line: string) => void;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const nodeArgs = o.nodeArgs ?? ((): string[] => []);
  // The upstream takes large headers: Apache forwards its session cookie and every claim as headers.
  const upstream = spawnNode('upstream', [...nodeArgs('upstream'), '--max-http-header-size=262144', join(HERE, 'upstream.js')]);
  const upstreamPort = await readPort(upstream);
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const direct = await get(`${upstreamUrl}/`);
  if (direct.status !== 200) throw new Error(`upstream answered ${direct.status}`);

  const excluded: Excluded[] = [];
  const runnable = o.names.filter((name) => {
    const why = missingFor(name);
    if (why) { excluded.push({ name, status: 'skipped', reason: why }); o.log(`skipped ${name}: ${why}`); }
    return !why;
  });
  const planned = await Promise.all(runnable.map((name) => plan(name)));
  const issuer = await startDevIssuer({
    shape: 'hydra',
    clients: planned.flatMap((p) => (p.client ? [p.client] : [])),
    ...(o.account ? { accounts: [o.account] } : {}),
    ...(o.claimsInIdToken ? { claimsInIdToken: true } : {}),
  });
  const workDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  chmodSync(workDir, 0o755); // Apache's workers (www-data) read their ServerRoot below it
  mkdirSync(o.cwd, { recursive: true });
  const ctx: StartContext = {
    upstreamPort, issuer: issuer.issuer, discovery: issuer.endpoints.discovery, workDir, bin: o.bin, baselineBin: o.baselineBin,
    cookieSecret: o.cookieSecret, largeSessions: o.largeSessions ?? false, nodeArgs, cwd: o.cwd,
  };

  const started: Target[] = [];
  const fail = async (name: TargetName, e: unknown, t?: Target): Promise<void> => {
    const reason = (e as Error).message;
    excluded.push({ name, status: 'failed', reason });
    o.log(`FAILED ${name}: ${reason}`);
    if (t) await stop(t.child, 3_000);
  };
  for (const p of planned) {
    let t: Target | undefined;
    try {
      t = await start(p, ctx);
      await login(t);
      started.push(t);
    } catch (e) {
      await fail(p.name, e, t);
    }
  }
  // Every target gets the same request: the hops without a login forward Portcullis's cookie (or
  // the first session cookie there is), so each side parses the same headers.
  const sample = started.find((t) => t.name === 'portcullis')?.cookie ?? started.find((t) => t.cookie)?.cookie ?? '';
  const targets: Target[] = [];
  for (const t of started) {
    if (!isAuthenticated(t.name)) t.cookie = sample;
    try {
      await verify(t, direct.body);
      targets.push(t);
      o.log(`ready ${t.name}: ${t.url}, up in ${Math.round(t.readyMs)} ms`
        + (t.cookie ? `, ${isAuthenticated(t.name) ? 'session' : 'forwarded'} cookie ${t.cookie.length} bytes` : '')
        + (t.user ? `, the upstream sees user ${JSON.stringify(t.user)}` : ''));
    } catch (e) {
      await fail(t.name, e, t);
    }
  }
  return {
    upstream, upstreamPort, upstreamUrl, upstreamBody: direct.body, issuer, targets, excluded, ctx,
    async close() {
      await issuer.stop();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
