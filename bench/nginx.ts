// The nginx peer: a plain `proxy_pass` hop (no authentication), nginx's own config file and prefix
// in a temporary directory, one worker process, loopback only. The upstream block keeps 64 idle
// connections open and the hop speaks HTTP/1.1 with `Connection ""` to it: nginx's default
// proxy_pass opens a new upstream connection for every request. No access log, like the bare
// Node hops. Client keep-alive is unlimited, as on every other target.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnChild, type Child } from './procs.js';

export const NGINX = '/usr/sbin/nginx';
/** One worker: the Node targets each run one event loop, so each side gets one core's worth of workers. */
export const NGINX_WORKERS = 1;

export function nginxAvailable(): boolean {
  return existsSync(NGINX);
}

export function nginxConfig(dir: string, port: number, upstreamPort: number): string {
  return `# written by bench/nginx.ts
worker_processes ${NGINX_WORKERS};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  # Room for a large (chunked) session cookie that the bench sends to every target.
  large_client_header_buffers 4 64k;
  upstream app {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
}

/**
 * nginx in front of the upstream with `auth_request` to a forward-auth service (Portcullis's
 * /oauth2/auth, or the zero-work 202 server): the README's nginx set-up, with keep-alive upstream
 * blocks for both (nginx's default proxy_pass opens a connection per request, and per subrequest).
 */
export function nginxAuthConfig(dir: string, port: number, upstreamPort: number, authPort: number): string {
  return nginxConfig(dir, port, upstreamPort)
    .replace('# written by bench/nginx.ts', '# written by bench/nginx.ts (auth_request)')
    .replace('  server {', `  upstream auth {
    server 127.0.0.1:${authPort};
    keepalive 64;
  }
  server {
    location = /oauth2/auth {
      internal;
      proxy_pass http://auth;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
    }`)
    .replace('    location / {\n', '    location / {\n      auth_request /oauth2/auth;\n');
}

/** Starts nginx in the foreground (master + one worker, one process group); with authPort, with auth_request to it. */
export function startNginx(dir: string, port: number, upstreamPort: number, authPort?: number): Child {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, authPort === undefined ? nginxConfig(dir, port, upstreamPort) : nginxAuthConfig(dir, port, upstreamPort, authPort));
  return spawnChild('nginx', NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf]);
}
