import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../../bin/portcullis', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A free loopback port for a server a test starts later, chosen below the kernel's ephemeral range
 * (Linux: 32768–60999). A port the kernel picked for `listen(0)` and that was then released can be
 * handed out again to the next `listen(0)` (an issuer, an echo upstream) before the proxy binds
 * it: EADDRINUSE, seen here under load. Ports outside that range are never handed out that way.
 */
export async function freePort(): Promise<number> {
  return freePortIn(20_000, 32_000);
}

/** A free port in [from, to) whose `also` neighbours (offsets) are free too: a Redis Cluster node also takes port + 10000. */
export async function freePortIn(from: number, to: number, also: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from));
    // A port handed out but not yet bound is free to look at: never hand it out twice (a test picks
    // the proxy's port, then starts peers that pick theirs before the proxy listens).
    if (handedOut.has(port) || also.some((d) => handedOut.has(port + d))) continue;
    if (await canListen(port) && (await Promise.all(also.map((d) => canListen(port + d)))).every(Boolean)) {
      handedOut.add(port);
      for (const d of also) handedOut.add(port + d);
      return port;
    }
  }
  throw new Error(`no free loopback port found between ${from} and ${to}`);
}

const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export interface ProxyProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Every line the process wrote, stdout and stderr. */
  readonly lines: string[];
  /** Parsed JSON log lines. */
  logs(): Array<Record<string, unknown>>;
  waitForLog(match: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** True while the process has not exited. */
  alive(): boolean;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs bin/portcullis as users do: a child process configured by OAUTH2_PROXY_* variables.
 * NODE_ENV=production unless given, so a missing issuer is an error, not demo mode.
 */
export async function startProxy(env: Record<string, string>, o: { args?: string[]; waitFor?: 'listening' | 'exit'; cwd?: string; port?: number; shell?: string } = {}): Promise<ProxyProcess> {
  // `shell`: a command line a page shows (`npx portcullis --config …`), run by bash as written
  // instead of bin/portcullis with `args`; its process group is signalled, so npx's child is too.
  // `port`: the arguments name the address (--http-address), and the environment is left as given.
  const port = o.port ?? (env.OAUTH2_PROXY_HTTP_ADDRESS ? Number(env.OAUTH2_PROXY_HTTP_ADDRESS.split(':').pop()) : await freePort());
  const childEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    ...(o.port === undefined ? { OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` } : {}),
    ...env,
  };
  const child = o.shell !== undefined
    ? spawn('bash', ['-c', o.shell], { env: childEnv, cwd: o.cwd ?? REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, [BIN, ...(o.args ?? [])], { env: childEnv, cwd: o.cwd ?? REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const signal = (sig: NodeJS.Signals): void => {
    if (o.shell !== undefined && child.pid !== undefined) { try { process.kill(-child.pid, sig); } catch { /* already gone */ } } else child.kill(sig);
  };
  const lines: string[] = [];
  let exited = false;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => { exited = true; resolve(code); }));
  const waiters = new Set<() => void>();
  const collect = (buf: Buffer): void => {
    lines.push(...buf.toString('utf8').split('\n').filter(Boolean));
    for (const w of waiters) w();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const logs = (): Array<Record<string, unknown>> => lines.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
  const waitForLog = (match: (l: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = logs().find(match);
        if (hit) { waiters.delete(check); clearTimeout(timer); resolve(hit); }
        else if (exited) { waiters.delete(check); clearTimeout(timer); reject(new Error(`process exited; output:\n${lines.join('\n')}`)); }
      };
      const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for a log line; output:\n${lines.join('\n')}`)); }, timeoutMs);
      waiters.add(check);
      void exit.then(check);
      check();
    });
  const proc: ProxyProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    lines,
    logs,
    waitForLog,
    alive: () => !exited,
    stop: async (sig = 'SIGTERM') => {
      if (!exited) signal(sig);
      // A proxy that does not drain within its own 10 s grace is a failure, never a hung suite.
      const killer = setTimeout(() => signal('SIGKILL'), 15_000);
      try { return await exit; } finally { clearTimeout(killer); }
    },
  };
  if ((o.waitFor ?? 'listening') === 'listening') await waitForLog((l) => l.msg === 'portcullis listening');
  else await exit;
  return proc;
}
