import { STATUS_CODES, ServerResponse, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { PortcullisError } from '../errors.js';
import { DEFAULT_PAGES, type Pages } from '../pages/pages.js';

/**
 * Where an answer goes: the response of a plain request, or the bare socket of an upgrade request
 * (a websocket handshake has no ServerResponse, yet must get the same 401/403/502 with the same
 * codes). Every answer the proxy writes itself goes through `answer()`, so both behave alike.
 */
export type Outlet = ServerResponse | Duplex;

/**
 * The page set each request's pages come from. A proxy binds its own (templates, logo, footer) as
 * a request enters; an answer written before that (a malformed request at the listener) gets the
 * built-in pages. Kept beside the request rather than passed along, so that every caller of
 * sendError, in whatever module, renders the operator's pages.
 */
const PAGES = Symbol('portcullis.pages');
type WithPages = IncomingMessage & { [PAGES]?: Pages };

/** Binds the page set to the request: a property, not a WeakMap entry (the GC's ephemeron work on every request). */
export function usePages(req: IncomingMessage, pages: Pages): void {
  (req as WithPages)[PAGES] = pages;
}

export function pagesFor(req: IncomingMessage): Pages {
  return (req as WithPages)[PAGES] ?? DEFAULT_PAGES;
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };
const TEXT_HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };

/** True once something has been written (or the peer is gone): a second answer must not be tried. */
export function answered(out: Outlet): boolean {
  return out instanceof ServerResponse ? out.headersSent : !out.writable;
}

const socketStatus = new WeakMap<Duplex, number>();

/** The status the proxy wrote to an upgrade socket itself; undefined when the socket went upstream. */
export function statusWritten(socket: Duplex): number | undefined {
  return socketStatus.get(socket);
}

/** Writes a whole answer to a response, or as raw HTTP/1.1 to an upgrade socket (then closes it). */
export function answer(out: Outlet, status: number, headers: OutgoingHttpHeaders, body = '', cookies: readonly string[] = []): void {
  if (out instanceof ServerResponse) {
    if (cookies.length) addCookies(out, cookies);
    out.writeHead(status, headers).end(body);
    return;
  }
  if (!out.writable) return void out.destroy();
  socketStatus.set(out, status);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) head += `${name}: ${String(value)}\r\n`;
  for (const c of cookies) head += `set-cookie: ${c}\r\n`;
  head += `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  out.end(head + body);
}

/**
 * Adds Set-Cookie values to a response before it is written, beside those already set: a refreshed
 * session's cookies go out on whatever answer the request ends in, the upstream's included
 * (forward.ts keeps them).
 */
export function addCookies(res: ServerResponse, cookies: readonly string[]): void {
  const prev = res.getHeader('set-cookie');
  res.setHeader('set-cookie', prev === undefined ? [...cookies] : [...(Array.isArray(prev) ? prev : [String(prev)]), ...cookies]);
}

/** Requests answered with JSON whatever they accept (force_json_errors). */
const jsonOnly = new WeakSet<IncomingMessage>();

export function useJsonErrors(req: IncomingMessage): void {
  jsonOnly.add(req);
}

/** A browser navigation (shown pages and redirects) rather than an API call (answered with JSON). */
export function wantsHtml(req: IncomingMessage): boolean {
  if (jsonOnly.has(req)) return false;
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html') && req.headers['x-requested-with'] !== 'XMLHttpRequest';
}

/** A page of the proxy's own: never framed, cached, or allowed to run script (Pages.headers). */
export function sendHtml(out: Outlet, status: number, html: string, cookies: readonly string[] = [], headers: OutgoingHttpHeaders = DEFAULT_PAGES.headers): void {
  answer(out, status, headers, html, cookies);
}

export function sendJson(out: Outlet, status: number, body: unknown, cookies: readonly string[] = []): void {
  answer(out, status, JSON_HEADERS, JSON.stringify(body), cookies);
}

export function sendText(out: Outlet, status: number, text: string): void {
  answer(out, status, TEXT_HEADERS, text);
}

export function redirect(out: Outlet, location: string, cookies: readonly string[] = []): void {
  answer(out, 302, { location, 'cache-control': 'no-store' }, '', cookies);
}

/** An error as a page for a browser or JSON for an API client: the same code and words either way. */
export function sendError(req: IncomingMessage, out: Outlet, err: PortcullisError, o: {
  retryUrl?: string; cookies?: readonly string[]; extra?: Record<string, string>; note?: string;
  /** A signed-in user the access rules refuse: the page says who they are and offers to switch. */
  refused?: Refused; headers?: OutgoingHttpHeaders;
} = {}): void {
  if (wantsHtml(req)) {
    const pages = pagesFor(req);
    const html = pages.error({ status: err.status, title: err.title, message: err.message, note: o.note, retryUrl: o.retryUrl, code: err.code, signedInAs: o.refused?.signedInAs, requestId: pages.requestIdOf(req) });
    answer(out, err.status, { ...pages.headers, ...o.headers }, html, o.cookies);
  } else {
    const body = JSON.stringify({ error: err.code, message: err.message, ...(o.note ? { note: o.note } : {}), ...o.extra, ...o.refused });
    answer(out, err.status, { ...JSON_HEADERS, ...o.headers }, body, o.cookies);
  }
}

/** A signed-in user the access rules refuse: who they are, and where to sign out to switch user. */
export interface Refused {
  readonly signedInAs: string;
  readonly signOutUrl: string;
}

/**
 * What the refusal page shows: the email, else the preferred username, else the user id; and a
 * sign-out that lands on the sign-in page, so the next login can pick another account.
 */
export function refusalFor(who: { readonly user: string; readonly email?: string; readonly preferredUsername?: string }, proxyPrefix: string): Refused {
  return {
    signedInAs: who.email ?? who.preferredUsername ?? who.user,
    signOutUrl: `${proxyPrefix}/sign_out?rd=${encodeURIComponent(`${proxyPrefix}/sign_in?prompt=login`)}`,
  };
}
