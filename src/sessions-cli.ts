import { existsSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import dotenv from 'dotenv';
import { pino } from 'pino';
import { addOptionFlags, flagValues } from './cli.js';
import { mergeSources } from './config/load.js';
import { validateConfig } from './config/validate.js';
import { createSessionStore } from './session/store.js';

/** How long the command waits for Redis before it gives up. */
const CONNECT_WAIT_MS = 10_000;

/**
 * `portcullis sessions revoke --sub X | --sid X`: ends sessions through the configured store, for
 * every replica that shares it. It reads the same flags, variables and .env file as the proxy, so
 * it runs where the proxy runs (`docker exec`, `kubectl exec`). Exit 0 when done, 1 when it cannot
 * be done (no shared store, Redis unreachable), 2 for a usage or configuration error.
 */
export async function sessionsMain(argv: readonly string[]): Promise<void> {
  const program = new Command('portcullis sessions')
    .description('manage the sessions of the configured session store')
    .helpOption('-h, --help', 'show this help')
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));
  const revoke = addOptionFlags(program.command('revoke')
    .description('end every session of a subject (--sub) or of an issuer session (--sid), on every replica that shares the store')
    .option('--sub <subject>', 'the subject (the ID token\'s sub) whose sessions end: those started until now')
    .option('--sid <sid>', 'the issuer\'s session id (the ID token\'s sid) whose sessions end')
    .option('--env-file <path>', 'read OAUTH2_PROXY_* variables from this file (default: ./.env if present)')
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2)));
  revoke.action(async () => {
    const o = revoke.opts<{ sub?: string; sid?: string; envFile?: string }>();
    if ((o.sub === undefined) === (o.sid === undefined) || (o.sub ?? o.sid) === '') {
      return fail(2, 'give exactly one of --sub SUBJECT and --sid SID');
    }
    const envFile = o.envFile ?? (existsSync('.env') ? '.env' : undefined);
    let fileVars: Record<string, string> = {};
    if (envFile) {
      try { fileVars = dotenv.parse(readFileSync(envFile)); } catch (e) { return fail(2, `--env-file: cannot read ${JSON.stringify(envFile)} (${(e as NodeJS.ErrnoException).code ?? String(e)})`); }
    }
    const result = validateConfig(mergeSources({ flags: flagValues(revoke), env: process.env, dotenv: fileVars }));
    if (!result.ok) return fail(2, `the configuration has problems:\n${result.errors.map((l) => `  - ${l}`).join('\n')}`);
    const store = createSessionStore(result.config.cookie, { sessionStore: result.config.sessionStore, log: pino({ level: 'silent' }) });
    try {
      if (!store.shared) {
        return fail(1, [
          'cookie sessions live only in the browsers that hold them, and no replica shares a list of revoked ones: nothing here can end them.',
          'Two ways out:',
          '  - configure Redis: OAUTH2_PROXY_SESSION_STORE_TYPE=redis with OAUTH2_PROXY_REDIS_CONNECTION_URL (sessions in Redis),',
          '    or OAUTH2_PROXY_REDIS_CONNECTION_URL alone (cookie sessions, revocations shared through Redis); then run this again;',
          '  - rotate the cookie secret: a new OAUTH2_PROXY_COOKIE_SECRET on every replica signs everyone out (not only this person).',
        ].join('\n'));
      }
      const until = Date.now() + CONNECT_WAIT_MS;
      while (!store.health().ready && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      const health = store.health();
      if (!health.ready) return fail(1, `the session store is not reachable within ${CONNECT_WAIT_MS / 1000} s (${health.detail}); nothing was revoked`);
      const outcome = await store.revoke(o.sid !== undefined ? { sid: o.sid } : { sub: o.sub });
      const who = o.sid !== undefined ? `issuer session ${JSON.stringify(o.sid)}` : `subject ${JSON.stringify(o.sub)}`;
      process.stdout.write(outcome.ended !== undefined
        ? `revoked: ${outcome.ended} session${outcome.ended === 1 ? '' : 's'} of ${who} ended, on every replica that shares this Redis\n`
        : `revoked: every session of ${who} started until now is refused by every replica that shares this Redis\n`);
    } catch (e) {
      return fail(1, `revocation failed: ${(e as Error).message}`);
    } finally {
      await store.close();
    }
  });
  await program.parseAsync([...argv.slice(0, 2), ...argv.slice(3)]);
}

function fail(code: number, text: string): void {
  process.stderr.write(`portcullis sessions: ${text}\n`);
  process.exitCode = code;
}
