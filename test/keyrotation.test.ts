// An issuer that rotates its signing keys: a login seconds after the rotation must not fail
// because the JWKS fetched a moment ago lacks the new key (openid-client refetches at most once a
// minute; the code cannot be redeemed twice, so the same token answer is checked again).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpBrowser } from './support/browser.js';
import { events, loginThrough, startRig, type Rig } from './support/rig.js';

const rigs: Rig[] = [];
after(async () => { for (const r of rigs) await r.close(); });

const CASES: Array<{ name: string; env: Record<string, string> }> = [
  { name: 'openid-client checks the ID token', env: {} },
  { name: 'Portcullis checks it (oidc_extra_audiences widens the audience rule)', env: { OAUTH2_PROXY_OIDC_EXTRA_AUDIENCES: 'another-client' } },
];

for (const c of CASES) {
  test(`a login right after the issuer rotates its keys succeeds: ${c.name}`, { timeout: 60_000 }, async () => {
    const r = await startRig({ env: c.env });
    rigs.push(r);
    await loginThrough(r.proxy.url); // the JWKS is fetched now, with the old key alone
    r.issuer.rotateKeys();
    const jwks = await (await fetch(new URL('.well-known/jwks.json', r.issuer.issuer))).json() as { keys: Array<{ kid: string }> };
    assert.equal(jwks.keys.length, 2, 'the new key is published beside the old one');

    const b = new HttpBrowser();
    const res = await b.navigate(`${r.proxy.url}/oauth2/start?rd=%2F`);
    assert.equal(res.status, 200, `the login seconds after the rotation ends on the upstream, got ${res.status}: ${JSON.stringify(events(r.proxy, 'login_failed'))}`);
    assert.equal(events(r.proxy, 'login_failed').length, 0);
    assert.equal(events(r.proxy, 'login').length, 2);
  });
}

test('a refresh right after the issuer rotates its keys keeps the session (its new ID token is checked with the keys fetched anew)', { timeout: 60_000 }, async () => {
  const r = await startRig({ env: { OAUTH2_PROXY_COOKIE_REFRESH: '1s', OAUTH2_PROXY_PROMPT: 'consent' } });
  rigs.push(r);
  const b = await loginThrough(r.proxy.url);
  r.issuer.rotateKeys();
  await new Promise((res) => setTimeout(res, 1_200));
  const res = await b.request(`${r.proxy.url}/`, { headers: { accept: 'application/json' } });
  assert.equal(res.status, 200, `still signed in after the refresh: ${JSON.stringify(events(r.proxy, 'session_refresh_refused'))}`);
  assert.equal(events(r.proxy, 'session_refreshed').length, 1);
  assert.equal(r.issuer.refreshGrants.succeeded, 1);
});
