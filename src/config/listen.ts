import type { ListenAddress } from './types.js';

/** `host:port`, `http://host:port`, `:port`, or `unix:///path[,mode=0660]` (oauth2-proxy's socket mode syntax). */
export function parseListenAddress(v: string): ListenAddress | undefined {
  if (/^unix:\/\//i.test(v)) {
    const [p, ...opts] = v.slice('unix://'.length).split(',');
    if (!p!.startsWith('/') || opts.length > 1) return undefined;
    if (opts.length === 0) return { kind: 'unix', path: p! };
    const m = /^mode=(0?[0-7]{3})$/.exec(opts[0]!);
    return m ? { kind: 'unix', path: p!, mode: parseInt(m[1]!, 8) } : undefined;
  }
  const hostPort = v.replace(/^https?:\/\//, '');
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:/\s]*):(\d{1,5})$/.exec(hostPort);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { kind: 'tcp', host: (m[1] || '0.0.0.0').replace(/^\[|\]$/g, ''), port };
}
