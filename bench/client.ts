// The benchmark's own HTTP requests outside the load runs: readiness polls and the checks before
// measuring. Plain node:http GETs with exactly the headers given (as wrk sends them), no agent.
import http from 'node:http';
import type { Child } from './procs.js';

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

export function get(url: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls url until `ok` accepts an answer; returns the milliseconds since `since` (the spawn).
 * Fails early when the child exits, and after timeoutMs.
 */
export async function waitHttp(child: Child, url: string, ok: (r: Reply) => boolean, since: number, timeoutMs = 20_000): Promise<number> {
  const deadline = since + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    if (child.exited()) throw new Error(`${child.name} exited during start-up:\n${child.tail.join('\n')}`);
    try {
      const r = await get(url, {}, 2_000);
      if (ok(r)) return performance.now() - since;
      last = `${r.status} ${r.body.slice(0, 200)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(20);
  }
  throw new Error(`${child.name} not ready after ${timeoutMs} ms (last answer from ${url}: ${last}):\n${child.tail.join('\n')}`);
}
