import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createLogger } from '../src/log.js';
import { startPortcullis, type Running } from '../src/run.js';
import { validateEnv } from './support/config.js';
import { LogLines } from './support/inprocess.js';
import { freePort } from './support/proxy.js';
import { table } from './support/table.js';
import { makeCertificates, type TestCertificates } from './support/tls.js';

test('max_connections: 10000 by default, 0 for no limit, else a clear message naming the variable', () => {
  const dflt = validateEnv({});
  assert.ok(dflt.ok);
  assert.equal(dflt.config.maxConnections, 10_000);
  table<string, number | string>([
    ['0', 0], ['1', 1], ['512', 512], ['1000000', 1_000_000],
    ['-1', 'error'], ['1000001', 'error'], ['ten', 'error'], ['1e4', 'error'], ['10 000', 'error'], ['', 'error'], ['0x10', 'error'],
  ], (value) => {
    const v = validateEnv({ OAUTH2_PROXY_MAX_CONNECTIONS: value });
    if (v.ok) return v.config.maxConnections;
    assert.deepEqual(v.errors, [`OAUTH2_PROXY_MAX_CONNECTIONS: got ${JSON.stringify(value)}, expected a whole number of connections from 0 (no limit) to 1000000, e.g. 10000`]);
    return 'error';
  });
});

/** A connection to `port`, once established. */
function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Whether the server closes (or resets) a fresh connection by itself within `ms`, before a byte is sent. */
async function closedAtOnce(port: number, ms = 300): Promise<boolean> {
  const s = await connect(port);
  s.on('error', () => undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { s.destroy(); resolve(false); }, ms);
    s.once('close', () => { clearTimeout(timer); resolve(true); });
  });
}

/** GET `path` on an open socket (keep-alive), resolving with the status once the whole answer is in. */
function getOn(socket: net.Socket, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer): void => {
      text += c.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(text)?.[1];
      const complete = length === undefined ? text.endsWith('\r\n0\r\n\r\n') : text.length >= end + 4 + Number(length);
      if (end < 0 || !complete) return;
      socket.off('data', onData);
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed; got ${JSON.stringify(text)}`)));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

/** Until `fn` is true, for at most 3 s (a server counts a connection out when its close event has run). */
async function eventually(fn: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`not within 3 s: ${what}`);
}

describe('max_connections: one more than the cap is closed as it arrives, on every listener', () => {
  const CAP = 3;
  let certs: TestCertificates;
  let logs: LogLines;
  let running: Running;
  let ports: { http: number; https: number; metrics: number };
  before(async () => {
    certs = makeCertificates(['127.0.0.1']);
    ports = { http: await freePort(), https: await freePort(), metrics: await freePort() };
    const v = validateEnv({
      OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${ports.http}`,
      OAUTH2_PROXY_HTTPS_ADDRESS: `127.0.0.1:${ports.https}`,
      OAUTH2_PROXY_TLS_CERT_FILE: certs.certFile,
      OAUTH2_PROXY_TLS_KEY_FILE: certs.keyFile,
      OAUTH2_PROXY_METRICS_ADDRESS: `127.0.0.1:${ports.metrics}`,
      // No issuer is needed: /ping and /metrics answer while discovery keeps failing.
      OAUTH2_PROXY_OIDC_ISSUER_URL: `http://127.0.0.1:${await freePort()}/`,
      OAUTH2_PROXY_MAX_CONNECTIONS: String(CAP),
    });
    assert.ok(v.ok, v.ok ? '' : v.errors.join('; '));
    logs = new LogLines();
    running = await startPortcullis(v.config, createLogger('info', logs), { requestLog: new LogLines() });
  });
  after(async () => { await running?.close(500); certs?.remove(); });

  test('http: the first N serve, the (N+1)th is closed unanswered, and /ping works again once they close', async () => {
    const open = await Promise.all(Array.from({ length: CAP }, () => connect(ports.http)));
    try {
      for (const s of open) assert.equal(await getOn(s, '/ping'), 200);
      assert.equal(await closedAtOnce(ports.http), true, 'one more connection is closed before a byte is read');
      // The open ones are untouched: they keep serving.
      for (const s of open) assert.equal(await getOn(s, '/ping'), 200);
    } finally {
      for (const s of open) s.destroy();
    }
    await eventually(async () => {
      const s = await connect(ports.http);
      try { return await getOn(s, '/ping').catch(() => 0) === 200; } finally { s.destroy(); }
    }, '/ping answers on a new connection');
  });

  test('https: the same cap, before any TLS handshake', async () => {
    const open = await Promise.all(Array.from({ length: CAP }, () => connect(ports.https)));
    try {
      assert.equal(await closedAtOnce(ports.https), true, 'one more is closed');
    } finally {
      for (const s of open) s.destroy();
    }
    await eventually(async () => !(await closedAtOnce(ports.https)), 'a new connection is kept once the others closed');
  });

  test('metrics: the same cap; refused connections are counted and logged', async () => {
    const open = await Promise.all(Array.from({ length: CAP }, () => connect(ports.metrics)));
    try {
      assert.equal(await closedAtOnce(ports.metrics), true, 'one more is closed');
    } finally {
      for (const s of open) s.destroy();
    }
    let text = '';
    await eventually(async () => {
      text = await new Promise<string>((resolve, reject) => {
        http.get(`http://127.0.0.1:${ports.metrics}/metrics`, { agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => { body += c.toString(); });
          res.on('end', () => resolve(body));
        }).on('error', reject);
      }).catch(() => '');
      return text !== '';
    }, '/metrics answers again');
    const refused = Number(/^portcullis_connections_refused_total (\d+)/m.exec(text)?.[1]);
    assert.ok(refused >= 3, `portcullis_connections_refused_total is ${refused}, after one refusal on each of three listeners`);
    const lines = logs.lines.filter((l) => l.event === 'connections_refused');
    assert.ok(lines.length >= 1, 'a warning line says connections were refused');
    assert.equal(lines[0]!.maxConnections, CAP);
    assert.equal(lines[0]!.level, 40);
  });
});
