import type { Issuer } from '../oidc/issuer.js';
import type { Issuers } from '../oidc/issuers.js';
import { sendJson, type Outlet } from './answer.js';

/** A dependency's state as /ready tells it; `detail` is public (no addresses, no error text). */
export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly detail: string };

/** One dependency readiness depends on: today the issuer; a session store (Redis) adds its own. */
export interface ReadinessCheck {
  readonly name: string;
  /**
   * Checks of one group stand in for each other: the process is ready while one of them is (several
   * providers: a partner's issuer being down must not take the staff's logins off the load balancer).
   * The failed ones are then reported under `degraded`.
   */
  readonly group?: string;
  /** A synchronous answer where the state is known; a promise (bounded by CHECK_TIMEOUT_MS) where it must be asked. */
  check(): CheckResult | Promise<CheckResult>;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Record<string, CheckResult>;
  readonly failed: string[];
  /** Checks that failed while another of their group works (only with several providers). */
  readonly degraded?: string[];
}

/** A load balancer's probe gives up after a few seconds; /ready answers before that. */
const CHECK_TIMEOUT_MS = 2000;
const OK: CheckResult = { ok: true };

/**
 * `/ready`: 200 when every dependency is usable, 503 when one is not, with JSON naming each check
 * and the ones that failed. `/ping` is not here on purpose: liveness depends on nothing.
 */
export class Readiness {
  readonly #checks: readonly ReadinessCheck[];

  constructor(checks: readonly ReadinessCheck[]) {
    this.#checks = checks;
  }

  report(): ReadinessReport | Promise<ReadinessReport> {
    const results = this.#checks.map((c) => settle(c));
    if (results.some((r) => r instanceof Promise)) return Promise.all(results).then((all) => this.#assemble(all));
    return this.#assemble(results as CheckResult[]);
  }

  /** Answers on `out`; returns a promise only when a check had to be awaited. */
  answer(out: Outlet): void | Promise<void> {
    const r = this.report();
    if (r instanceof Promise) return r.then((report) => sendJson(out, report.ready ? 200 : 503, report));
    sendJson(out, r.ready ? 200 : 503, r);
  }

  #assemble(results: readonly CheckResult[]): ReadinessReport {
    const checks: Record<string, CheckResult> = {};
    const failed: string[] = [];
    const degraded: string[] = [];
    const groupUp = new Set<string>();
    this.#checks.forEach((c, i) => { if (c.group !== undefined && results[i]!.ok) groupUp.add(c.group); });
    this.#checks.forEach((c, i) => {
      checks[c.name] = results[i]!;
      if (results[i]!.ok) return;
      if (c.group !== undefined && groupUp.has(c.group)) degraded.push(c.name);
      else failed.push(c.name);
    });
    return { ready: failed.length === 0, checks, failed, ...(degraded.length ? { degraded } : {}) };
  }
}

/** A check that throws, rejects or takes too long has failed; it never makes /ready hang or 500. */
function settle(c: ReadinessCheck): CheckResult | Promise<CheckResult> {
  let r: CheckResult | Promise<CheckResult>;
  try {
    r = c.check();
  } catch {
    return { ok: false, detail: 'the check failed' };
  }
  if (!(r instanceof Promise)) return r;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }), CHECK_TIMEOUT_MS);
  });
  const checked = r.then((v) => v, (err: unknown) => ({ ok: false, detail: (err as { code?: string })?.code ?? 'the check failed' }) as CheckResult);
  return Promise.race([checked, late]).finally(() => clearTimeout(timer));
}

/** Ready once discovery (or the hand-given endpoints) succeeded; the issuer retries by itself meanwhile. */
export function issuerReadiness(issuer: Pick<Issuer, 'clients'>): ReadinessCheck {
  return {
    name: 'issuer',
    check: () => (issuer.clients ? OK : { ok: false, detail: 'discovery has not succeeded yet; retrying' }),
  };
}

/**
 * The issuers' checks: `issuer` with one provider, as ever; with several, `issuer:<id>` each, in one
 * group: ready while any provider can sign users in, the others reported as degraded.
 */
export function issuersReadiness(issuers: Pick<Issuers, 'all' | 'several'>): ReadinessCheck[] {
  if (!issuers.several) return [issuerReadiness(issuers.all[0]!)];
  return issuers.all.map((i) => ({ ...issuerReadiness(i), name: `issuer:${i.provider.id}`, group: 'issuer' }));
}
