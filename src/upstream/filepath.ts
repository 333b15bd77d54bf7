import { join, sep } from 'node:path';

/** Where a request points inside a file upstream's directory, before symlinks are resolved. */
export interface RequestedFile {
  /** Decoded path segments below the directory; none is empty, `.`, `..`, or holds `/`, `\` or NUL. */
  readonly segments: readonly string[];
  /** The path ended with `/`: a directory is served by its index.html (without, it is redirected to the slash). */
  readonly slash: boolean;
}

/**
 * The file a request path names under a route, or undefined for a path that could name something
 * outside the directory. The route prefix is removed first (`/static/a.css` under route `/static/`
 * is `a.css`, as oauth2-proxy's StripPrefix does); then each segment is percent-decoded on its own,
 * so an encoded `/` (%2F) or `\` (%5C) can never become a separator, and `..` (raw or %2e%2e) is
 * refused rather than resolved. Empty segments (`a//b`) are dropped, as path.Clean does in Go.
 */
export function requestedFile(target: string, route: string): RequestedFile | undefined {
  const q = target.search(/[?#]/);
  const pathname = q < 0 ? target : target.slice(0, q);
  const base = route.endsWith('/') ? route.slice(0, -1) : route;
  if (!pathname.startsWith(base)) return undefined;
  const rest = pathname.slice(base.length);
  if (rest !== '' && !rest.startsWith('/')) return undefined;
  const segments: string[] = [];
  const raw = rest.split('/');
  for (let i = 1; i < raw.length; i++) {
    if (raw[i] === '') continue;
    let s: string;
    try { s = decodeURIComponent(raw[i]!); } catch { return undefined; }
    if (s === '.' || s === '..' || /[/\\\0]/.test(s)) return undefined;
    segments.push(s);
  }
  return { segments, slash: rest.endsWith('/') };
}

/** The path of a requested file under a root (lexically inside it: no segment can climb). */
export function joinUnder(root: string, segments: readonly string[]): string {
  return segments.length ? join(root, ...segments) : root;
}

/** True when a resolved (realpath) location is the root or inside it. */
export function isInside(root: string, resolved: string): boolean {
  if (resolved === root) return true;
  return resolved.startsWith(root.endsWith(sep) ? root : root + sep);
}
