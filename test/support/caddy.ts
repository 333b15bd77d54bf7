import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's caddy (2.6.2 on Debian 12); .ci/run installs it when missing. */
export const CADDY = '/usr/bin/caddy';

export interface Caddy {
  readonly url: string;
  /** What caddy wrote (its log goes to stderr), for a failing assertion's message. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Runs a real Caddy in the foreground (`caddy run --config FILE --adapter caddyfile`) with
 * `caddyfile` as its whole configuration, HOME and XDG folders in a temporary directory (Caddy
 * keeps certificates and its autosave there), until it accepts on 127.0.0.1:`port`. Fails (never
 * skips) when caddy is missing or refuses the file.
 */
export async function startCaddy(caddyfile: string, port: number): Promise<Caddy> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-caddy-'));
  const file = join(dir, 'Caddyfile');
  writeFileSync(file, caddyfile);
  for (const d of ['home', 'data', 'config']) mkdirSync(join(dir, d));
  const child: ChildProcess = spawn(CADDY, ['run', '--config', file, '--adapter', 'caddyfile'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: join(dir, 'home'), XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // Keep reading (a full pipe would block caddy's logger) but keep only the tail.
  const keep = (c: Buffer): void => { out = (out + c.toString('utf8')).slice(-20_000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let spawnError: Error | undefined;
  child.once('error', (e) => { spawnError = e; });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const until = Date.now() + 15_000;
  for (;;) {
    if (spawnError) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${CADDY} could not be started (${spawnError.message}): install Debian's caddy (apt-get install caddy; .ci/run does)`);
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`caddy exited (${child.exitCode ?? child.signalCode}) before listening:\n${out}`);
    }
    if (await accepts(port)) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`caddy did not listen on 127.0.0.1:${port} within 15 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
