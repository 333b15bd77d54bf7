// The path that is checked against the path the upstream gets, end to end: a real proxy (rules:
// skip_auth_routes ^/public/, a routes_file rule that keeps /admin for the admins group) in front
// of the echo upstream, and request targets built from the segments and encodings that make
// servers disagree. For any target, either the answer is 400, or the upstream receives exactly the
// target sent, and every way a server behind may read its path agrees with the rule's verdict.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { echoedIn } from './support/echoed.js';
import { rawRequest } from './support/http.js';
import { prop } from './support/prop.js';
import { loginThrough, startRig, type Rig } from './support/rig.js';

/** Percent-decoding that never throws (bad UTF-8 becomes U+FFFD), as lenient servers do. */
function decode(s: string): string {
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

/**
 * The paths servers behind may make of one as sent, written independently of src/: RFC 3986's
 * equivalent spelling (unreserved characters decoded), decoded once, decoded until stable; each
 * also with `\` as `/`, `;params` dropped, slashes merged and dot segments resolved by WHATWG.
 */
export function serverReadings(path: string): Set<string> {
  const unreserved = path.replace(/%([0-9A-Fa-f]{2})/g, (m, h: string) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(parseInt(h, 16))) ? String.fromCharCode(parseInt(h, 16)) : m));
  let full = path;
  for (let i = 0; i < 5; i++) full = decode(full);
  const out = new Set<string>();
  for (const p of [unreserved, decode(path), full]) {
    out.add(p);
    const loose = p.replace(/\\/g, '/').split('/').map((seg) => seg.split(';', 1)[0]).join('/').replace(/\/{2,}/g, '/');
    out.add(loose);
    // WHATWG's parser drops tabs and newlines from its input: keep them (encoded) as a server keeps them.
    try { out.add(decode(new URL(loose.replace(/[\x00-\x20\x7f?#]/g, (c) => encodeURIComponent(c)), 'http://h').pathname)); } catch { /* not a URL path */ }
  }
  return out;
}

const under = (p: string, prefix: string): boolean => p === prefix || p.startsWith(`${prefix}/`);

const segment = fc.constantFrom('public', 'admin', 'Admin', 'x', '', '.', '..', '%2e', '%2E%2e', '.%2e', '%2f', '%2F', '%5c', '%5C', '\\', ';', 'admin;x', '..;', ';..',
  '%3b', '%23', '%3f', '%25', '%252e%252e', '%2561dmin', '%61dmin', '%70ublic', 'publi%63', '%00', '%0a', '%ff', '%c0%ae', 'é', '%C3%A9', '~', 'a b', '*', '%', '%zz', 'public%2f..%2fadmin');
const target = fc.tuple(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.constantFrom('', '?', '?q=1', '?/admin', '?..', '?a=/public/', '#x'), fc.boolean())
  .map(([segs, q, slash]) => `/${segs.join('/')}${slash ? '/' : ''}${q}`)
  .filter((t) => !/[\s]/.test(t));

describe('the path the rules judged is the path the upstream gets', () => {
  let rig: Rig;
  let cookie: string;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-prop-path-'));
    const routes = join(dir, 'routes.yaml');
    writeFileSync(routes, 'rules:\n  - id: admin\n    match: { path: /admin }\n    require: { groups: [admins] }\n');
    rig = await startRig({ env: { OAUTH2_PROXY_SKIP_AUTH_ROUTES: '^/public/', OAUTH2_PROXY_ROUTES_FILE: routes, OAUTH2_PROXY_REQUEST_LOGGING: 'false' } });
    const b = await loginThrough(rig.proxy.url);
    cookie = `_oauth2_proxy=${b.cookies().get('_oauth2_proxy')}`;
  });
  after(async () => { await rig?.close(); });

  prop('without a session: the upstream gets the target unchanged, and only when every reading of its path is under /public/', 400, () => fc.asyncProperty(target, async (t) => {
    const r = await rawRequest(rig.proxy.url, t, { accept: 'application/json' });
    assert.ok([200, 400, 401].includes(r.status), `${t} → ${r.status}`);
    if (r.status !== 200) return;
    const e = echoedIn(r.text);
    assert.ok(e, `a 200 comes from the upstream: ${r.text.slice(0, 200)}`);
    assert.equal(e.url, t, 'the upstream gets the target as sent');
    const path = t.split('?', 1)[0]!;
    for (const reading of serverReadings(path)) assert.ok(under(reading, '/public') && reading !== '/public', `${t}: a server may read ${JSON.stringify(reading)}`);
  }));

  prop('signed in without the admins group: the upstream gets the target unchanged, and never one a server may read as under /admin', 400, () => fc.asyncProperty(target, async (t) => {
    const r = await rawRequest(rig.proxy.url, t, { accept: 'application/json', cookie });
    assert.ok([200, 400, 403].includes(r.status), `${t} → ${r.status}`);
    if (r.status !== 200) return;
    const e = echoedIn(r.text);
    assert.ok(e, `a 200 comes from the upstream: ${r.text.slice(0, 200)}`);
    assert.equal(e.url, t, 'the upstream gets the target as sent');
    const path = t.split('?', 1)[0]!;
    for (const reading of serverReadings(path)) assert.ok(!under(reading, '/admin'), `${t}: a server may read ${JSON.stringify(reading)}`);
  }));
});
