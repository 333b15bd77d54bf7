// --sessions N: what N distinct signed-in users cost Portcullis in memory, and what a user's first
// request costs in CPU (the unseal, before the session is cached).
//
// N real logins would take too long here (each is a full code + PKCE flow against the dev issuer:
// several round trips, an RSA signature, a token and a userinfo call), so this mode measures the
// login rate on a few real logins, then seals N sessions itself with Portcullis's own codec (the
// built dist/src/session/codec.js, the same cookie secret and key derivation as the running proxy).
// Each sealed session is the real login's session with its own user, subject and email. Every one
// is then sent to the proxy once, and each must come back as the upstream's 200 body.
import http from 'node:http';
import { cookieSecretBytes, deriveSealPassword } from '../src/config/secret.js';
import { SessionCodec, type Session } from '../src/session/codec.js';
import { get } from './client.js';
import { median } from './compare.js';
import { treeCpuSeconds, treeMemory, type Memory } from './procs.js';
import type { Stack } from './stack.js';
import { login, type Target } from './targets.js';

const COOKIE = '_oauth2_proxy';
const MAX_CHUNK = 3800; // src/session/cookies.ts: a larger seal is sent as NAME_0, NAME_1, …

export interface SessionsResult {
  sessions: number;
  realLogins: { count: number; medianMs: number; portcullisCpuMsPerLogin: number; benchCpuMsPerLogin: number; estimateForAllS: number };
  sealing: { seconds: number; usPerSession: number; cookieBytes: number };
  firstRequests: { seconds: number; perSecond: number; portcullisCpuUsPerRequest: number; failures: number; concurrency: number };
  memory: { before: Memory; after: Memory; settled: Memory; peakRssMB: number; perSessionKB: number; curve: Array<[number, number]> };
  checked: string[];
}

function cookieHeader(sealed: string): string {
  if (sealed.length <= MAX_CHUNK) return `${COOKIE}=${sealed}`;
  const parts: string[] = [];
  for (let i = 0, n = 0; i < sealed.length; i += MAX_CHUNK, n++) parts.push(`${COOKIE}_${n}=${sealed.slice(i, i + MAX_CHUNK)}`);
  return parts.join('; ');
}

/** The sealed value inside a Cookie header made by a login (whole or chunked). */
function sealedOf(cookie: string): string {
  const map = new Map(cookie.split('; ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  if (map.has(COOKIE)) return map.get(COOKIE)!;
  let out = '';
  for (let n = 0; map.has(`${COOKIE}_${n}`); n++) out += map.get(`${COOKIE}_${n}`)!;
  return out;
}

export async function runSessions(stack: Stack, n: number, log: (l: string) => void): Promise<SessionsResult> {
  const pc = stack.targets.find((t) => t.name === 'portcullis');
  if (!pc) throw new Error('portcullis did not start');
  const pid = pc.child.pid;

  // 1. Real logins, timed, to see whether N of them would be feasible.
  const realCount = 20;
  const times: number[] = [];
  const cpu0 = treeCpuSeconds(pid), self0 = process.cpuUsage();
  for (let i = 0; i < realCount; i++) {
    const t0 = performance.now();
    const probe: Target = { ...pc, cookie: '' };
    await login(probe);
    times.push(performance.now() - t0);
  }
  const selfL = process.cpuUsage(self0);
  const realLogins = {
    count: realCount,
    medianMs: median(times),
    portcullisCpuMsPerLogin: ((treeCpuSeconds(pid) - cpu0) * 1000) / realCount,
    benchCpuMsPerLogin: (selfL.user + selfL.system) / 1000 / realCount,
    estimateForAllS: (median(times) * n) / 1000,
  };
  log(`real logins: ${realCount} in a row, median ${realLogins.medianMs.toFixed(1)} ms each (Portcullis CPU ${realLogins.portcullisCpuMsPerLogin.toFixed(1)} ms, `
    + `dev issuer + browser ${realLogins.benchCpuMsPerLogin.toFixed(1)} ms); ${n} of them would take ≈ ${Math.round(realLogins.estimateForAllS)} s`);

  // 2. The real session, unsealed with the proxy's own key, as the template.
  const secret = cookieSecretBytes(stack.ctx.cookieSecret);
  if (!secret) throw new Error('the cookie secret does not decode');
  const codec = new SessionCodec(deriveSealPassword(secret, 'session'), 168 * 3600_000);
  const template = await codec.unseal(sealedOf(pc.cookie));
  if (!template) throw new Error('could not unseal the real login\'s session with the proxy\'s key: the codec or the key derivation differs');

  const t0 = performance.now();
  const cookies: string[] = new Array<string>(n);
  const batch = 64; // iron's key derivations run on libuv's thread pool: keep it busy
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - i) }, async (_, k) => {
      const j = i + k;
      const s: Session = { ...template, user: `bench-user-${j}`, sub: `bench-user-${j}`, email: `bench-user-${j}@example.com`, createdAt: Date.now() };
      cookies[j] = cookieHeader(await codec.seal(s));
    }));
  }
  const sealS = (performance.now() - t0) / 1000;
  const sealing = { seconds: sealS, usPerSession: (sealS * 1e6) / n, cookieBytes: cookies[0]!.length };
  log(`sealed ${n} sessions with Portcullis's codec in ${sealS.toFixed(1)} s (${sealing.usPerSession.toFixed(0)} µs each, wall clock), cookie ${sealing.cookieBytes} bytes`);

  // 3. Each once through the proxy; RSS sampled every 500 ms.
  const before = treeMemory(pid);
  let peak = before.rssMB;
  // RSS against the sessions sent so far: does it level off once the session cache is full?
  const curve: Array<[number, number]> = [[0, before.rssMB]];
  const sampler = setInterval(() => {
    const rss = treeMemory(pid).rssMB;
    peak = Math.max(peak, rss);
    curve.push([next, rss]);
  }, 500);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const concurrency = 16;
  let next = 0, failures = 0;
  let firstFailure = '';
  const deadline = performance.now() + 600_000;
  const cpuA = treeCpuSeconds(pid);
  const tA = performance.now();
  const one = (cookie: string): Promise<void> => new Promise((resolve) => {
    const req = http.get(`${pc.url}/`, { agent, headers: { cookie } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200 || Buffer.concat(chunks).toString('utf8') !== stack.upstreamBody) {
          failures++;
          firstFailure ||= `${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`;
        }
        resolve();
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => { failures++; firstFailure ||= e.message; resolve(); });
  });
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n && performance.now() < deadline) await one(cookies[next++]!);
  }));
  const firstS = (performance.now() - tA) / 1000;
  const cpuUs = ((treeCpuSeconds(pid) - cpuA) * 1e6) / n;
  clearInterval(sampler);
  agent.destroy();
  if (next < n) throw new Error(`only ${next} of ${n} sessions were sent within 600 s`);
  const after = treeMemory(pid);
  peak = Math.max(peak, after.rssMB);
  log(`sent each session once: ${n} requests in ${firstS.toFixed(1)} s (${Math.round(n / firstS)}/s), Portcullis CPU ${cpuUs.toFixed(0)} µs per first request, `
    + `${failures} failures${firstFailure ? ` (first: ${firstFailure})` : ''}`);
  log(`Portcullis RSS ${before.rssMB.toFixed(1)} MB before, ${after.rssMB.toFixed(1)} MB after (peak ${peak.toFixed(1)} MB, VmHWM ${after.hwmMB.toFixed(1)} MB)`);

  // Idle for 5 s: what of the growth was garbage that a collection gives back.
  await new Promise((r) => setTimeout(r, 5_000));
  const settled = treeMemory(pid);
  log(`Portcullis RSS 5 s later, idle: ${settled.rssMB.toFixed(1)} MB`);

  // 4. Spot checks: the upstream sees the sealed user for the first and the last session.
  const checked: string[] = [];
  for (const j of [0, n - 1]) {
    const echo = await get(`${pc.url}/__echo`, { cookie: cookies[j]! });
    const user = (JSON.parse(echo.body) as { headers: Record<string, string> }).headers['x-forwarded-user'];
    if (user !== `bench-user-${j}`) throw new Error(`session ${j}: the upstream saw X-Forwarded-User ${JSON.stringify(user)}, not bench-user-${j}`);
    checked.push(`session ${j}: X-Forwarded-User ${user}`);
  }
  if (failures) throw new Error(`${failures} of ${n} session requests failed (first: ${firstFailure})`);
  return {
    sessions: n,
    realLogins,
    sealing,
    firstRequests: { seconds: firstS, perSecond: n / firstS, portcullisCpuUsPerRequest: cpuUs, failures, concurrency },
    memory: { before, after, settled, peakRssMB: peak, perSessionKB: ((after.rssMB - before.rssMB) * 1024) / n, curve: [...curve, [n, after.rssMB]] },
    checked,
  };
}
