/** oauth2-proxy's SecretSource in the alpha file: a value (base64), a file or a variable. */
import type { Fields, Located } from './schema.js';

/** Reports one problem of the file at a key: `path (line N of FILE): got …, expected …`. */
export type Fail = (l: Located<unknown> | Fields, got: unknown, expected: string) => void;

/** A SecretSource: exactly one of value (base64, as oauth2-proxy's []byte), fromFile and fromEnv. */
export function readSecret(f: Fields, env: Readonly<Record<string, string | undefined>>, fail: Fail): { value: string } | { file: string } | undefined {
  const value = f.get<string>('value');
  const fromFile = f.get<string>('fromFile');
  const fromEnv = f.get<string>('fromEnv');
  const given = [value, fromFile, fromEnv].filter(Boolean);
  if (given.length !== 1) {
    fail(f, given.length ? given.map((g) => g!.path.split('.').pop()) : 'nothing', 'exactly one of value (base64), fromFile and fromEnv');
    return undefined;
  }
  if (value) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value.value.replace(/\s/g, '')) || value.value.replace(/\s/g, '').length % 4 !== 0) {
      fail(value, '(hidden)', 'the secret base64-encoded, as oauth2-proxy reads value (e.g. the output of: printf %s SECRET | base64)');
      return undefined;
    }
    return { value: Buffer.from(value.value, 'base64').toString('utf8') };
  }
  if (fromEnv) {
    const v = env[fromEnv.value];
    if (v === undefined || v === '') { fail(fromEnv, fromEnv.value, 'the name of a variable that is set'); return undefined; }
    return { value: v };
  }
  return { file: fromFile!.value };
}

/** A SecretSource's value itself, a file read now (trailing newline dropped, as a secret file is written). */
export function secretValue(f: Fields, env: Readonly<Record<string, string | undefined>>, readFile: (p: string) => string, fail: Fail): string | undefined {
  const s = readSecret(f, env, fail);
  if (s === undefined || 'value' in s) return s?.value;
  try {
    return readFile(s.file).replace(/\r?\n$/, '');
  } catch (e) {
    fail(f.get('fromFile')!, s.file, `a readable file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    return undefined;
  }
}

