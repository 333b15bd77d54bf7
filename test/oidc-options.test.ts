// oauth2-proxy's OIDC options added by the sweep (issue 13), against the real issuer (oidc-provider):
// response_mode=form_post, insecure_oidc_skip_nonce, oidc_enabled_signing_algs, oidc_public_key_files,
// insecure_oidc_skip_issuer_verification, skip_claims_from_profile_url, ssl_insecure_skip_verify and
// session_cookie_minimal. Each is shown doing what it says, and shown refusing where it is off.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeSources } from '../src/config/load.js';
import { cookieSecretBytes, deriveSealPasswords } from '../src/config/secret.js';
import { validateConfig } from '../src/config/validate.js';
import { startDevIssuer, type DevIssuer } from '../src/devissuer/issuer.js';
import { createLogger } from '../src/log.js';
import { startPortcullis } from '../src/run.js';
import { SessionCodec, type Session } from '../src/session/codec.js';
import { HttpBrowser, type Response } from './support/browser.js';
import { LogLines } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { COOKIE_SECRET, loginThrough, startRig, type Rig, type RigOptions } from './support/rig.js';
import { CLIENT_ID, CLIENT_SECRET } from './support/stack.js';
import { makeCertificates } from './support/tls.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => { for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => {}); });
async function rig(o: RigOptions): Promise<Rig> {
  const r = await startRig(o);
  cleanups.push(() => r.close());
  return r;
}
const dir = mkdtempSync(join(tmpdir(), 'portcullis-oidc-options-'));
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p; };

/**
 * A proxy in this process that is not waited for: for configurations whose issuer never becomes
 * usable, where /ready must say 503 and the log must say why.
 */
async function startUnready(issuer: DevIssuer, port: number, env: Record<string, string>): Promise<{ url: string; logs: LogLines }> {
  const v = validateConfig(mergeSources({ flags: {}, env: {
    OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`, OAUTH2_PROXY_OIDC_ISSUER_URL: issuer.issuer, OAUTH2_PROXY_CLIENT_ID: CLIENT_ID,
    OAUTH2_PROXY_CLIENT_SECRET: CLIENT_SECRET, OAUTH2_PROXY_COOKIE_SECRET: randomBytes(32).toString('base64url'), OAUTH2_PROXY_COOKIE_SECURE: 'false',
    OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_UPSTREAMS: 'static://200', ...env,
  }, dotenv: {} }));
  assert.ok(v.ok, v.ok ? '' : v.errors.join('\n'));
  const logs = new LogLines();
  const running = await startPortcullis(v.config, createLogger('info', logs), { requestLog: logs });
  cleanups.push(() => running.close(0));
  return { url: running.url, logs };
}

/** Waits (at most 5 s) for a log line. */
async function logged(logs: LogLines, match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (const until = Date.now() + 5000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    const hit = logs.lines.find(match);
    if (hit) return hit;
  }
  throw new Error(`no such log line; got:\n${logs.lines.map((l) => JSON.stringify(l)).join('\n')}`);
}

/** Follows a login to the issuer's form_post page, then submits that form as its script would. */
async function loginWithFormPost(b: HttpBrowser, proxyUrl: string): Promise<Response> {
  const form = await b.navigate(`${proxyUrl}/oauth2/start?rd=/posted`);
  assert.equal(form.status, 200, form.body.slice(0, 300));
  const action = /<form[^>]*action="([^"]+)"/.exec(form.body)?.[1];
  assert.ok(action, `the issuer answers with a self-submitting form: ${form.body.slice(0, 300)}`);
  const fields = new URLSearchParams();
  for (const m of form.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields.set(m[1]!, m[2]!.replace(/&amp;/g, '&'));
  assert.ok(fields.get('code') && fields.get('state'), `the form carries code and state: ${[...fields.keys()].join(', ')}`);
  return b.request(action.replace(/&amp;/g, '&'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields.toString() });
}

/** The session a browser's cookie holds. */
async function sessionIn(b: HttpBrowser): Promise<Session> {
  const c = b.cookies();
  const sealed = c.get('_oauth2_proxy') ?? [0, 1, 2, 3].map((i) => c.get(`_oauth2_proxy_${i}`) ?? '').join('');
  const s = await new SessionCodec(deriveSealPasswords([cookieSecretBytes(COOKIE_SECRET)!], 'session'), 7 * 86_400_000).unseal(sealed);
  assert.ok(s, 'the session cookie unseals');
  return s;
}

/** The first key of a JWKS as a PEM public key (SPKI), as an operator would export it once. */
async function publicPem(jwksUrl: string): Promise<string> {
  const { keys } = await (await fetch(jwksUrl)).json() as { keys: Array<Record<string, unknown>> };
  return createPublicKey({ key: keys[0]! as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
}

const withoutNonce = (c: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'nonce'));

describe('auth_request_response_mode', () => {
  test('form_post: the mode is sent, the issuer POSTs the code to the callback, and the user is signed in', async () => {
    const r = await rig({ env: { OAUTH2_PROXY_AUTH_REQUEST_RESPONSE_MODE: 'form_post', OAUTH2_PROXY_COOKIE_CSRF_SAMESITE: 'none', OAUTH2_PROXY_COOKIE_SECURE: 'true' } });
    const start = await new HttpBrowser().request(`${r.proxy.url}/oauth2/start`);
    assert.equal(new URL(start.headers.location!).searchParams.get('response_mode'), 'form_post');
    assert.match(start.headers['set-cookie']!.join('\n'), /_csrf_[^;]*;.*SameSite=None/i, 'the login-state cookie travels with the issuer\'s cross-site POST');
    const b = new HttpBrowser();
    const callback = await loginWithFormPost(b, r.proxy.url);
    assert.equal(callback.status, 302, callback.body.slice(0, 300));
    assert.equal(callback.headers.location, '/posted');
    const app = await b.request(`${r.proxy.url}/posted`);
    assert.equal(app.status, 200);
    assert.match(app.body, /rita@example\.com/);
    const bad = await b.request(`${r.proxy.url}/oauth2/callback`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'code=x' });
    assert.equal(bad.status, 400, 'a callback POST that is not a form is a 400, never a 500');
  });

  test('form_post needs a SameSite=None login-state cookie; fragment is refused; query is sent as query', async () => {
    await assert.rejects(rig({ env: { OAUTH2_PROXY_AUTH_REQUEST_RESPONSE_MODE: 'form_post' } }), /AUTH_REQUEST_RESPONSE_MODE: got "form_post", expected form_post together with OAUTH2_PROXY_COOKIE_CSRF_SAMESITE=none/);
    await assert.rejects(rig({ env: { OAUTH2_PROXY_AUTH_REQUEST_RESPONSE_MODE: 'fragment' } }), /a fragment never reaches the server/);
    const r = await rig({ env: { OAUTH2_PROXY_AUTH_REQUEST_RESPONSE_MODE: 'query' } });
    const start = await new HttpBrowser().request(`${r.proxy.url}/oauth2/start`);
    assert.equal(new URL(start.headers.location!).searchParams.get('response_mode'), 'query');
    await loginThrough(r.proxy.url);
  });
});

describe('insecure_oidc_skip_nonce', () => {
  test('an ID token without the nonce is refused by default (oauth2-proxy skips the check by default) and let through with the option; a wrong nonce never', async () => {
    const strict = await rig({});
    strict.issuer.mangleNextIdToken(withoutNonce);
    const refused = await new HttpBrowser().navigate(`${strict.proxy.url}/oauth2/start`);
    assert.equal(refused.status, 401, refused.body.slice(0, 200));
    assert.match(refused.body, /LOGIN_TOKEN_INVALID/);

    const lax = await rig({ env: { OAUTH2_PROXY_INSECURE_OIDC_SKIP_NONCE: 'true' } });
    lax.issuer.mangleNextIdToken(withoutNonce);
    await loginThrough(lax.proxy.url);
    lax.issuer.mangleNextIdToken((c) => ({ ...c, nonce: 'from-another-login' }));
    const replayed = await new HttpBrowser().navigate(`${lax.proxy.url}/oauth2/start`);
    assert.equal(replayed.status, 401);
    assert.match(replayed.body, /LOGIN_TOKEN_INVALID/);
  });
});

describe('oidc_enabled_signing_algs', () => {
  test('an algorithm the issuer signs with lets logins through; none in common keeps the proxy unready, saying why', async () => {
    const ok = await rig({ env: { OAUTH2_PROXY_OIDC_ENABLED_SIGNING_ALGS: 'RS256,ES256' } });
    await loginThrough(ok.proxy.url);

    const issuer = await startDevIssuer({ shape: 'hydra', clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: ['http://127.0.0.1:1/oauth2/callback'] }] });
    cleanups.push(() => issuer.stop());
    const p = await startUnready(issuer, await freePort(), { OAUTH2_PROXY_OIDC_ENABLED_SIGNING_ALGS: 'ES256' });
    const line = await logged(p.logs, (l) => l.msg === 'issuer discovery failed; retrying');
    assert.match(JSON.stringify(line.err), /no ID token signing algorithm in common: the issuer lists RS256, oidc_enabled_signing_algs allows ES256/);
    assert.equal((await fetch(`${p.url}/ready`)).status, 503);
  });
});

describe('oidc_public_key_files', () => {
  const byHand = (key: string) => (issuer: DevIssuer): Record<string, string> => ({
    OAUTH2_PROXY_SKIP_OIDC_DISCOVERY: 'true',
    OAUTH2_PROXY_LOGIN_URL: issuer.endpoints.authorization,
    OAUTH2_PROXY_REDEEM_URL: issuer.endpoints.token,
    OAUTH2_PROXY_VALIDATE_URL: issuer.endpoints.userinfo,
    OAUTH2_PROXY_OIDC_PUBLIC_KEY_FILES: key,
  });

  test('with discovery skipped, the issuer\'s public key from a PEM file verifies its ID tokens; another key refuses them', async () => {
    const retired = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    // Two RSA keys and no key ids (a rotation): each is tried, as oauth2-proxy's static key set does.
    const good = await rig({ env: async (issuer) => byHand(file(`issuer-${issuer.port}.pem`, `${retired}${await publicPem(issuer.endpoints.jwks)}`))(issuer) });
    const b = await loginThrough(good.proxy.url);
    assert.equal((await sessionIn(b)).email, 'rita@example.com');
    // A forged ID token (signed with a key the file does not hold) is refused, with a key file as with a JWKS.
    good.issuer.mangleNextIdToken((c) => c, 'foreign');
    const forged = await new HttpBrowser().navigate(`${good.proxy.url}/oauth2/start`);
    assert.equal(forged.status, 401);
    assert.match(forged.body, /LOGIN_TOKEN_INVALID/);

    const foreign = file('foreign.pem', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const wrong = await rig({ env: byHand(foreign) });
    const refused = await new HttpBrowser().navigate(`${wrong.proxy.url}/oauth2/start`);
    assert.equal(refused.status, 401);
    assert.match(refused.body, /LOGIN_TOKEN_INVALID/);
  });

  test('a file without a public key, or one beside oidc_jwks_url, stops start-up', async () => {
    await assert.rejects(rig({ env: byHand(file('empty.pem', 'not a key\n')) }), /OIDC_PUBLIC_KEY_FILES: .*holds no -----BEGIN PUBLIC KEY----- block/);
    const key = file('k.pem', generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string);
    await assert.rejects(rig({ env: (i) => ({ ...byHand(key)(i), OAUTH2_PROXY_OIDC_JWKS_URL: i.endpoints.jwks }) }), /no public key files with OAUTH2_PROXY_OIDC_JWKS_URL/);
  });
});

describe('insecure_oidc_skip_issuer_verification', () => {
  test('a discovery document naming another issuer is refused by default, accepted with the option; ID tokens then carry the discovered issuer', async () => {
    const issuer = await startDevIssuer({ shape: 'hydra', clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: ['http://127.0.0.1:1/oauth2/callback'] }] });
    cleanups.push(() => issuer.stop());
    // The same issuer, named by another host: its document says 127.0.0.1.
    const elsewhere = issuer.issuer.replace('127.0.0.1', 'localhost');
    const strict = await startUnready(issuer, await freePort(), { OAUTH2_PROXY_OIDC_ISSUER_URL: elsewhere });
    const line = await logged(strict.logs, (l) => l.msg === 'issuer discovery failed; retrying');
    assert.match(JSON.stringify(line.err), /issuer does not match/);
    assert.equal((await fetch(`${strict.url}/ready`)).status, 503);

    const r = await rig({ env: (i) => ({ OAUTH2_PROXY_OIDC_ISSUER_URL: i.issuer.replace('127.0.0.1', 'localhost'), OAUTH2_PROXY_INSECURE_OIDC_SKIP_ISSUER_VERIFICATION: 'true' }) });
    assert.ok(r.proxy.logs.lines.some((l) => l.event === 'issuer_mismatch_accepted' && l.discovered === r.issuer.issuer));
    const b = await loginThrough(r.proxy.url);
    assert.equal((await sessionIn(b)).email, 'rita@example.com');
    // The ID token's iss is still checked, against the issuer the document names.
    r.issuer.mangleNextIdToken((c) => ({ ...c, iss: 'https://someone-else.example/' }));
    const forged = await new HttpBrowser().navigate(`${r.proxy.url}/oauth2/start`);
    assert.equal(forged.status, 401);
    assert.match(forged.body, /LOGIN_TOKEN_INVALID/);
  });
});

describe('skip_claims_from_profile_url', () => {
  test('userinfo fills what the ID token lacks (email here) unless the option says not to', async () => {
    const asks = await rig({});
    assert.equal((await sessionIn(await loginThrough(asks.proxy.url))).email, 'rita@example.com');
    // Only what the verified ID token says, and it has the subject alone: no email, so no login (as in oauth2-proxy).
    const skips = await rig({ env: { OAUTH2_PROXY_SKIP_CLAIMS_FROM_PROFILE_URL: 'true' } });
    const refused = await new HttpBrowser().navigate(`${skips.proxy.url}/oauth2/start?rd=/`);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /EMAIL_MISSING/);
    // With the email in the ID token itself (claimsInIdToken), the login holds without userinfo.
    const inToken = await rig({ env: { OAUTH2_PROXY_SKIP_CLAIMS_FROM_PROFILE_URL: 'true' }, issuer: { claimsInIdToken: true } });
    const s = await sessionIn(await loginThrough(inToken.proxy.url));
    assert.equal(s.email, 'rita@example.com');
  });
});

describe('ssl_insecure_skip_verify', () => {
  test('an issuer whose certificate is not trusted is unreachable by default, reachable with the option (a private CA in provider_ca_files is the better way)', async () => {
    const certs = makeCertificates(['127.0.0.1']);
    cleanups.push(() => certs.remove());
    const tls = { cert: readFileSync(certs.certFile, 'utf8'), key: readFileSync(certs.keyFile, 'utf8') };
    const issuer = await startDevIssuer({ shape: 'hydra', tls, clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: ['http://127.0.0.1:1/oauth2/callback'] }] });
    cleanups.push(() => issuer.stop());
    const strict = await startUnready(issuer, await freePort(), {});
    const line = await logged(strict.logs, (l) => l.msg === 'issuer discovery failed; retrying');
    assert.match(JSON.stringify(line.err), /certificate|self.signed|UNABLE_TO_VERIFY|fetch failed/i);

    const r = await rig({ issuer: { tls }, env: { OAUTH2_PROXY_SSL_INSECURE_SKIP_VERIFY: 'true' } });
    assert.match(r.issuer.issuer, /^https:/);
    const b = new HttpBrowser({ ca: certs.ca });
    const res = await b.navigate(`${r.proxy.url}/oauth2/start?rd=/in`);
    assert.equal(res.status, 200, res.body.slice(0, 300));
    assert.match(res.body, /rita@example\.com/);
  });
});

describe('session_cookie_minimal', () => {
  test('the cookie session keeps no token, not even the ID token: sign-out reaches the issuer without id_token_hint', async () => {
    const full = await rig({});
    const kept = await loginThrough(full.proxy.url);
    assert.ok((await sessionIn(kept)).idToken, 'by default the ID token is kept for sign-out at the issuer');
    assert.ok(new URL((await kept.request(`${full.proxy.url}/oauth2/sign_out`)).headers.location!).searchParams.get('id_token_hint'));

    const minimal = await rig({ env: { OAUTH2_PROXY_SESSION_COOKIE_MINIMAL: 'true' } });
    const b = await loginThrough(minimal.proxy.url);
    const s = await sessionIn(b);
    assert.deepEqual([s.idToken, s.accessToken, s.refreshToken], [undefined, undefined, undefined]);
    const out = new URL((await b.request(`${minimal.proxy.url}/oauth2/sign_out`)).headers.location!);
    assert.equal(out.searchParams.get('id_token_hint'), null);
    assert.ok(out.href.startsWith(minimal.issuer.endpoints.endSession), out.href);
    await assert.rejects(rig({ env: { OAUTH2_PROXY_SESSION_COOKIE_MINIMAL: 'true', OAUTH2_PROXY_PASS_ACCESS_TOKEN: 'true' } }), /SESSION_COOKIE_MINIMAL: got "true", expected false with OAUTH2_PROXY_PASS_ACCESS_TOKEN=true/);
  });
});
