import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogSink } from '../src/log.js';
import { freePort, startProxy } from './support/proxy.js';

/** A real pipe (a FIFO) whose reader the test controls: it reads only when told to. */
function fifo(): { writeFd: number; readAll(): string; readSome(max: number): string; close(): void } {
  const path = join(mkdtempSync(join(tmpdir(), 'portcullis-log-')), 'out');
  execFileSync('mkfifo', [path]);
  const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeFd = openSync(path, constants.O_WRONLY);
  return {
    writeFd,
    readAll: () => {
      let text = '';
      const buf = Buffer.alloc(1 << 16);
      for (;;) {
        let n = 0;
        try { n = readSync(readFd, buf, 0, buf.length, null); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break; throw e; }
        if (n === 0) break;
        text += buf.toString('utf8', 0, n);
      }
      return text;
    },
    readSome: (max) => {
      const buf = Buffer.alloc(max);
      try { return buf.toString('utf8', 0, readSync(readFd, buf, 0, max, null)); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return ''; throw e; }
    },
    close: () => { closeSync(readFd); },
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a reader that stops reading never blocks the event loop: lines queue up to the bound, then are dropped, counted and reported', async () => {
  const pipe = fifo();
  const sink = new LogSink(pipe.writeFd, 256 * 1024);
  const line = `${JSON.stringify({ msg: 'x'.repeat(180) })}\n`;
  let worstTurnMs = 0;
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    for (let j = 0; j < 50; j++) sink.write(line); // 10,000 lines, ~1.9 MB: 30 pipes' worth
    await tick();
    worstTurnMs = Math.max(worstTurnMs, performance.now() - t);
  }
  assert.ok(worstTurnMs < 100, `an event-loop turn took ${worstTurnMs.toFixed(1)} ms`);
  assert.ok(sink.dropped > 0, 'lines past the bound are dropped');
  assert.ok(sink.dropped < 10_000, 'the queued ones are kept');
  // The reader comes back: what was queued arrives, then a warning with the count.
  let text = '';
  for (let i = 0; i < 200 && !text.includes('log_lines_dropped'); i++) {
    text += pipe.readAll();
    sink.write(line);
    await new Promise((r) => setTimeout(r, 10));
  }
  const warning = text.split('\n').find((l) => l.includes('log_lines_dropped'));
  assert.ok(warning, 'a warning line reports the drop');
  assert.equal(JSON.parse(warning).dropped, sink.dropped);
  await sink.drain(1000);
  pipe.close();
});

test('the proxy keeps answering while its stdout is not read', async () => {
  const port = await freePort();
  const p = await startProxy({
    OAUTH2_PROXY_OIDC_ISSUER_URL: 'http://127.0.0.1:9/', OAUTH2_PROXY_CLIENT_ID: 'x', OAUTH2_PROXY_CLIENT_SECRET: 'y',
    OAUTH2_PROXY_COOKIE_SECRET: 'z'.repeat(32), OAUTH2_PROXY_EMAIL_DOMAINS: '*', OAUTH2_PROXY_HTTP_ADDRESS: `127.0.0.1:${port}`,
  });
  try {
    p.child.stdout!.pause(); // the pipe fills at 64 KiB; each /ping logs about 200 bytes
    p.child.stdout!.removeAllListeners('data');
    const started = Date.now();
    for (let i = 0; i < 1500; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/ping`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    assert.ok(Date.now() - started < 30_000);
    const t = Date.now();
    assert.equal((await fetch(`http://127.0.0.1:${port}/ping`)).status, 200);
    assert.ok(Date.now() - t < 1000, 'still fast with ~300 KB of log waiting');
  } finally {
    p.child.stdout!.resume();
    await p.stop();
  }
});

/**
 * Two processes (cluster workers) log to one pipe whose reader is slower than they are, as a log
 * shipper under load. Without whole-line writes of at most PIPE_BUF bytes, the kernel may splice
 * one process's write into the middle of the other's wherever the pipe was full.
 */
test('two processes sharing a slowly read stdout pipe: every line arrives whole', async () => {
  const pipe = fifo();
  const script = `
    const { LogSink } = await import(${JSON.stringify(new URL('../src/log.js', import.meta.url).href)});
    const sink = new LogSink(1, 64 * 1024 * 1024, { shared: true });
    const pad = 'x'.repeat(300);
    for (let turn = 0; turn < 100; turn++) {
      for (let i = 0; i < 40; i++) sink.write(JSON.stringify({ child: process.env.CHILD, n: turn * 40 + i, pad }) + '\\n');
      await new Promise((r) => setImmediate(r));
    }
    await sink.drain(20000);`;
  const children = ['a', 'b'].map((name) => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', pipe.writeFd, 'inherit'], env: { ...process.env, CHILD: name } }));
  const exited = Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
  let done = false;
  void exited.then(() => { done = true; });
  let text = '';
  // About 1 MB a second: far slower than the writers, so the 64 KiB pipe stays full.
  while (!done) {
    text += pipe.readSome(1000);
    await new Promise((r) => setTimeout(r, 1));
  }
  text += pipe.readAll();
  pipe.close();
  const lines = text.split('\n').filter(Boolean);
  const broken = lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
  assert.deepEqual(broken.slice(0, 3), [], `${broken.length} of ${lines.length} lines broken`);
  const count = (who: string): number => lines.filter((l) => (JSON.parse(l) as { child: string }).child === who).length;
  assert.deepEqual([count('a'), count('b')], [4000, 4000]);
});

/** A child process that writes `count` numbered lines through a LogSink on its stdout, then ends as `end` says. */
function writerScript(count: number, end: 'empty-loop' | 'SIGTERM'): string {
  return `
    const { LogSink } = await import(${JSON.stringify(new URL('../src/log.js', import.meta.url).href)});
    const { stopOnSignals } = await import(${JSON.stringify(new URL('../src/server/stopping.js', import.meta.url).href)});
    const { stdoutSink, createLogger } = await import(${JSON.stringify(new URL('../src/log.js', import.meta.url).href)});
    const sink = stdoutSink();
    const pad = 'p'.repeat(150);
    for (let n = 0; n < ${count}; n++) {
      sink.write(JSON.stringify({ n, pad }) + '\\n');
      if (n % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    if (${JSON.stringify(end)} === 'SIGTERM') {
      stopOnSignals({ close: async () => undefined }, createLogger('silent', { write() {} }));
      process.kill(process.pid, 'SIGTERM');
      setInterval(() => {}, 1000);
    }`;
}

/** Runs a writer with its stdout read by `read` (a FIFO's reader the test paces), returns every line it got. */
async function linesOf(script: string, pace: { bytesPerTurn: number; waitMs: number }): Promise<{ lines: string[]; code: number | null }> {
  const pipe = fifo();
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', pipe.writeFd, 'inherit'] });
  closeSync(pipe.writeFd);
  let code: number | null | undefined;
  const exited = new Promise<void>((r) => child.once('exit', (c) => { code = c; r(); }));
  let text = '';
  const deadline = Date.now() + 60_000;
  while (code === undefined && Date.now() < deadline) {
    text += pipe.readSome(pace.bytesPerTurn);
    await new Promise((r) => setTimeout(r, pace.waitMs));
  }
  await exited;
  text += pipe.readAll();
  pipe.close();
  return { lines: text.split('\n').filter(Boolean), code: code ?? null };
}

const numbered = (lines: string[]): number[] => lines.map((l) => (JSON.parse(l) as { n: number }).n);
const upTo = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

test('no line is lost when the process ends: its event loop empties, or it stops on SIGTERM (stopping.ts)', async () => {
  for (const end of ['empty-loop', 'SIGTERM'] as const) {
    const { lines, code } = await linesOf(writerScript(20_000, end), { bytesPerTurn: 1 << 16, waitMs: 1 });
    assert.equal(code, 0, end);
    assert.deepEqual(numbered(lines), upTo(20_000), `${end}: every line, in order`);
  }
});

test('a slow reader (a few KB at a time) still gets every line, in order, once the writer is done', async () => {
  // About 4 MB of lines read at most 4 KB per millisecond: the pipe stays full most of the time.
  const { lines, code } = await linesOf(writerScript(20_000, 'empty-loop'), { bytesPerTurn: 4096, waitMs: 1 });
  assert.equal(code, 0);
  assert.deepEqual(numbered(lines), upTo(20_000));
});
