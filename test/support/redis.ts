import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInProcess, type InProcess } from './inprocess.js';
import { freePort, freePortIn } from './proxy.js';
import { waitReady } from './stack.js';

const SERVER = '/usr/bin/redis-server';
const CLI = '/usr/bin/redis-cli';

/** Fails (never skips) when Debian's redis-server is missing: .ci/run installs it. */
function need(): void {
  if (!existsSync(SERVER) || !existsSync(CLI)) throw new Error('redis-server is not installed: apt-get install redis-server (.ci/run does)');
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** The unix socket it also listens on, with `unixSocket: true`. */
  readonly socketPath?: string;
  /** Stops the server by its pid (SIGTERM), and waits until the port is closed. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory (with appendonly, its data comes back). */
  start(): Promise<void>;
  /** redis-cli against this server; returns stdout. */
  cli(...args: string[]): string;
  close(): Promise<void>;
}

/**
 * A real redis-server on a free loopback port, in a directory of its own, no RDB snapshots
 * (`--save ''`). `appendonly: true` keeps its data across stop()/start() (the outage test).
 */
export async function startRedis(o: { port?: number; appendonly?: boolean; unixSocket?: boolean; args?: string[] } = {}): Promise<RedisServer> {
  need();
  const port = o.port ?? await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'));
  const socketPath = o.unixSocket ? join(dir, 'redis.sock') : undefined;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--appendonly', o.appendonly ? 'yes' : 'no', ...(o.appendonly ? ['--appendfsync', 'always'] : []),
    ...(socketPath ? ['--unixsocket', socketPath, '--unixsocketperm', '700'] : []), ...o.args ?? []];
  let child: ChildProcess | undefined;
  const server: RedisServer = {
    port, url: `redis://127.0.0.1:${port}`, dir, socketPath,
    async start() {
      if (child) return;
      child = spawnServer(args);
      await waitPort(port, true);
    },
    async stop() {
      if (!child) return;
      await stopChild(child);
      child = undefined;
      await waitPort(port, false);
    },
    cli: (...a) => runCli(port, a),
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface RedisCluster {
  readonly ports: number[];
  readonly urls: string[];
  close(): Promise<void>;
}

/** Three masters, no replicas: `--cluster-enabled yes` each in its own directory, then `redis-cli --cluster create`. */
export async function startCluster(): Promise<RedisCluster> {
  need();
  // Each node's cluster bus listens on port + 10000: both stay below the kernel's ephemeral range
  // (32768 up), where an outgoing connection could take the bus port first ("connection refused").
  const ports: number[] = [];
  while (ports.length < 3) {
    const p = await freePortIn(12_000, 20_000, [10_000]);
    if (!ports.includes(p)) ports.push(p);
  }
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  try {
    for (const port of ports) {
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'));
      dirs.push(dir);
      children.push(spawnServer(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']));
    }
    for (const port of ports) await waitPort(port, true);
    const created = spawnSync(CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 20_000 });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    // Bounded wait for every node to agree that the cluster is up.
    const until = Date.now() + 15_000;
    while (!ports.every((p) => /cluster_state:ok/.test(runCli(p, ['cluster', 'info'])))) {
      if (Date.now() > until) throw new Error('the cluster did not reach cluster_state:ok within 15 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await Promise.all(children.map(stopChild));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    throw err;
  }
  return {
    ports, urls: ports.map((p) => `redis://127.0.0.1:${p}`),
    async close() {
      await Promise.all(children.map(stopChild));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

export interface RedisSentinel {
  readonly master: RedisServer;
  readonly sentinelPort: number;
  readonly sentinelUrl: string;
  /** Every Sentinel's port and URL, the first one's above. */
  readonly sentinelPorts: number[];
  readonly sentinelUrls: string[];
  readonly masterName: string;
  /** Stops one Sentinel (by index), leaving the master and the others running. */
  stopSentinel(i: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A master and `sentinels` Sentinels (one by default) watching it (the same binary with
 * --sentinel, each on a writable config file of its own); `password`: the Sentinels themselves ask
 * for one (their requirepass).
 */
export async function startSentinel(o: { password?: string; sentinels?: number } = {}): Promise<RedisSentinel> {
  const master = await startRedis();
  const masterName = 'mymaster';
  const auth = o.password ? ['-a', o.password, '--no-auth-warning'] : [];
  const ports: number[] = [];
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < (o.sentinels ?? 1); i++) {
      const sentinelPort = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-sentinel-'));
      const file = join(dir, 'sentinel.conf');
      writeFileSync(file, [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`, `sentinel down-after-milliseconds ${masterName} 1000`,
        ...(o.password ? [`requirepass ${o.password}`] : []), ''].join('\n'));
      ports.push(sentinelPort);
      dirs.push(dir);
      children.push(spawnServer([file, '--sentinel']));
    }
    for (const sentinelPort of ports) {
      await waitPort(sentinelPort, true);
      const until = Date.now() + 10_000;
      while (!runCli(sentinelPort, [...auth, 'sentinel', 'get-master-addr-by-name', masterName]).includes(String(master.port))) {
        if (Date.now() > until) throw new Error('the Sentinel does not know the master within 10 s');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await Promise.all(children.map(stopChild));
    await master.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    throw err;
  }
  const urls = ports.map((p) => `redis://127.0.0.1:${p}`);
  return {
    master, sentinelPort: ports[0]!, sentinelUrl: urls[0]!, sentinelPorts: ports, sentinelUrls: urls, masterName,
    stopSentinel: (i) => stopChild(children[i]!),
    async close() {
      await Promise.all(children.map(stopChild));
      await master.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

function spawnServer(args: string[]): ChildProcess {
  const child = spawn(SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.resume();
  return child;
}

function runCli(port: number, args: string[]): string {
  const r = spawnSync(CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

/** SIGTERM by pid; SIGKILL when it has not exited within 5 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => { clearTimeout(killer); resolve(); });
    child.kill('SIGTERM');
  });
}

/** Waits (at most 10 s) until the port accepts connections (`open`) or refuses them. */
async function waitPort(port: number, open: boolean): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const accepted = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (accepted === open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis port ${port} did not ${open ? 'open' : 'close'} within 10 s`);
}

/**
 * An in-process proxy, once /ready says 200: with Redis, a replica answers 503 until it is
 * connected and subscribed (and has read the shared revocations), which takes a few milliseconds
 * after it listens.
 */
export async function startReady(env: Record<string, string>, port?: number): Promise<InProcess> {
  const p = await startInProcess(env, port);
  try {
    await waitReady(p.url, 10_000);
  } catch (err) {
    await p.close();
    throw err;
  }
  return p;
}
