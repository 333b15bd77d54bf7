import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSources } from '../src/config/load.js';
import { deriveSealPasswords } from '../src/config/secret.js';
import { validateConfig, type Config } from '../src/config/validate.js';
import { table } from './support/table.js';

const A = Buffer.alloc(32, 1).toString('base64url');
const B = Buffer.alloc(32, 2).toString('base64url');
const BASE: Record<string, string> = {
  OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://hydra.example.com/', OAUTH2_PROXY_CLIENT_ID: 'id', OAUTH2_PROXY_CLIENT_SECRET: 'very-secret-value',
  OAUTH2_PROXY_COOKIE_SECRET: A, OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080/',
};

/** The validated config, or the error lines joined. */
function check(env: Record<string, string>, files: Record<string, string> = {}): Config | string {
  const v = validateConfig(mergeSources({ flags: {}, env: { ...BASE, ...env }, dotenv: {} }), (p) => {
    if (p in files) return files[p]!;
    throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  });
  return v.ok ? v.config : v.errors.join('\n');
}

/** table(), where an expected RegExp matches an error text (deepEqual alone would compare the RegExp object). */
function tableMatching<I>(rows: ReadonlyArray<readonly [I, unknown]>, fn: (input: I) => unknown): void {
  table(rows.map(([input, expected]) => [[input, expected] as const, expected] as const), ([input, expected]) => {
    const actual = fn(input);
    return expected instanceof RegExp && typeof actual === 'string' && expected.test(actual) ? expected : actual;
  });
}

const secrets = (c: Config | string): string => (typeof c === 'string' ? c : [c.cookie.secret, ...c.cookie.previousSecrets].map((s) => s[0]).join(','));

test('cookie secrets: a comma list or a file of lines; the first seals; every problem names the variable', () => {
  const raw16 = 'abcdefgh,jklmnop'; // a raw 16-byte secret with a comma in it is one secret
  tableMatching<[Record<string, string>, Record<string, string>?]>([
    [[{}], '1'],
    [[{ OAUTH2_PROXY_COOKIE_SECRET: `${B},${A}` }], '2,1'],
    [[{ OAUTH2_PROXY_COOKIE_SECRET: ` ${B} , ${A} ` }], '2,1'],
    [[{ OAUTH2_PROXY_COOKIE_SECRET: raw16 }], String('a'.charCodeAt(0))],
    [[{ OAUTH2_PROXY_COOKIE_SECRET: '', OAUTH2_PROXY_COOKIE_SECRET_FILE: '/s' }, { '/s': `# rotated on Monday\n${B}\n\n${A}\n` }], '2,1'],
    [[{ OAUTH2_PROXY_COOKIE_SECRET_FILE: '/s' }, { '/s': A }], /set only one of OAUTH2_PROXY_COOKIE_SECRET and OAUTH2_PROXY_COOKIE_SECRET_FILE/],
    [[{ OAUTH2_PROXY_COOKIE_SECRET: '', OAUTH2_PROXY_COOKIE_SECRET_FILE: '/missing' }], /^OAUTH2_PROXY_COOKIE_SECRET_FILE: got "\/missing", expected a readable file \(ENOENT\)$/],
    [[{ OAUTH2_PROXY_COOKIE_SECRET: '', OAUTH2_PROXY_COOKIE_SECRET_FILE: '/s' }, { '/s': '\n# nothing\n' }], /cookie secret, one per line \(it has none\)/],
    [[{ OAUTH2_PROXY_COOKIE_SECRET: `${B},short` }], /^OAUTH2_PROXY_COOKIE_SECRET: got \(hidden, \d+ characters\), expected secret 2 of 2: 16, 24 or 32 bytes/],
    [[{ OAUTH2_PROXY_COOKIE_SECRET: `${A},${A}` }], /secret 2 of 2: each secret once/],
    [[{ OAUTH2_PROXY_COOKIE_SECRET: '' }], /OAUTH2_PROXY_COOKIE_SECRET \(or --cookie-secret\) is required/],
  ], ([env, files]) => secrets(check(env, files)));
});

test('seal password ids: stable whatever a secret\'s place in the list; legacy id 1 is the oldest secret', () => {
  const a = Buffer.alloc(32, 1);
  const b = Buffer.alloc(32, 2);
  const alone = deriveSealPasswords([a], 'session');
  const rotated = deriveSealPasswords([b, a], 'session');
  const dropped = deriveSealPasswords([b], 'session');
  assert.equal(rotated.unseal[alone.sealId], alone.seal[alone.sealId], 'A keeps its id after B is put in front');
  assert.equal(dropped.sealId, rotated.sealId, 'B keeps its id after A is dropped');
  assert.deepEqual(Object.keys(rotated.seal), [rotated.sealId], 'only the newest seals');
  assert.equal(rotated.unseal[1], alone.seal[alone.sealId], 'id 1 (seals from before rotation existed) is the oldest listed');
  assert.notEqual(alone.sealId, '1');
});

const store = (c: Config | string): unknown => (typeof c === 'string' ? c : c.sessionStore);

test('session store options: oauth2-proxy\'s redis_* shapes, and every problem at once', () => {
  tableMatching<Record<string, string>>([
    [{}, { type: 'cookie' }],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'redis://:p%40ss@10.0.0.5:6380/2' },
      { type: 'redis', redis: { mode: 'standalone', address: { host: '10.0.0.5', port: 6380 }, tls: false, db: 2, username: undefined, password: 'p@ss', idleTimeoutS: 0 } }],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'rediss://user:x@redis.example.com', OAUTH2_PROXY_REDIS_PASSWORD: 'override', OAUTH2_PROXY_REDIS_CONNECTION_IDLE_TIMEOUT: '240' },
      { type: 'redis', redis: { mode: 'standalone', address: { host: 'redis.example.com', port: 6379 }, tls: true, db: 0, username: 'user', password: 'override', idleTimeoutS: 240 } }],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'unix:///run/redis/redis.sock' },
      { type: 'redis', redis: { mode: 'standalone', address: { path: '/run/redis/redis.sock' }, tls: false, db: 0, username: undefined, password: undefined, idleTimeoutS: 0 } }],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_SENTINEL: 'true', OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME: 'mymaster', OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS: 'redis://:sp@10.0.0.1:26379,redis://10.0.0.2' },
      { type: 'redis', redis: { mode: 'sentinel', masterName: 'mymaster', sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 6379 }], sentinelPassword: 'sp', password: undefined, idleTimeoutS: 0 } }],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_CLUSTER: 'true', OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS: 'redis://10.0.0.1:7000 redis://10.0.0.2:7001' },
      { type: 'redis', redis: { mode: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }], password: undefined, idleTimeoutS: 0 } }],
    [{ OAUTH2_PROXY_REDIS_CONNECTION_URL: 'redis://127.0.0.1:6379' },
      { type: 'cookie', redis: { mode: 'standalone', address: { host: '127.0.0.1', port: 6379 }, tls: false, db: 0, username: undefined, password: undefined, idleTimeoutS: 0 } }],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis' }, /^OAUTH2_PROXY_REDIS_CONNECTION_URL \(or --redis-connection-url\) is required: the Redis server/],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'memcached' }, /^OAUTH2_PROXY_SESSION_STORE_TYPE: got "memcached", expected one of cookie, redis$/],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'http://127.0.0.1:6379' }, /^OAUTH2_PROXY_REDIS_CONNECTION_URL: got "http:\/\/127.0.0.1:6379", expected redis:\/\//],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'redis://h/db' }, /REDIS_CONNECTION_URL: got "redis:\/\/h\/db"/],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_SENTINEL: 'true' },
      /REDIS_SENTINEL_MASTER_NAME \(or --redis-sentinel-master-name\) is required[^]*REDIS_SENTINEL_CONNECTION_URLS \(or --redis-sentinel-connection-urls\) is required/],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_CLUSTER: 'true', OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS: 'redis://a:1,10.0.0.2:7000' },
      /^OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS: got "redis:\/\/a:1,10.0.0.2:7000", expected redis:\/\/host:port for each entry \("10.0.0.2:7000" is not\)$/],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_USE_CLUSTER: 'true', OAUTH2_PROXY_REDIS_USE_SENTINEL: 'true', OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS: 'redis://a:1', OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME: 'm', OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS: 'redis://b:2' },
      /set only one of OAUTH2_PROXY_REDIS_USE_SENTINEL and OAUTH2_PROXY_REDIS_USE_CLUSTER/],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'redis://h', OAUTH2_PROXY_REDIS_CONNECTION_IDLE_TIMEOUT: '4m' }, /IDLE_TIMEOUT: got "4m", expected a whole number of seconds/],
    [{ OAUTH2_PROXY_SESSION_STORE_TYPE: 'redis', OAUTH2_PROXY_REDIS_CONNECTION_URL: 'nope', OAUTH2_PROXY_REDIS_PASSWORD: 'hunter2' }, /^(?![^]*hunter2)[^]*REDIS_CONNECTION_URL: got "nope"/],
  ], (env) => store(check(env)));
});

test('cookie sessions with a Redis URL: a warning says Redis keeps only the revocations', () => {
  const v = validateConfig(mergeSources({ flags: {}, env: { ...BASE, OAUTH2_PROXY_REDIS_CONNECTION_URL: 'redis://127.0.0.1' }, dotenv: {} }));
  assert.ok(v.ok);
  assert.ok(v.warnings.some((w) => /Redis keeps only revocations/.test(w)), v.warnings.join('\n'));
});
