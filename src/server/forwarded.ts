import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { addressBytes } from '../access/cidr.js';
import type { Config } from '../config/validate.js';
import { splitTarget } from './context.js';

/** What the request's peer may tell about the client, and whom to believe (from the configuration). */
export type ForwardingTrust = Pick<Config, 'reverseProxy' | 'trustedProxies' | 'realClientIpHeader'>;

/**
 * Sockets accepted on a unix-socket listener. They have no peer address; whoever can open the
 * socket file (its mode says who) is a process on this machine, and is trusted as oauth2-proxy
 * trusts it. Marked by the listener rather than guessed from a missing address, since a TCP
 * socket that is already closed reports no address either.
 */
const localPeers = new WeakSet<Socket>();

export function markLocalPeer(socket: Socket): void {
  localPeers.add(socket);
}

/** True when reverse_proxy is on and the peer is one of trusted_proxy_ips (or came over the unix socket). */
export function peerIsTrusted(req: IncomingMessage, t: ForwardingTrust): boolean {
  if (!t.reverseProxy) return false;
  return localPeers.has(req.socket) || t.trustedProxies.has(req.socket.remoteAddress);
}

/** True when TLS ends here, on this connection. */
export function arrivedEncrypted(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

/** The scheme the client used: a trusted load balancer's X-Forwarded-Proto, else whether TLS ended here. */
export function requestScheme(req: IncomingMessage, t: ForwardingTrust): 'http' | 'https' {
  if (peerIsTrusted(req, t)) {
    const p = firstValue(req.headers['x-forwarded-proto'])?.toLowerCase();
    if (p === 'https' || p === 'http') return p;
  }
  return arrivedEncrypted(req) ? 'https' : 'http';
}

const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The host the client asked for: a trusted load balancer's X-Forwarded-Host, else Host; undefined
 * when it is not a plain host[:port], since it goes into URLs the proxy hands out.
 */
export function requestHost(req: IncomingMessage, t: ForwardingTrust): string | undefined {
  const host = (peerIsTrusted(req, t) && firstValue(req.headers['x-forwarded-host'])) || req.headers.host;
  return host && HOST.test(host) ? host : undefined;
}

/**
 * The client's address for the logs: from real_client_ip_header when a trusted load balancer
 * sent a valid one (its first entry, as oauth2-proxy reads it, port removed), else the peer's
 * own address (none over a unix socket).
 */
export function clientAddress(req: IncomingMessage, t: ForwardingTrust): string | undefined {
  if (peerIsTrusted(req, t)) {
    const v = firstValue(req.headers[t.realClientIpHeader]);
    const ip = v && (/^\[([^\]]+)\](:\d+)?$/.exec(v)?.[1] ?? (/^[\d.]+:\d+$/.test(v) ? v.slice(0, v.lastIndexOf(':')) : v));
    if (ip && addressBytes(ip)) return ip;
  }
  return req.socket.remoteAddress;
}

/** A request another proxy asks forward-auth about: its method when told, and its path (without the query). */
export interface ForwardedTarget {
  readonly method?: string;
  readonly path: string;
}

/**
 * The requests a reverse proxy in front asks /oauth2/auth about: X-Forwarded-Uri (Traefik, Caddy)
 * and X-Original-URI (nginx's auth_request examples), with X-Forwarded-Method or X-Original-Method.
 * Believed from a trusted peer only, and then only to add a route's requirements: whether a login
 * is needed is never theirs to say. [] when there are none (or the peer is not trusted); undefined
 * when one is not an origin-form target the road itself would take (dot segments, a full URL).
 */
export function forwardedTargets(req: IncomingMessage, t: ForwardingTrust): ForwardedTarget[] | undefined {
  if (!peerIsTrusted(req, t)) return [];
  const m = (firstValue(req.headers['x-forwarded-method']) ?? firstValue(req.headers['x-original-method']))?.toUpperCase();
  const method = m && /^[A-Z]+$/.test(m) ? m : undefined;
  const out: ForwardedTarget[] = [];
  for (const name of ['x-forwarded-uri', 'x-original-uri']) {
    const v = req.headers[name];
    if (v === undefined) continue;
    for (const uri of Array.isArray(v) ? v : [v]) {
      const target = splitTarget(uri.trim());
      if (!target) return undefined;
      out.push({ method, path: target.path });
    }
  }
  return out;
}

export function firstValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s?.split(',')[0]?.trim() || undefined;
}

/**
 * The client's address for trusted_ips, where a wrong answer lets someone in: the peer, or behind
 * a trusted load balancer the address it reports. X-Forwarded-For is read from the right, past
 * the load balancers of trusted_proxy_ips, because its left entries are whatever the client sent
 * (oauth2-proxy takes the first, which a client can forge). Other headers must hold one address.
 * Undefined when the header is there but unusable: no address is trusted then.
 */
export function trustedClientAddress(req: IncomingMessage, t: ForwardingTrust): string | undefined {
  if (!peerIsTrusted(req, t)) return req.socket.remoteAddress;
  const raw = req.headers[t.realClientIpHeader];
  if (raw === undefined) return req.socket.remoteAddress;
  const entries = (Array.isArray(raw) ? raw.join(',') : raw).split(',').map((e) => bareAddress(e.trim()));
  if (entries.some((e) => e === undefined)) return undefined;
  if (t.realClientIpHeader !== 'x-forwarded-for') return entries.length === 1 ? entries[0] : undefined;
  for (let i = entries.length - 1; i >= 0; i--) if (!t.trustedProxies.has(entries[i])) return entries[i];
  return entries[0];
}

/** An address as a header may carry it (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`), without its port. */
function bareAddress(v: string): string | undefined {
  const ip = /^\[([^\]]+)\](:\d+)?$/.exec(v)?.[1] ?? (/^[\d.]+:\d+$/.test(v) ? v.slice(0, v.lastIndexOf(':')) : v);
  return addressBytes(ip) ? ip : undefined;
}

/** A path (with or without a query) at or under the proxy's prefix: one of its own endpoints. */
export function isUnderPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}?`);
}

/**
 * Where a trusted reverse proxy says the browser was going, for the return after login when
 * forward-auth asks at a proxied path rather than /oauth2/auth (oauth2-proxy's Traefik setup: a
 * forwardAuth to `/` with a static://202 upstream): X-Forwarded-Uri, with X-Forwarded-Proto and
 * -Host. oauth2-proxy's order: that URL when `allowed` takes it (whitelist_domains), else the path
 * (a path under the proxy prefix is `/`, where a return would loop). Undefined when no trusted
 * peer names one, or it is not a plain path.
 */
export function forwardedDestination(req: IncomingMessage, t: ForwardingTrust & Pick<Config, 'proxyPrefix'>, allowed: (url: string) => boolean): string | undefined {
  if (!peerIsTrusted(req, t)) return undefined;
  const raw = req.headers['x-forwarded-uri'];
  const uri = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (!uri || !uri.startsWith('/') || uri.startsWith('//') || !splitTarget(uri)) return undefined;
  const path = isUnderPrefix(uri, t.proxyPrefix) ? '/' : uri;
  const host = requestHost(req, t);
  if (!host || host === req.headers.host) return path;
  const url = `${requestScheme(req, t)}://${host}${path}`;
  return allowed(url) ? url : path;
}
