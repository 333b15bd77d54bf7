// The OpenID Foundation's RP certification test plan, one row per test ID (test/support/rp-plan-table.ts),
// each run here: the issuer is the real one (oidc-provider, the dev issuer); what it will not do
// by itself (a re-signed, unsigned or encrypted ID token, a JWKS with more keys, a userinfo answer
// for someone else) the tampering proxy of test/support/tamperer.ts does on the way. Portcullis is
// not certified: this is what a certification run would check, and what it would see.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CompactEncrypt, SignJWT, decodeJwt, decodeProtectedHeader, exportJWK } from 'jose';
import { mergeSources } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import { replaceBetweenMarkers, textBetweenMarkers } from '../src/config/docs.js';
import { createLogger } from '../src/log.js';
import { startPortcullis } from '../src/run.js';
import { HttpBrowser, type Response } from './support/browser.js';
import { LogLines, startInProcess, startPeers, type InProcess, type Peers } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { RP_PLAN, RP_PLAN_MARKERS, rpPlanMarkdownTable, type PlanRow } from './support/rp-plan-table.js';
import { ALICE, CLIENT_ID, CLIENT_SECRET, type Echoed } from './support/stack.js';
import { startTamperer, type Tamper, type Tamperer } from './support/tamperer.js';

// This file runs as dist/test/rp-plan.test.js; the repository root is two levels up.
const ROOT = new URL('../../', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, ROOT), 'utf8');

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

let peers: Peers;
let tamperer: Tamperer;
/** Discovery, with the token, userinfo and JWKS endpoints through the tamperer. */
let viaTamperer: InProcess;
/** The same with response_mode=form_post (the Form Post RP profile). */
let formPost: InProcess;
/** Discovery alone, nothing in between (the Config RP profile). */
let plain: InProcess;
/** Variables of the proxies through the tamperer, and ports the issuer accepts callbacks on for a fresh one of each. */
let through: Record<string, string>;
let sparePorts: { query: number; form_post: number };
const FORM_POST = { OAUTH2_PROXY_AUTH_REQUEST_RESPONSE_MODE: 'form_post', OAUTH2_PROXY_COOKIE_CSRF_SAMESITE: 'none', OAUTH2_PROXY_COOKIE_SECURE: 'true' };

/** A proxy like viaTamperer (or formPost) that has fetched nothing yet. */
function fresh(mode: 'query' | 'form_post'): Promise<InProcess> {
  return startInProcess({ ...through, ...(mode === 'form_post' ? FORM_POST : {}) }, sparePorts[mode]);
}

/** The token answer with its ID token replaced by what `make` returns from the original's claims. */
const idToken = (make: (claims: Record<string, unknown>) => Promise<string> | string): Tamper => async (a) => {
  const body = JSON.parse(a.body) as Record<string, unknown>;
  body.id_token = await make({ ...decodeJwt(String(body.id_token)) });
  return { ...a, body: JSON.stringify(body) };
};
/** The ID token re-signed with the issuer's own key after `fn` changed its claims. */
const resigned = (fn: (c: Record<string, unknown>) => Record<string, unknown>, header: Record<string, unknown> = {}): Tamper =>
  idToken((c) => peers.issuer.sign(fn(c), header));
const without = (name: string) => (c: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(c).filter(([k]) => k !== name));

/** The issuer's own key, re-signed without a kid (jose writes no kid when none is given). */
const withoutKid: Tamper = idToken(async (c) => {
  const t = await peers.issuer.sign(c);
  assert.ok(decodeProtectedHeader(t).kid, 'the issuer signs with a kid');
  // Re-sign: the dev issuer always adds its kid; take it out by signing with its header minus kid.
  return peers.issuer.sign(c, { kid: undefined });
});

interface Outcome {
  readonly status: number;
  readonly code?: string;
  readonly signedIn: boolean;
  /** The authorization request the proxy sent the browser to. */
  readonly authorization: URL;
  /** What the upstream saw on /landed, when signed in. */
  readonly echoed?: Echoed;
}

/** A login from /oauth2/start to the end, as a browser does it: query, or the issuer's form_post page submitted. */
async function login(p: InProcess, mode: 'query' | 'form_post' = 'query', start = '/oauth2/start?rd=/landed'): Promise<Outcome> {
  const b = new HttpBrowser({ timeoutMs: 20_000 });
  const first = await b.request(`${p.url}${start}`);
  assert.equal(first.status, 302, first.body.slice(0, 300));
  const authorization = new URL(first.headers.location!);
  let r: Response = await b.navigate(authorization.href);
  if (mode === 'form_post' && new URL(r.url).origin !== p.url) {
    const action = /<form[^>]*action="([^"]+)"/.exec(r.body)?.[1];
    assert.ok(action, `the issuer answers with a self-submitting form: ${r.body.slice(0, 300)}`);
    const fields = new URLSearchParams();
    for (const m of r.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields.set(m[1]!, m[2]!.replace(/&amp;/g, '&'));
    const target = action.replace(/&amp;/g, '&');
    r = await b.request(target, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields.toString() });
    if (r.status === 302 && r.headers.location) r = await b.navigate(new URL(r.headers.location, target).href);
  }
  const code = /<code id="error-code">\d{3} · ([A-Z_]+)<\/code>/.exec(r.body)?.[1];
  const session = [...b.cookies()].some(([n]) => /^_oauth2_proxy(_\d+)?$/.test(n));
  const signedIn = r.status === 200 && r.url === `${p.url}/landed` && session;
  const echoed = signedIn ? JSON.parse((await b.request(`${p.url}/landed`, { headers: { accept: 'application/json' } })).body) as Echoed : undefined;
  return { status: r.status, ...(code ? { code } : {}), signedIn, authorization, ...(echoed ? { echoed } : {}) };
}

function refused(o: Outcome, status: number, code: string): void {
  assert.equal(o.signedIn, false, 'no session');
  assert.deepEqual({ status: o.status, code: o.code }, { status, code });
}

function accepted(o: Outcome): void {
  assert.equal(o.signedIn, true, `signed in; got ${o.status} ${o.code ?? ''}`);
  assert.equal(o.echoed?.headers['x-forwarded-user'], ALICE.sub);
}

/** The requests the tamperer forwarded to one endpoint since `from`. */
const seenAt = (prefix: string, from = 0): Tamperer['seen'] => tamperer.seen.slice(from).filter((s) => s.path.startsWith(prefix));

type Run = (proxy: InProcess, mode: 'query' | 'form_post') => Promise<void>;

/** How each test ID is set up and judged. The same run serves the Basic RP and the Form Post RP rows. */
const RUNS: Readonly<Record<string, Run>> = {
  'rp-response_type-code': async (p, mode) => {
    const o = await login(p, mode);
    assert.equal(o.authorization.searchParams.get('response_type'), 'code');
    assert.equal(o.authorization.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(o.authorization.searchParams.get('response_mode'), mode === 'form_post' ? 'form_post' : null);
    accepted(o);
  },
  'rp-scope-userinfo-claims': async (p, mode) => {
    const o = await login(p, mode);
    assert.deepEqual(o.authorization.searchParams.get('scope')?.split(' ').sort(), ['email', 'groups', 'openid', 'profile']);
    accepted(o);
    // The dev issuer releases email and groups at userinfo only (its ID tokens carry sub alone).
    assert.equal(o.echoed?.headers['x-forwarded-email'], ALICE.email);
    assert.equal(o.echoed?.headers['x-forwarded-groups'], ALICE.groups!.join(','));
  },
  'rp-nonce-invalid': async (p, mode) => {
    tamperer.hooks.token = resigned((c) => ({ ...c, nonce: 'not-the-nonce-we-sent' }));
    refused(await login(p, mode), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-token_endpoint-client_secret_basic': async (p, mode) => {
    const from = tamperer.seen.length;
    accepted(await login(p, mode));
    const [req, ...more] = seenAt('/oauth2/token', from);
    assert.equal(more.length, 0, 'one token request');
    // RFC 6749 §2.3.1: id and secret form-encoded, then Basic (openid-client writes `-` as %2D).
    const basic = /^Basic (.+)$/.exec(String(req?.headers.authorization))?.[1];
    assert.ok(basic, 'an Authorization: Basic header');
    assert.deepEqual(Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent), [CLIENT_ID, CLIENT_SECRET]);
    assert.equal(new URLSearchParams(req!.body).get('client_secret'), null, 'the secret is not in the body as well');
  },
  'rp-id_token-aud': async (p, mode) => {
    tamperer.hooks.token = resigned((c) => ({ ...c, aud: 'some-other-client' }));
    refused(await login(p, mode), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-id_token-kid-absent-single-jwks': async (p, mode) => {
    tamperer.hooks.token = withoutKid;
    // The JWKS the proxy reads holds exactly one key.
    const jwks = JSON.parse((await (await fetch(`${tamperer.url}/.well-known/jwks.json`)).text())) as { keys: unknown[] };
    assert.equal(jwks.keys.length, 1);
    accepted(await login(p, mode));
  },
  'rp-id_token-kid-absent-multiple-jwks': async (_p, mode) => {
    tamperer.hooks.token = withoutKid;
    tamperer.hooks.jwks = async (a) => {
      const set = JSON.parse(a.body) as { keys: Array<Record<string, unknown>> };
      const other = { ...await exportJWK(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey), kid: 'another-key', alg: 'RS256', use: 'sig' };
      return { ...a, body: JSON.stringify({ keys: [other, ...set.keys] }) };
    };
    // The plan allows either answer; Portcullis's is to refuse: without a kid, two RS256 keys fit
    // and openid-client will not guess. A proxy that has not fetched the JWKS yet (a cached set
    // of one key would be used as it is).
    const p = await fresh(mode);
    try {
      refused(await login(p, mode), 401, 'LOGIN_TOKEN_INVALID');
      assert.equal(seenAt('/.well-known/jwks.json').length > 0, true, 'the JWKS came through the tamperer');
    } finally {
      await p.close();
    }
  },
  'rp-id_token-sig-none': async (p, mode) => {
    tamperer.hooks.token = idToken((c) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(c)}.`);
    refused(await login(p, mode), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-id_token-issuer-mismatch': async (p, mode) => {
    tamperer.hooks.token = resigned((c) => ({ ...c, iss: 'https://evil.example/' }));
    refused(await login(p, mode), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-id_token-bad-sig-rs256': async (p, mode) => {
    tamperer.hooks.token = idToken((c) => peers.issuer.sign(c, {}, 'foreign'));
    refused(await login(p, mode), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-id_token-iat': async (p, mode) => {
    tamperer.hooks.token = resigned(without('iat'));
    refused(await login(p, mode), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-id_token-sig-rs256': async (p, mode) => {
    tamperer.hooks.token = resigned((c) => c);
    const o = await login(p, mode);
    accepted(o);
  },
  'rp-id_token-sub': async (p, mode) => {
    tamperer.hooks.token = resigned(without('sub'));
    refused(await login(p, mode), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-userinfo-bad-sub-claim': async (p, mode) => {
    tamperer.hooks.userinfo = async (a) => ({ ...a, body: JSON.stringify({ ...JSON.parse(a.body) as object, sub: 'someone-else', email: 'mallory@evil.example' }) });
    refused(await login(p, mode), 403, 'EMAIL_MISSING');
  },
  'rp-userinfo-bearer-header': async (p, mode) => {
    const from = tamperer.seen.length;
    accepted(await login(p, mode));
    const [req] = seenAt('/userinfo', from);
    assert.ok(req, 'userinfo was called');
    assert.match(String(req.headers.authorization), /^Bearer [A-Za-z0-9._~+/-]+=*$/);
  },
  'rp-userinfo-bearer-body': async (p) => {
    const from = tamperer.seen.length;
    accepted(await login(p));
    const [req] = seenAt('/userinfo', from);
    assert.equal(req?.method, 'GET');
    assert.equal(req?.body, '', 'no token in a body');
  },
  'rp-userinfo-sig': async (p) => {
    tamperer.hooks.userinfo = async (a) => ({ ...a, headers: { 'content-type': 'application/jwt' }, body: await peers.issuer.sign({ ...JSON.parse(a.body) as object, iss: peers.issuer.issuer, aud: CLIENT_ID }) });
    refused(await login(p), 403, 'EMAIL_MISSING');
  },
  'rp-id_token-sig-hs256': async (p) => {
    tamperer.hooks.token = idToken((c) => new SignJWT(c).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(CLIENT_SECRET)));
    refused(await login(p), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-id_token-bad-sig-hs256': async (p) => {
    tamperer.hooks.token = idToken((c) => new SignJWT(c).setProtectedHeader({ alg: 'HS256' }).sign(randomBytes(32)));
    refused(await login(p), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-id_token-sig-es256': async (p) => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    tamperer.hooks.jwks = async (a) => {
      const set = JSON.parse(a.body) as { keys: unknown[] };
      return { ...a, body: JSON.stringify({ keys: [...set.keys, { ...await exportJWK(ec.publicKey), kid: 'ec-key', alg: 'ES256', use: 'sig' }] }) };
    };
    tamperer.hooks.token = idToken((c) => new SignJWT(c).setProtectedHeader({ alg: 'ES256', kid: 'ec-key' }).sign(ec.privateKey));
    refused(await login(p), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-id_token-bad-sig-es256': async (p) => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    tamperer.hooks.token = idToken((c) => new SignJWT(c).setProtectedHeader({ alg: 'ES256', kid: 'ec-key' }).sign(ec.privateKey));
    refused(await login(p), 401, 'LOGIN_TOKEN_INVALID');
  },
  'rp-id_token-sig+enc': async (p) => {
    const enc = generateKeyPairSync('rsa', { modulusLength: 2048 });
    tamperer.hooks.token = idToken(async (c) => new CompactEncrypt(new TextEncoder().encode(await peers.issuer.sign(c)))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' }).encrypt(enc.publicKey));
    refused(await login(p), 502, 'ISSUER_BAD_RESPONSE');
  },
  'rp-key-rotation-op-sign-key': async (p) => {
    // Kept last in the table: the issuer signs with the new key from now on.
    accepted(await login(p));
    peers.issuer.rotateKeys();
    const jwks = await (await fetch(peers.issuer.endpoints.jwks)).json() as { keys: unknown[] };
    assert.equal(jwks.keys.length, 2);
    accepted(await login(p));
  },
  'rp-key-rotation-op-sign-key-native': async (p) => {
    // The key was rotated just before this login's ID token was signed (the row before): a second proxy that never saw it.
    peers.issuer.rotateKeys();
    accepted(await login(p));
  },
  'rp-key-rotation-op-enc-key': async (p) => {
    const o = await login(p);
    accepted(o);
    for (const name of ['request', 'request_uri']) assert.equal(o.authorization.searchParams.get(name), null);
  },
  'rp-token_endpoint-client_secret_post': async (p) => {
    // Basic is refused once (the issuer's invalid_client): the proxy tries the form body instead.
    let refusedOnce = false;
    tamperer.hooks.tokenRequest = (_form, headers) => {
      if (headers.authorization && !refusedOnce) { refusedOnce = true; headers.authorization = 'Basic d3Jvbmc6d3Jvbmc='; }
    };
    const from = tamperer.seen.length;
    accepted(await login(p));
    const tokens = seenAt('/oauth2/token', from);
    assert.equal(tokens.length, 2);
    assert.equal(tokens[1]!.headers.authorization, undefined);
    assert.equal(new URLSearchParams(tokens[1]!.body).get('client_secret'), CLIENT_SECRET);
  },
  'rp-token_endpoint-client_secret_jwt': async (p) => {
    const from = tamperer.seen.length;
    accepted(await login(p));
    const [req] = seenAt('/oauth2/token', from);
    // The secret itself, in the header or (once the issuer refused Basic, row rp-token_endpoint-client_secret_post) the body.
    assert.equal(new URLSearchParams(req!.body).get('client_assertion_type'), null);
    assert.equal(new URLSearchParams(req!.body).get('client_assertion'), null);
    assert.ok(/^Basic /.test(String(req!.headers.authorization)) || new URLSearchParams(req!.body).get('client_secret') === CLIENT_SECRET);
  },
  'rp-claims-aggregated': async (p) => {
    const source = await peers.issuer.sign({ email: 'aggregated@example.com', iss: peers.issuer.issuer });
    tamperer.hooks.userinfo = async (a) => {
      const { email: _e, ...rest } = JSON.parse(a.body) as Record<string, unknown>;
      return { ...a, body: JSON.stringify({ ...rest, _claim_names: { email: 'src1' }, _claim_sources: { src1: { JWT: source } } }) };
    };
    refused(await login(p), 403, 'EMAIL_MISSING');
  },
  'rp-claims-distributed': async (p) => {
    const from = tamperer.seen.length;
    tamperer.hooks.userinfo = async (a) => {
      const { email: _e, ...rest } = JSON.parse(a.body) as Record<string, unknown>;
      return { ...a, body: JSON.stringify({ ...rest, _claim_names: { email: 'src1' }, _claim_sources: { src1: { endpoint: `${tamperer.url}/claims`, access_token: 'x' } } }) };
    };
    refused(await login(p), 403, 'EMAIL_MISSING');
    assert.equal(seenAt('/claims', from).length, 0, 'the claims endpoint is never called');
  },
  'rp-claims_request-id_token': async (p) => {
    const o = await login(p);
    accepted(o);
    assert.equal(o.authorization.searchParams.get('claims'), null);
  },
  'rp-request_uri-unsigned': async (p) => {
    const o = await login(p);
    accepted(o);
    assert.equal(o.authorization.searchParams.get('request_uri'), null);
    assert.equal(o.authorization.searchParams.get('request'), null);
  },
  'rp-3rd_party-init-login': async (p) => {
    const o = await login(p, 'query', `/oauth2/start?rd=/landed&iss=${encodeURIComponent('https://evil.example/')}`);
    assert.equal(`${o.authorization.origin}${o.authorization.pathname}`, peers.issuer.endpoints.authorization);
    accepted(o);
  },
  'rp-discovery-openid-configuration': async (p) => {
    const o = await login(p);
    const doc = await (await fetch(peers.issuer.endpoints.discovery)).json() as { authorization_endpoint: string };
    assert.equal(`${o.authorization.origin}${o.authorization.pathname}`, doc.authorization_endpoint);
    accepted(o);
  },
  'rp-discovery-jwks_uri-keys': async (p) => {
    // After the rotations, the only key that verifies new ID tokens is at the document's jwks_uri.
    const doc = await (await fetch(peers.issuer.endpoints.discovery)).json() as { jwks_uri: string };
    assert.equal(doc.jwks_uri, peers.issuer.endpoints.jwks);
    accepted(await login(p));
  },
  'rp-discovery-issuer-not-matching-config': async () => {
    // The same issuer named by another host: the document it serves says 127.0.0.1.
    const v = validateConfig(mergeSources({ flags: {}, env: { ...peers.env, OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${await freePort()}`, OAUTH2_PROXY_OIDC_ISSUER_URL: peers.issuer.issuer.replace('127.0.0.1', 'localhost') }, dotenv: {} }));
    assert.ok(v.ok);
    const logs = new LogLines();
    const running = await startPortcullis(v.config, createLogger('info', logs), { requestLog: logs });
    try {
      for (const until = Date.now() + 5000; Date.now() < until && !logs.lines.some((l) => l.msg === 'issuer discovery failed; retrying'); await new Promise((r) => setTimeout(r, 50)));
      const line = logs.lines.find((l) => l.msg === 'issuer discovery failed; retrying');
      assert.match(JSON.stringify(line?.err), /issuer does not match/);
      assert.equal((await fetch(`${running.url}/ready`)).status, 503);
      assert.equal((await fetch(`${running.url}/oauth2/start`, { redirect: 'manual' })).status, 503, 'no login against a document that names someone else');
    } finally {
      await running.close(0);
    }
  },
};
// Rows whose run is another's (the same check covers them).
const SAME_AS: Readonly<Record<string, string>> = {
  'rp-token_endpoint-private_key_jwt': 'rp-token_endpoint-client_secret_jwt',
  'rp-claims_request-userinfo': 'rp-claims_request-id_token',
  'rp-request_uri-sig': 'rp-request_uri-unsigned',
};

function runOf(row: PlanRow): Run {
  const run = RUNS[SAME_AS[row.id] ?? row.id];
  assert.ok(run, `no run for ${row.id}`);
  return run;
}

function proxyFor(row: PlanRow): InProcess {
  if (row.profile === 'Form Post RP') return formPost;
  if (row.profile === 'Config RP') return row.id === 'rp-id_token-sig-none' ? viaTamperer : plain;
  // The native rotation: a proxy that has not fetched the keys since the rotation before.
  return row.id === 'rp-key-rotation-op-sign-key-native' ? plain : viaTamperer;
}

describe('the OpenID RP certification test plan, row by row', () => {
  before(async () => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    sparePorts = { query: ports[3]!, form_post: ports[4]! };
    peers = await startPeers({ ports });
    tamperer = await startTamperer(new URL(peers.issuer.issuer).origin);
    through = {
      ...peers.env,
      OAUTH2_PROXY_REDEEM_URL: `${tamperer.url}/oauth2/token`,
      OAUTH2_PROXY_VALIDATE_URL: `${tamperer.url}/userinfo`,
      OAUTH2_PROXY_OIDC_JWKS_URL: `${tamperer.url}/.well-known/jwks.json`,
    };
    viaTamperer = await startInProcess(through, ports[0]);
    formPost = await startInProcess({ ...through, ...FORM_POST }, ports[1]);
    plain = await startInProcess(peers.env, ports[2]);
  });
  after(async () => {
    await Promise.all([viaTamperer?.close(), formPost?.close(), plain?.close()]);
    await tamperer?.close();
    await peers?.close();
  });

  for (const row of RP_PLAN) {
    test(`${row.profile}: ${row.id} — ${row.differs ? `differs: ${row.differs.split(':')[0]}` : row.expected}`, async () => {
      try {
        await runOf(row)(proxyFor(row), row.profile === 'Form Post RP' ? 'form_post' : 'query');
      } finally {
        for (const k of Object.keys(tamperer.hooks) as Array<keyof typeof tamperer.hooks>) delete tamperer.hooks[k];
      }
    });
  }

  test('no row made a 500 of its own', () => {
    for (const p of [viaTamperer, formPost, plain]) assert.deepEqual(p.logs.lines.filter((l) => l.msg === 'unexpected error'), []);
  });
});

describe('the table itself', () => {
  test('one row per test ID and profile, each with a run', () => {
    const keys = RP_PLAN.map((r) => `${r.profile} ${r.id}`);
    assert.equal(new Set(keys).size, keys.length, 'no row twice');
    for (const row of RP_PLAN) runOf(row);
    for (const id of Object.keys(RUNS)) assert.ok(RP_PLAN.some((r) => r.id === id), `${id} runs but is not in the table`);
    // The profiles' mandatory tests, as the plan lists them for the code flow.
    for (const id of ['rp-response_type-code', 'rp-scope-userinfo-claims', 'rp-nonce-invalid', 'rp-token_endpoint-client_secret_basic', 'rp-id_token-aud',
      'rp-id_token-kid-absent-single-jwks', 'rp-id_token-kid-absent-multiple-jwks', 'rp-id_token-sig-none', 'rp-id_token-issuer-mismatch', 'rp-id_token-bad-sig-rs256',
      'rp-id_token-iat', 'rp-id_token-sig-rs256', 'rp-id_token-sub', 'rp-userinfo-bad-sub-claim', 'rp-userinfo-bearer-header']) {
      assert.ok(keys.includes(`Basic RP ${id}`) && keys.includes(`Form Post RP ${id}`), id);
    }
    for (const id of ['rp-discovery-openid-configuration', 'rp-discovery-jwks_uri-keys', 'rp-discovery-issuer-not-matching-config', 'rp-id_token-sig-none', 'rp-key-rotation-op-sign-key']) {
      assert.ok(keys.includes(`Config RP ${id}`), id);
    }
  });

  test('every test named as covering a row still exists under that name', () => {
    for (const row of RP_PLAN) {
      for (const c of row.covered ?? []) {
        const source = read(c.file);
        // Names built from a table (`${kind}: ${row.name} → …`) are checked by their row's own name.
        // and names built from a case (`…succeeds: ${c.name}`) by both halves.
        const core = c.test.replace(/^(ID token|token answer|callback): /, '').replace(/ → [A-Z_a-z ]+$/, '');
        const has = (t: string): boolean => source.includes(t) || source.includes(t.replace(/'/g, "\\'"));
        assert.ok(has(core) || core.split(': ').every(has), `${c.file} has no test named ${JSON.stringify(c.test)} (row ${row.id})`);
      }
    }
  });

  test('docs/testing.md\'s section "OpenID RP test plan" is the one rendered from the table', () => {
    const readme = read('docs/testing.md');
    const between = textBetweenMarkers(readme, RP_PLAN_MARKERS);
    assert.ok(between !== undefined, `docs/testing.md lacks ${RP_PLAN_MARKERS.join(' … ')}`);
    assert.equal(replaceBetweenMarkers(readme, rpPlanMarkdownTable(), RP_PLAN_MARKERS), readme, 'docs/testing.md drifted from test/support/rp-plan-table.ts: run `node dist/test/support/rp-plan-docs.js` and commit the result');
  });
});
