import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpBrowser } from './support/browser.js';
import { freePort, startProxy } from './support/proxy.js';

test('with no configuration (and not production) bin/portcullis runs the demo: banner, dev issuer, echo upstream, a working login', async () => {
  const port = await freePort();
  const p = await startProxy({ NODE_ENV: 'development', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}` });
  try {
    // The banner goes to stderr after the 'listening' log line on stdout; two pipes, so wait for it (bounded).
    for (let i = 0; i < 100 && !p.lines.some((l) => l.includes('DEMO MODE')); i++) await new Promise((r) => setTimeout(r, 20));
    const out = p.lines.join('\n');
    assert.match(out, /DEMO MODE: not for production/);
    assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${port}/`));
    await p.waitForLog((l) => l.msg === 'issuer ready');
    const b = new HttpBrowser();
    const page = await b.navigate(`${p.url}/hello`);
    // Two dev issuers: the sign-in page offers both by name.
    assert.match(page.body, /Sign in with Acme staff/);
    assert.match(page.body, /id="sign-in-partner" data-provider="partner" href="\/oauth2\/start\?provider=partner&amp;rd=%2Fhello">Sign in with Partner</);
    const atIssuer = await b.navigate(new URL((/id="sign-in-acme" data-provider="acme" href="([^"]+)"/.exec(page.body))![1]!.replace(/&amp;/g, '&'), p.url).href);
    const form = /<form method="post" action="([^"]+)"><input type="hidden" name="sub" value="([^"]+)">/.exec(atIssuer.body);
    assert.ok(form, `the dev issuer shows its sign-in page: ${atIssuer.body.slice(0, 200)}`);
    const posted = await b.request(new URL(form[1]!, atIssuer.url).href, {
      method: 'POST', body: `sub=${encodeURIComponent(form[2]!)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const landed = await b.navigate(new URL(posted.headers.location!, atIssuer.url).href);
    assert.equal(landed.url, `${p.url}/hello`);
    assert.match(landed.body, /Hello, demo@example\.com/);
    // The demo app verified the proxy's identity JWT against its JWKS and shows the claims.
    assert.match(landed.body, /id="jwt-status" class="ok">valid</, landed.body.slice(0, 2000));
    assert.match(landed.body, /<th scope="row">sub<\/th><td>demo-user-1@acme<\/td>/);
    const api = JSON.parse((await b.request(`${p.url}/hello`, { headers: { accept: 'application/json' } })).body) as { headers: Record<string, string> };
    assert.equal(api.headers['x-forwarded-user'], 'demo-user-1@acme', 'curl still gets JSON; with two providers the user is sub@provider');

    // The partner's user has the same sub at its own issuer: another person.
    const other = new HttpBrowser();
    const atPartner = await other.navigate(`${p.url}/oauth2/start?provider=partner&rd=%2Fhello`);
    const pform = /<form method="post" action="([^"]+)"><input type="hidden" name="sub" value="([^"]+)">/.exec(atPartner.body);
    assert.ok(pform, `the partner dev issuer shows its sign-in page: ${atPartner.body.slice(0, 200)}`);
    const pposted = await other.request(new URL(pform[1]!, atPartner.url).href, {
      method: 'POST', body: `sub=${encodeURIComponent(pform[2]!)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await other.navigate(new URL(pposted.headers.location!, atPartner.url).href);
    const papi = JSON.parse((await other.request(`${p.url}/hello`, { headers: { accept: 'application/json' } })).body) as { headers: Record<string, string> };
    assert.equal(papi.headers['x-forwarded-user'], 'demo-user-1@partner');
    assert.equal(papi.headers['x-forwarded-email'], 'pat@partner.example');
  } finally {
    await p.stop();
  }
});

test('NODE_ENV=production with no issuer is a configuration error, not a demo', async () => {
  const p = await startProxy({ NODE_ENV: 'production', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${await freePort()}` }, { waitFor: 'exit' });
  assert.equal(p.child.exitCode, 2);
  assert.doesNotMatch(p.lines.join('\n'), /DEMO/);
  assert.match(p.lines.join('\n'), /OAUTH2_PROXY_OIDC_ISSUER_URL/);
});
