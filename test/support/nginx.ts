import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docBlock } from './docblock.js';

/** An nginx block the docs give users, exactly as written between its `<!-- name:start/end -->` markers. */
export function docsNginxSnippet(name = 'nginx-snippet'): string {
  return docBlock(name, 'nginx');
}

export interface Nginx { readonly url: string; stop(): Promise<void> }

/**
 * Runs a real nginx (Debian nginx-light) in the foreground with `server` as its only server block,
 * every path in a temporary directory, logs included; `main` adds main-context directives. Fails
 * (never skips) when nginx is missing.
 */
export async function startNginx(server: string, port: number, o: { main?: string } = {}): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-nginx-'));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${o.main ?? ''}
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${server}
}
`);
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (e) => { stderr += String(e); });
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited: ${stderr}${safeRead(join(dir, 'error.log'))}`);
    if (await accepts(port)) break;
    if (Date.now() > until) { child.kill('SIGKILL'); throw new Error(`nginx did not listen on ${port}: ${stderr}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGQUIT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function safeRead(p: string): string {
  try { return readFileSync(p, 'utf8'); } catch { return ''; }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
