// Caddy's forward_auth in front of Portcullis and an app: docs/caddy.md's Caddyfile and Portcullis's
// variables, run as written against a real Caddy (Debian's caddy), bin/portcullis and the real issuer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { startEchoUpstream } from '../src/demo/echo.js';
import type { DevAccount } from '../src/devissuer/issuer.js';
import { HttpBrowser, type Response } from './support/browser.js';
import { startCaddy, type Caddy } from './support/caddy.js';
import { docBlock } from './support/docblock.js';
import { startPeers, type Peers } from './support/inprocess.js';
import { freePort, startProxy, type ProxyProcess } from './support/proxy.js';
import { ALICE } from './support/stack.js';

/** A user the issuer knows without groups or preferred_username: Portcullis answers those two headers empty. */
const BOB: DevAccount = { sub: 'bob-subject-0002', email: 'bob@example.com', email_verified: true, name: 'Bob' };

/** Replaces every `from` (which must occur) with `to`: a change of the docs' text fails here, not later. */
function substitute(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `the docs' block no longer contains ${JSON.stringify(from)}; update the substitution in test/caddy.test.ts`);
  return text.split(from).join(to);
}

/**
 * The docs' Caddyfile with only addresses changed: the site address `app.example.com` becomes
 * `http://127.0.0.1:CADDY` (plain http on a free port), the admin API `localhost:2019` a free
 * loopback port (two Caddys on one machine would both want 2019), Portcullis's 127.0.0.1:4180 and
 * the app's 127.0.0.1:8080 the ports this test's servers listen on.
 */
function caddyfileFor(ports: { caddy: number; admin: number; proxy: number }, appHost: string): string {
  let text = docBlock('caddy-forward-auth', 'caddyfile');
  text = substitute(text, 'admin localhost:2019', `admin 127.0.0.1:${ports.admin}`);
  text = substitute(text, '\napp.example.com {', `\nhttp://127.0.0.1:${ports.caddy} {`);
  text = substitute(text, '127.0.0.1:4180', `127.0.0.1:${ports.proxy}`);
  return substitute(text, '127.0.0.1:8080', appHost);
}

/** The issuer's settings, which the docs leave for the reader to fill in: the test issuer's values replace them. */
const ISSUER_KEYS = ['OAUTH2_PROXY_OIDC_ISSUER_URL', 'OAUTH2_PROXY_CLIENT_ID', 'OAUTH2_PROXY_CLIENT_SECRET', 'OAUTH2_PROXY_COOKIE_SECRET'] as const;

/**
 * Portcullis's variables from the docs' KEY=VALUE lines: the four issuer settings above get the
 * test issuer's values (and its scope, to be given groups); every other line as written, with
 * Portcullis's 127.0.0.1:4180 and the site's https://app.example.com changed to this test's addresses.
 */
function proxyEnvFor(peers: Peers, proxyPort: number, caddyUrl: string): Record<string, string> {
  let text = docBlock('caddy-portcullis-env', 'sh');
  text = substitute(text, '127.0.0.1:4180', `127.0.0.1:${proxyPort}`);
  text = substitute(text, 'https://app.example.com', caddyUrl);
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    assert.ok(m, `not a KEY=VALUE line in the docs' caddy-portcullis-env block: ${JSON.stringify(line)}`);
    env[m[1]!] = m[2]!;
  }
  for (const k of ISSUER_KEYS) {
    assert.ok(k in env, `the docs' caddy-portcullis-env block no longer sets ${k}`);
    env[k] = peers.env[k]!;
  }
  return { ...env, OAUTH2_PROXY_SCOPE: peers.env.OAUTH2_PROXY_SCOPE! };
}

/** The sign-in page's link to /oauth2/start, as the browser would follow it. */
function startLink(page: Response): string | undefined {
  return /id="sign-in" href="([^"]+)"/.exec(page.body)?.[1]?.replace(/&amp;/g, '&');
}

/** Forged identity headers a client sends, in oauth2-proxy's names and in an underscore spelling CGI/PHP/WSGI fold into them. */
const FORGED = {
  'x-forwarded-user': 'admin',
  'x-forwarded-email': 'admin@evil.test',
  'x-forwarded-groups': 'admins',
  'x-forwarded-preferred-username': 'root',
  'x_forwarded_user': 'admin',
  'x-forwarded_email': 'admin@evil.test',
};

test('the docs\' Caddyfile removes the client\'s copy of every header copy_headers sets, inside route and before forward_auth', () => {
  // Caddy 2.9.0–2.11.1 (CVE-2026-30851) leave a client's copy when the answer has the header empty
  // or missing; Debian's 2.6.2, which the test below runs, overwrites it, so it cannot show this.
  const text = docBlock('caddy-forward-auth', 'caddyfile');
  const block = /copy_headers \{\n([\s\S]*?)\n\s*\}/.exec(text)?.[1];
  assert.ok(block, 'the Caddyfile has a copy_headers { … } block');
  const targets = block.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => l.split('>').pop()!);
  assert.deepEqual(targets, ['X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username']);
  const route = text.search(/^\s*route \{$/m);
  const forwardAuth = text.search(/^\s*forward_auth /m);
  assert.ok(route > 0 && forwardAuth > route, 'forward_auth sits inside route, where directives run in the order written');
  for (const name of targets) {
    const at = text.search(new RegExp(`^\\s*request_header -${name}$`, 'm'));
    assert.ok(at > route && at < forwardAuth, `no request_header -${name} between route { and forward_auth`);
  }
});

describe('Caddy forward_auth (docs/caddy.md) in front of bin/portcullis and an app, the Caddyfile as written', () => {
  let peers: Peers;
  let proxy: ProxyProcess;
  let caddy: Caddy;
  let app: Awaited<ReturnType<typeof startEchoUpstream>>;
  /** Every request the app received, in order. */
  const atApp: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  const appSawSince = (n: number): Array<{ url: string; headers: IncomingHttpHeaders }> => atApp.slice(n);

  before(async () => {
    const ports = { caddy: await freePort(), admin: await freePort(), proxy: await freePort() };
    peers = await startPeers({ ports: [ports.caddy], accounts: [ALICE, BOB] });
    // The app: the echo upstream answers with what it got, and this records it too, for requests that must never arrive.
    app = await startEchoUpstream();
    app.server.on('request', (req: IncomingMessage) => atApp.push({ url: req.url ?? '', headers: req.headers }));
    proxy = await startProxy(proxyEnvFor(peers, ports.proxy, `http://127.0.0.1:${ports.caddy}`));
    caddy = await startCaddy(caddyfileFor(ports, new URL(app.url).host), ports.caddy);
  });
  after(async () => {
    await caddy?.stop();
    await proxy?.stop();
    await app?.close();
    await peers?.close();
  });

  /** Asks for `path` through Caddy without a session, then signs in as `account` from the sign-in page shown there. */
  async function signIn(account: DevAccount, path: string): Promise<{ b: HttpBrowser; landed: Response }> {
    peers.issuer.loginAs(account.sub);
    const b = new HttpBrowser();
    const page = await b.navigate(`${caddy.url}${path}`);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    const start = startLink(page);
    assert.ok(start, `the sign-in page links to /oauth2/start: ${page.body.slice(0, 300)}`);
    const landed = await b.navigate(new URL(start, caddy.url).href);
    return { b, landed };
  }

  /** What the app received for a request through Caddy (the echo app's JSON). */
  async function appGot(b: HttpBrowser, path: string, headers: Record<string, string> = {}): Promise<IncomingHttpHeaders> {
    const res = await b.request(`${caddy.url}${path}`, { headers: { accept: 'application/json', ...headers } });
    assert.equal(res.status, 200, `${res.status} ${res.body.slice(0, 300)}\n${caddy.output().slice(-2000)}`);
    return (JSON.parse(res.body) as { headers: IncomingHttpHeaders }).headers;
  }

  test('without a session: a browser gets the sign-in page where it stands, an API client the 401; the app sees neither, forged headers or not', async () => {
    const seen = atApp.length;
    const b = new HttpBrowser();
    const page = await b.navigate(`${caddy.url}/app/page?x=1&y=2`, { headers: FORGED });
    assert.equal(page.status, 200, page.body.slice(0, 300));
    assert.equal(page.url, `${caddy.url}/app/page?x=1&y=2`, 'served in place, as nginx\'s error_page does');
    assert.equal(startLink(page), '/oauth2/start?rd=%2Fapp%2Fpage%3Fx%3D1%26y%3D2', 'the page asked for, query and all, is where the login returns');

    const api = await new HttpBrowser().request(`${caddy.url}/api/items`, { headers: { accept: 'application/json', ...FORGED } });
    assert.equal(api.status, 401, api.body.slice(0, 300));
    assert.equal((JSON.parse(api.body) as { error: string }).error, 'UNAUTHENTICATED', 'Portcullis\'s own 401, copied as it is');
    const post = await new HttpBrowser().request(`${caddy.url}/app/form`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...FORGED }, body: 'a=1' });
    assert.equal(post.status, 200, 'a browser POST without a session gets the sign-in page too');
    assert.ok(startLink(post), post.body.slice(0, 300));
    assert.deepEqual(appSawSince(seen), [], 'no request reached the app without a session');
    // The page's first check when Caddy answers 502: Portcullis's liveness path.
    const ping = await new HttpBrowser().request(`${proxy.url}/ping`);
    assert.deepEqual([ping.status, ping.body.trim()], [200, 'OK']);
  });

  test('a login through Caddy lands on the page asked for, and the app gets the identity Portcullis answered, never the forged one', async () => {
    const seen = atApp.length;
    const { b, landed } = await signIn(ALICE, '/app/page?x=1&y=2');
    assert.equal(landed.status, 200, landed.body.slice(0, 300));
    assert.equal(landed.url, `${caddy.url}/app/page?x=1&y=2`, 'back on the page asked for, through Caddy');
    assert.equal(appSawSince(seen).length, 1, 'the app saw the request only once the user was signed in');
    assert.equal(appSawSince(seen)[0]!.headers['x-forwarded-user'], ALICE.sub);

    const got = await appGot(b, '/app/data', { ...FORGED, 'x-forwarded-for': '203.0.113.9' });
    assert.equal(got['x-forwarded-user'], ALICE.sub);
    assert.equal(got['x-forwarded-email'], ALICE.email);
    assert.equal(got['x-forwarded-groups'], 'admins,devs');
    assert.equal(got['x-forwarded-preferred-username'], 'alice');
    assert.equal(got['x_forwarded_user'], undefined, 'the underscore spellings are stripped too');
    assert.equal(got['x-forwarded_email'], undefined, 'the underscore spellings are stripped too');
    assert.match(String(got.cookie), /_oauth2_proxy=/, 'the app is reached with the browser\'s own request');
    assert.equal(got['x-forwarded-for'], '127.0.0.1', 'Caddy says who the client is, whatever the client claims');
  });

  test('a user without groups or preferred_username: the forged copies of the headers Portcullis leaves out never reach the app as sent', async () => {
    const { b, landed } = await signIn(BOB, '/');
    assert.equal(landed.status, 200, landed.body.slice(0, 300));
    const got = await appGot(b, '/who', FORGED);
    assert.equal(got['x-forwarded-user'], BOB.sub);
    assert.equal(got['x-forwarded-email'], BOB.email);
    // Portcullis answers an empty X-Auth-Request-Groups for a user in no group. Caddy 2.6 copies it
    // as empty (the app would get `{http.reverse_proxy.header.X-Auth-Request-Groups}` were it
    // missing); 2.9.0–2.11.1 copy nothing and would pass the client's copy on (CVE-2026-30851) but
    // for the Caddyfile's request_header lines; 2.11.2 and later remove it. Empty or absent, then.
    for (const name of ['x-forwarded-groups', 'x-forwarded-preferred-username'] as const) {
      const v = got[name];
      assert.ok(v === undefined || v === '', `${name} reached the app as ${JSON.stringify(v)} (the client sent ${JSON.stringify(FORGED[name])})`);
    }
  });

  test('sign-out through Caddy ends the session here and at the issuer; the next request is sent to sign in again', async () => {
    const { b } = await signIn(ALICE, '/');
    assert.equal((await appGot(b, '/before'))['x-forwarded-user'], ALICE.sub);
    const out = await b.request(`${caddy.url}/oauth2/sign_out`);
    assert.equal(out.status, 302, out.body.slice(0, 300));
    const toIssuer = new URL(String(out.headers.location));
    assert.equal(toIssuer.origin + toIssuer.pathname, peers.issuer.endpoints.endSession, 'RP-initiated logout at the issuer');
    assert.equal(toIssuer.searchParams.get('post_logout_redirect_uri'), `${caddy.url}/oauth2/sign_out`, 'back through Caddy');
    // The issuer's confirmation page submits its form by script: submitted here by hand.
    const confirm = await b.navigate(toIssuer.href);
    const form = /<form[^>]*id="op\.logoutForm"[^>]*>/.exec(confirm.body)?.[0] ?? '';
    const action = /action="([^"]+)"/.exec(form)?.[1];
    assert.ok(action, confirm.body.slice(0, 500));
    const fields = new URLSearchParams([...confirm.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    fields.set('logout', 'yes');
    const done = await b.request(new URL(action.replace(/&amp;/g, '&'), toIssuer).href, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields.toString() });
    assert.ok(done.status >= 300 && done.status < 400, `${done.status} ${done.body.slice(0, 300)}`);
    const landed = await b.navigate(new URL(String(done.headers.location), toIssuer).href);
    assert.equal(landed.url, `${caddy.url}/oauth2/sign_in?signed_out=1`, 'back through Caddy, on the signed-out page');

    const seen = atApp.length;
    const again = await b.navigate(`${caddy.url}/after`);
    assert.equal(again.status, 200);
    assert.equal(startLink(again), '/oauth2/start?rd=%2Fafter', 'sent to sign in again');
    const api = await b.request(`${caddy.url}/after`, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.deepEqual(appSawSince(seen), [], 'the app saw nothing after sign-out');
  });
});
