import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpBrowser } from './support/browser.js';
import { startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { ALICE } from './support/stack.js';

// Step-up (routes_file acr_values and max_age) against the real issuer: the dev issuer (oidc-provider)
// knows two acr values, gives a login the acr the test chooses, asks the user to sign in again when
// the current login does not meet the acr_values asked for or is older than max_age, and puts acr and
// auth_time in every ID token.

const RULES = `
rules:
  - id: mfa
    match: { path: /mfa }
    require: { acr_values: [urn:example:mfa] }
  - id: recent
    match: { path: /recent }
    require: { max_age: 300 }
  - id: api-mfa
    match: { path: /api/mfa }
    require: { acr_values: "urn:example:mfa urn:example:hwk", max_age: 600 }
  - id: admin-mfa
    match: { path: /admin }
    require: { groups: [admins], acr_values: [urn:example:mfa] }
  - id: pay
    match: { path: /pay, methods: [POST] }
    require: { acr_values: [urn:example:hwk] }
`;
const MFA = 'urn:example:mfa';
const JSON_ACCEPT = { accept: 'application/json' };
const nowS = (): number => Math.floor(Date.now() / 1000);

describe('step-up with the real issuer', () => {
  let peers: Peers;
  let proxy: InProcess;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-stepup-'));
    writeFileSync(join(dir, 'routes.yaml'), RULES);
    peers = await startPeers({ issuerOptions: { acrValues: ['urn:example:pwd', MFA, 'urn:example:hwk'], requireAuthTime: true } });
    proxy = await startInProcess({
      ...peers.env, OAUTH2_PROXY_ROUTES_FILE: join(dir, 'routes.yaml'), OAUTH2_PROXY_API_ROUTES: '^/api/', OAUTH2_PROXY_REVERSE_PROXY: 'true',
      OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS: 'true',
    }, peers.port);
  });
  after(async () => { await proxy?.close(); await peers?.close(); rmSync(dir, { recursive: true, force: true }); });

  /** A browser signed in without a second factor (and, when given, `authTime` seconds ago). */
  async function signedIn(o: { acr?: string; authTime?: number } = {}): Promise<HttpBrowser> {
    const b = new HttpBrowser();
    peers.issuer.loginAs(ALICE.sub, o);
    assert.equal((await b.navigate(`${proxy.url}/oauth2/start?rd=/`)).status, 200);
    return b;
  }
  /** The authorization requests a browser made (not the issuer's own resume URLs under the same path). */
  const authorizationRequests = (b: HttpBrowser): URL[] => b.history.map((u) => new URL(u)).filter((u) => `${u.origin}${u.pathname}` === peers.issuer.endpoints.authorization);

  test('acr: a login without it is sent to the issuer with acr_values, and comes back to the same URL', async () => {
    const b = await signedIn();
    const before = b.cookies().get('_oauth2_proxy');
    const first = await b.request(`${proxy.url}/mfa/settings?tab=2`);
    assert.equal(first.status, 302);
    assert.equal(first.headers.location, '/oauth2/start?rd=%2Fmfa%2Fsettings%3Ftab%3D2');
    peers.issuer.loginAs(ALICE.sub, { acr: MFA });
    const back = await b.navigate(`${proxy.url}${first.headers.location}`);
    assert.equal(back.status, 200);
    assert.equal(back.url, `${proxy.url}/mfa/settings?tab=2`);
    const asked = authorizationRequests(b).at(-1)!;
    assert.equal(asked.searchParams.get('acr_values'), MFA);
    assert.equal(asked.searchParams.get('max_age'), null);
    assert.notEqual(b.cookies().get('_oauth2_proxy'), before, 'the new login replaced the session');
    assert.ok(proxy.logs.lines.some((l) => l.event === 'login' && l.acr === MFA));
    assert.equal((await b.request(`${proxy.url}/mfa`, { headers: JSON_ACCEPT })).status, 200, 'and the stronger session stays');
    assert.equal((await b.request(`${proxy.url}/`, { headers: JSON_ACCEPT })).status, 200);
  });

  test('an issuer that still does not give the acr: 403 STEP_UP_FAILED after one round, no loop', async () => {
    const b = await signedIn();
    peers.issuer.loginAs(ALICE.sub); // the issuer asks again, and again signs in without MFA
    const res = await b.navigate(`${proxy.url}/mfa`);
    assert.equal(res.status, 403);
    assert.match(res.body, /STEP_UP_FAILED/);
    assert.match(res.body, /did not confirm the stronger or more recent sign-in/);
    assert.equal(authorizationRequests(b).length, 2, 'the first login, and one step-up');
    assert.equal(b.history.filter((u) => u.startsWith(`${proxy.url}/mfa`)).length, 1);
    assert.ok(proxy.logs.lines.some((l) => l.event === 'step_up_unmet' && /acr \(none\) is none of \[urn:example:mfa\]/.test(String(l.detail))));
    // The login itself stands: the rest of the site works, and /mfa asks again (once per visit).
    assert.equal((await b.request(`${proxy.url}/`, { headers: JSON_ACCEPT })).status, 200);
    assert.equal((await b.request(`${proxy.url}/mfa`)).status, 302);
  });

  test('max_age: a sign-in an hour old is sent to sign in again, and a fresh one comes back', async () => {
    const b = await signedIn({ authTime: nowS() - 3600 });
    const first = await b.request(`${proxy.url}/recent`);
    assert.equal(first.status, 302);
    peers.issuer.loginAs(ALICE.sub); // now
    const back = await b.navigate(`${proxy.url}${first.headers.location}`);
    assert.equal(back.status, 200);
    assert.equal(back.url, `${proxy.url}/recent`);
    const asked = authorizationRequests(b).at(-1)!;
    assert.equal(asked.searchParams.get('max_age'), '300');
    assert.equal(asked.searchParams.get('acr_values'), null);
  });

  test('max_age: an issuer that answers with the old sign-in gets 403 STEP_UP_FAILED', async () => {
    const b = await signedIn({ authTime: nowS() - 3600 });
    peers.issuer.loginAs(ALICE.sub, { authTime: nowS() - 3600 });
    const res = await b.navigate(`${proxy.url}/recent`);
    assert.equal(res.status, 403);
    assert.match(res.body, /STEP_UP_FAILED/);
    assert.ok(proxy.logs.lines.some((l) => l.event === 'step_up_unmet' && /signed in 3\d{3} s ago, max_age 300/.test(String(l.detail))));
  });

  test('an API client gets 401 with the RFC 9470 challenge, from a route and from forward-auth', async () => {
    const b = await signedIn();
    const challenge = 'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:example:mfa urn:example:hwk", max_age="600"';
    for (const headers of [JSON_ACCEPT, {}]) { // an api_routes path: a browser gets the 401 too
      const res = await b.request(`${proxy.url}/api/mfa/items`, { headers });
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], challenge);
    }
    const json = await b.request(`${proxy.url}/mfa`, { headers: JSON_ACCEPT });
    assert.equal(json.status, 401);
    assert.equal(JSON.parse(json.body).error, 'STEP_UP_REQUIRED');
    assert.equal(json.headers['www-authenticate'], 'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:example:mfa"');
    const auth = await b.request(`${proxy.url}/oauth2/auth`, { headers: { ...JSON_ACCEPT, 'x-forwarded-uri': '/api/mfa' } });
    assert.equal(auth.status, 401);
    assert.equal(auth.headers['www-authenticate'], challenge);
    assert.equal((await b.request(`${proxy.url}/oauth2/auth`, { headers: JSON_ACCEPT })).status, 202);
  });

  test('a bearer JWT is held to the same rules by its own acr and auth_time (RFC 9470 is made for it)', async () => {
    const token = (claims: Record<string, unknown>) => peers.issuer.sign({
      iss: peers.issuer.issuer, aud: peers.env.OAUTH2_PROXY_CLIENT_ID, sub: ALICE.sub, email: ALICE.email, groups: ALICE.groups,
      iat: nowS(), exp: nowS() + 300, ...claims,
    });
    const call = async (path: string, jwt: string) => new HttpBrowser().request(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${jwt}` } });
    const strong = await token({ acr: 'urn:example:hwk', auth_time: nowS() - 60 });
    assert.equal((await call('/api/mfa', strong)).status, 200);
    const stale = await call('/api/mfa', await token({ acr: 'urn:example:hwk', auth_time: nowS() - 3600 }));
    assert.equal(stale.status, 401);
    assert.match(String(stale.headers['www-authenticate']), /max_age="600"/);
    // A token is never sent through a browser login: the challenge, even for an HTML request.
    const weak = await call('/mfa', await token({ acr: 'urn:example:pwd' }));
    assert.equal(weak.status, 401);
    assert.equal(weak.headers['www-authenticate'], 'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:example:mfa"');
  });

  test('a form POST to a rule for POST only: the step-up asked for is the POST\'s, and the browser comes back', async () => {
    const b = await signedIn();
    assert.equal((await b.request(`${proxy.url}/pay`)).status, 200, 'GET /pay needs nothing more');
    const post = await b.request(`${proxy.url}/pay`, { method: 'POST', body: 'amount=5', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(post.status, 302);
    assert.equal(post.headers.location, '/oauth2/start?rd=%2Fpay&rd_method=POST');
    peers.issuer.loginAs(ALICE.sub, { acr: 'urn:example:hwk' });
    const back = await b.navigate(`${proxy.url}${post.headers.location}`);
    assert.equal(back.status, 200);
    assert.equal(authorizationRequests(b).at(-1)!.searchParams.get('acr_values'), 'urn:example:hwk');
    assert.equal((await b.request(`${proxy.url}/pay`, { method: 'POST', body: 'amount=5', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 200);
  });

  test('a first login for a step-up route asks for the step-up at once', async () => {
    const b = new HttpBrowser();
    peers.issuer.loginAs(ALICE.sub, { acr: MFA });
    const res = await b.navigate(`${proxy.url}/oauth2/start?rd=/admin`);
    assert.equal(res.status, 200);
    assert.equal(res.url, `${proxy.url}/admin`);
    assert.equal(authorizationRequests(b).length, 1, 'one login, not a login and then a step-up');
    assert.equal(authorizationRequests(b)[0]!.searchParams.get('acr_values'), MFA);
  });

  test('/oauth2/start takes acr_values and max_age from the rule for rd, never from the query', async () => {
    const start = async (q: string): Promise<URL> => new URL((await new HttpBrowser().request(`${proxy.url}/oauth2/start?${q}`)).headers.location!);
    const plain = await start('rd=/&acr_values=urn:example:pwd&max_age=0');
    assert.equal(plain.searchParams.get('acr_values'), null);
    assert.equal(plain.searchParams.get('max_age'), null);
    const mfa = await start(`rd=${encodeURIComponent('/mfa?acr_values=x#top')}&acr_values=urn:example:pwd`);
    assert.equal(mfa.searchParams.get('acr_values'), MFA);
    const api = await start(`rd=${encodeURIComponent('/api/mfa/x')}`);
    assert.equal(api.searchParams.get('acr_values'), 'urn:example:mfa urn:example:hwk');
    assert.equal(api.searchParams.get('max_age'), '600');
    assert.equal((await start('rd=/pay')).searchParams.get('acr_values'), null, 'a GET of /pay needs nothing');
    assert.equal((await start('rd=/pay&rd_method=post')).searchParams.get('acr_values'), 'urn:example:hwk', 'rd_method picks among the operator\'s rules');
    assert.equal((await start('rd=/&rd_method=POST')).searchParams.get('acr_values'), null, 'and cannot ask for what no rule says');
    const dotted = await start(`rd=${encodeURIComponent('/x/../mfa')}`);
    assert.equal(dotted.searchParams.get('acr_values'), null, 'an rd the road would refuse asks for nothing (and lands on /)');
  });
});
