import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PortcullisError } from '../errors.js';
import { errorPage } from '../pages/pages.js';

/** Our own pages load nothing from elsewhere and are never framed or cached. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** A browser navigation (shown pages and redirects) rather than an API call (answered with JSON). */
export function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html') && req.headers['x-requested-with'] !== 'XMLHttpRequest';
}

export function sendHtml(res: ServerResponse, status: number, html: string, cookies: string[] = []): void {
  if (cookies.length) res.setHeader('set-cookie', cookies);
  res.writeHead(status, PAGE_HEADERS).end(html);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, cookies: string[] = []): void {
  if (cookies.length) res.setHeader('set-cookie', cookies);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(text);
}

export function redirect(res: ServerResponse, location: string, cookies: string[] = []): void {
  if (cookies.length) res.setHeader('set-cookie', cookies);
  res.writeHead(302, { location, 'cache-control': 'no-store' }).end();
}

const TITLES: Partial<Record<number, string>> = { 400: 'Sign-in problem', 401: 'Sign-in failed', 403: 'Access denied', 502: 'Upstream unavailable', 503: 'Sign-in unavailable' };

/** An error as a page for a browser or JSON for an API client: the same code and words either way. */
export function sendError(req: IncomingMessage, res: ServerResponse, err: PortcullisError, o: { retryUrl?: string; cookies?: string[] } = {}): void {
  if (wantsHtml(req)) {
    sendHtml(res, err.status, errorPage({ status: err.status, title: TITLES[err.status] ?? 'Error', message: err.message, retryUrl: o.retryUrl, code: err.code }), o.cookies);
  } else {
    sendJson(res, err.status, { error: err.code, message: err.message }, o.cookies);
  }
}
