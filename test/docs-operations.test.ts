// docs/operations.md run as written: each ```console block's commands run in sh (curl, grep) against
// bin/portcullis in front of the real issuer (oidc-provider), and what they print is compared with
// what the page shows. Only the host's ports change (4180 → the proxy's, 9100 → its metrics
// listener's); the test says which traffic the proxy had seen, so the shown counts are reproduced.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { HttpBrowser } from './support/browser.js';
import { docBlock, readDoc } from './support/docblock.js';
import { freePort } from './support/proxy.js';
import { consoleSession } from './support/shell.js';
import { startStack, type Stack } from './support/stack.js';

const run = promisify(execFile);

/** A console block's command, its documented ports replaced by this test's (each must be there). */
function withPorts(command: string, ports: Readonly<Record<string, number>>): string {
  let out = command;
  for (const [documented, actual] of Object.entries(ports)) {
    assert.ok(out.includes(`127.0.0.1:${documented}`), `the command no longer talks to 127.0.0.1:${documented}: ${command}`);
    out = out.split(`127.0.0.1:${documented}`).join(`127.0.0.1:${actual}`);
  }
  return out;
}

/** Runs one command line in sh, as a reader's shell would, and returns its output lines (curl -i's CR dropped). */
async function sh(command: string): Promise<string[]> {
  const { stdout } = await run('sh', ['-c', command], { timeout: 20_000 });
  return stdout.replace(/\r/g, '').split('\n').filter((l) => l !== '');
}

/** A block's text without the list item's indentation it has on the page. */
function dedent(text: string): string {
  const indent = Math.min(...text.split('\n').filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  return text.split('\n').map((l) => l.slice(indent)).join('\n');
}

const stacks: Stack[] = [];
after(async () => { for (const s of stacks) await s.close().catch(() => {}); });

describe('docs/operations.md, health: /ready before and after the issuer is reached', () => {
  test('the two curl lines print what the page shows: not ready while discovery fails, ready once it succeeds', { timeout: 60_000 }, async () => {
    const stack = await startStack({ issuerDownAtStart: true });
    stacks.push(stack);
    const [before, afterwards, ...rest] = consoleSession(docBlock('ops-ready', 'console'));
    assert.deepEqual(rest, [], 'two commands');
    assert.equal(before!.command, afterwards!.command);
    const command = withPorts(before!.command, { 4180: stack.proxy.port });
    assert.deepEqual(await sh(command), before!.output, 'the issuer is down: not ready, and why');
    await stack.issuer.start();
    await stack.proxy.waitForLog((l) => l.msg === 'issuer ready', 40_000);
    assert.deepEqual(await sh(command), afterwards!.output, 'the issuer was reached: ready');
  });
});

describe('docs/operations.md, request ids and metrics', () => {
  test('a sane X-Request-Id comes back on the ping answer, as the page shows', { timeout: 60_000 }, async () => {
    const stack = await startStack({ waitReady: false });
    stacks.push(stack);
    const [session, ...rest] = consoleSession(docBlock('ops-request-id', 'console'));
    assert.deepEqual(rest, []);
    assert.deepEqual(await sh(withPorts(session!.command, { 4180: stack.proxy.port })), session!.output);
  });

  test('the metrics curl line prints the shown series and counts after one login, a callback without its state and a few requests', { timeout: 60_000 }, async () => {
    // The page names the metrics address in its prose; the test listens on another port of 127.0.0.1.
    const documented = /`OAUTH2_PROXY_METRICS_ADDRESS=127\.0\.0\.1:(\d+)`/.exec(readDoc('docs/operations.md'));
    assert.ok(documented, 'the page says which metrics address it uses');
    const metricsPort = await freePort();
    const stack = await startStack({ waitReady: false, extraEnv: () => ({ OAUTH2_PROXY_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` }) });
    stacks.push(stack);
    await stack.proxy.waitForLog((l) => l.msg === 'issuer ready', 20_000);
    const origin = stack.proxy.url;

    // The traffic behind the page's numbers (series are printed in the order they first count):
    // /ping (2xx), a login (two redirects, then the app: 3xx, 3xx, 2xx), two more 2xx (the app
    // again, /ready), and three 4xx: a callback whose login-state cookie is missing
    // (LOGIN_STATE_MISSING), and two API-style requests without a session.
    const b = new HttpBrowser();
    assert.equal((await b.request(`${origin}/ping`)).status, 200);
    const landed = await b.navigate(`${origin}/oauth2/start?rd=%2Fapp`);
    assert.equal(landed.status, 200, landed.body.slice(0, 300));
    assert.equal(landed.url, `${origin}/app`);
    for (const path of ['/app', '/ready']) assert.equal((await b.request(`${origin}${path}`)).status, 200, path);
    const stale = await new HttpBrowser().request(`${origin}/oauth2/callback?code=x&state=y`);
    assert.ok(stale.status >= 400 && stale.status < 500, `a callback without its state: ${stale.status}`);
    for (const path of ['/api/one', '/api/two']) {
      const res = await new HttpBrowser().request(`${origin}${path}`, { headers: { accept: 'application/json' } });
      assert.ok(res.status >= 400 && res.status < 500, `${path} without a session: ${res.status}`);
    }

    const [session, ...rest] = consoleSession(docBlock('ops-metrics', 'console'));
    assert.deepEqual(rest, []);
    assert.deepEqual(await sh(withPorts(session!.command, { [documented[1]!]: metricsPort })), session!.output);
  });

  test('prometheus.yml scrapes the documented metrics address (Prometheus itself is not installed here)', { timeout: 60_000 }, async () => {
    const documented = /`OAUTH2_PROXY_METRICS_ADDRESS=(127\.0\.0\.1:\d+)`/.exec(readDoc('docs/operations.md'))![1]!;
    const file = parseYaml(dedent(docBlock('ops-prometheus', 'yaml'))) as { scrape_configs: Array<Record<string, unknown>> };
    assert.equal(file.scrape_configs.length, 1);
    const job = file.scrape_configs[0]! as { job_name: string; static_configs: Array<{ targets: string[] }>; metrics_path?: string; scheme?: string };
    assert.equal(job.job_name, 'portcullis');
    assert.deepEqual(job.static_configs, [{ targets: [documented] }], 'the target is the address the page tells Portcullis to serve metrics on');
    assert.deepEqual(Object.keys(job).sort(), ['job_name', 'static_configs'], 'Prometheus\'s defaults then apply: http, /metrics');

    // What Prometheus would do with it: GET http://TARGET/metrics with its Accept header, on this test's port.
    const metricsPort = await freePort();
    const stack = await startStack({ waitReady: false, extraEnv: () => ({ OAUTH2_PROXY_METRICS_ADDRESS: `127.0.0.1:${metricsPort}` }) });
    stacks.push(stack);
    const target = job.static_configs[0]!.targets[0]!.replace(documented, `127.0.0.1:${metricsPort}`);
    const res = await fetch(`${job.scheme ?? 'http'}://${target}${job.metrics_path ?? '/metrics'}`, {
      headers: { accept: 'application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1' },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^(text\/plain|application\/openmetrics-text)/);
    const body = await res.text();
    assert.match(body, /^# TYPE portcullis_requests_total counter$/m);
    assert.match(body, /^process_cpu_seconds_total \d/m);
  });
});
