import { constants, realpathSync, type Stats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import type http from 'node:http';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream';
import type { Logger } from 'pino';
import type { UpstreamSpec } from '../config/validate.js';
import { PortcullisError } from '../errors.js';
import { sendError } from '../server/answer.js';
import { contentTypeOf } from './contenttype.js';
import { isInside, joinUnder, requestedFile, type RequestedFile } from './filepath.js';
import type { Upstream, UpstreamFailure } from './contract.js';

/**
 * The files are behind a login: no shared cache may keep them (`private`), and the browser asks
 * again each time (`no-cache`), so a signed-out or refused user is not served from its cache; the
 * ETag makes that a cheap 304.
 */
const CACHE_CONTROL = 'private, no-cache';

/** O_NOFOLLOW: a last component swapped for a symlink after realpath() is refused, not followed. O_NONBLOCK: a FIFO cannot hang open(). */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Errors that mean "nothing to serve here" rather than a broken disk. */
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'EPERM', 'ENAMETOOLONG']);

interface Opened { readonly handle: FileHandle; readonly stat: Stats; readonly real: string }

/**
 * `file:///dir#/route` (oauth2-proxy's file upstream): the files of one directory, streamed, with
 * ETag/Last-Modified revalidation and single byte ranges. Never a file outside the directory: the
 * path is decoded segment by segment (see requestedFile), then resolved with realpath and checked to
 * be inside the directory's own realpath, so a symlink is followed only when it stays inside. Only
 * regular files are served; a directory by its index.html, never by a listing.
 */
export class FileUpstream implements Upstream {
  readonly path: string;
  readonly target: string;
  readonly #root: string;
  readonly #log: Logger;

  constructor(spec: Extract<UpstreamSpec, { kind: 'file' }>, log: Logger) {
    this.path = spec.path;
    this.target = `file://${spec.dir}`;
    // Resolved once: a root that is itself a symlink (/var/www -> /srv/www) is where files must stay.
    this.#root = realpathSync(spec.dir);
    this.#log = log;
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse, onFailure: UpstreamFailure): void {
    req.resume(); // a body is never read here; draining it keeps the connection usable
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendError(req, res, new PortcullisError('METHOD_NOT_ALLOWED'));
    }
    const wanted = requestedFile(req.url ?? '/', this.path);
    if (!wanted) return sendError(req, res, new PortcullisError('BAD_REQUEST', { detail: 'file path with an encoded separator, a NUL or bad percent-encoding' }));
    this.#serve(req, res, wanted).catch((err: Error) => {
      if (res.headersSent) res.destroy();
      else onFailure(err);
    });
  }

  close(): void { /* files are opened per request and closed by their streams */ }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse, wanted: RequestedFile): Promise<void> {
    let file = await this.#open(joinUnder(this.#root, wanted.segments));
    const isDirectoryIndex = file?.stat.isDirectory() === true;
    if (file && isDirectoryIndex) {
      await file.handle.close();
      file = await this.#open(join(file.real, 'index.html'));
      if (file?.stat.isFile() && !wanted.slash) {
        await file.handle.close();
        // Rebuilt from the decoded segments: never `//host`, whatever the request's spelling.
        const base = this.path.endsWith('/') ? this.path.slice(0, -1) : this.path;
        const q = (req.url ?? '').indexOf('?');
        const location = `${base}/${wanted.segments.map(encodeURIComponent).join('/')}${wanted.segments.length ? '/' : ''}${q < 0 ? '' : req.url!.slice(q)}`;
        res.writeHead(301, { location: location.replace(/^\/\/+/, '/'), 'cache-control': CACHE_CONTROL }).end();
        return;
      }
    }
    // `notes.txt/` names a directory that is not there: 404, as open() with the slash would say.
    if (!file || !file.stat.isFile() || (wanted.slash && !isDirectoryIndex)) {
      await file?.handle.close();
      return sendError(req, res, new PortcullisError('FILE_NOT_FOUND'));
    }
    await sendFile(req, res, file);
  }

  /** Opens a path when it resolves inside the root; undefined when it is missing, unreadable or outside. */
  async #open(path: string): Promise<Opened | undefined> {
    let real: string;
    try { real = await realpath(path); } catch (e) {
      if (MISSING.has((e as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw e;
    }
    if (!isInside(this.#root, real)) {
      this.#log.warn({ event: 'file_outside_root', root: this.#root, resolved: real }, 'a symlink in a file upstream leads outside its directory; not served');
      return undefined;
    }
    let handle: FileHandle;
    try { handle = await open(real, OPEN_FLAGS); } catch (e) {
      if (MISSING.has((e as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw e;
    }
    try { return { handle, stat: await handle.stat(), real }; } catch (e) {
      await handle.close();
      throw e;
    }
  }
}

async function sendFile(req: http.IncomingMessage, res: http.ServerResponse, { handle, stat, real }: Opened): Promise<void> {
  const etag = `"${Math.floor(stat.mtimeMs).toString(16)}-${stat.size.toString(16)}"`;
  const lastModified = stat.mtime.toUTCString();
  const validators = { etag, 'last-modified': lastModified, 'cache-control': CACHE_CONTROL };
  if (notModified(req.headers, etag, stat.mtimeMs)) {
    await handle.close();
    res.writeHead(304, validators).end();
    return;
  }
  const headers: http.OutgoingHttpHeaders = {
    ...validators, 'content-type': contentTypeOf(basename(real)), 'accept-ranges': 'bytes', 'x-content-type-options': 'nosniff',
  };
  let status = 200;
  let [start, end] = [0, stat.size - 1];
  // Ranges are defined for GET only (RFC 9110 §14.2); If-Range asks for them only while the file is unchanged.
  const ifRange = req.headers['if-range'];
  if (req.method === 'GET' && req.headers.range !== undefined && ifRangeHolds(Array.isArray(ifRange) ? '' : ifRange, etag, lastModified)) {
    const range = parseRange(req.headers.range, stat.size);
    if (range === 'unsatisfiable') {
      await handle.close();
      res.setHeader('content-range', `bytes */${stat.size}`);
      return sendError(req, res, new PortcullisError('RANGE_NOT_SATISFIABLE'));
    }
    if (range) {
      status = 206;
      [start, end] = range;
      headers['content-range'] = `bytes ${start}-${end}/${stat.size}`;
    }
  }
  headers['content-length'] = String(end - start + 1);
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || end < start) {
    await handle.close();
    res.end();
    return;
  }
  // Streamed in 64 KiB reads with backpressure: memory stays flat whatever the file's size.
  pipeline(handle.createReadStream({ start, end, autoClose: true }), res, () => { /* a client gone mid-file is not an error */ });
}

/** RFC 9110 §13.1.2/§13.1.3: If-None-Match (weak comparison) decides alone when present. */
export function notModified(headers: http.IncomingHttpHeaders, etag: string, mtimeMs: number): boolean {
  const inm = headers['if-none-match'];
  if (inm !== undefined) return inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
  const ims = headers['if-modified-since'];
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  // HTTP dates have whole seconds: a file modified within the same second counts as unchanged.
  return !Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
}

/** RFC 9110 §13.1.5: a range is served only if If-Range (when sent) still names this file: strong ETag, or the exact date. */
export function ifRangeHolds(ifRange: string | undefined, etag: string, lastModified: string): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  return v.startsWith('"') ? v === etag : v === lastModified;
}

/**
 * One byte range (RFC 9110 §14.1.2) as [first, last], 'unsatisfiable' (416), or undefined to send the
 * whole file: an invalid header is ignored, as the RFC asks, and so is a multi-range request (its
 * multipart answer is optional; the whole file is a correct answer).
 */
export function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const first = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Number(m[2]);
  if (last < first && m[2] !== '') return undefined;
  if (first >= size) return 'unsatisfiable';
  return [first, Math.min(last, size - 1)];
}
