// authenticated_emails_file: addresses let in whatever email_domains says (oauth2-proxy's UserMap).
//
// The file is re-read when it changes. Portcullis checks its mtime, size and inode once a second
// rather than watching it: editors save by writing a new file and renaming it over the old one, and
// Kubernetes swaps a ConfigMap by moving a symlink, and an inotify watch on the old inode hears of
// neither. The check runs on a timer with async I/O, never on a request.

import { stat, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';

/**
 * The addresses in the file's text, lower-cased: the first comma-separated field of each line
 * (oauth2-proxy reads the file as CSV), trimmed, with `#` comment lines and blank lines skipped and
 * one pair of double quotes around the field removed.
 */
export function parseEmailList(text: string): Set<string> {
  const out = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let field: string;
    if (line.startsWith('"')) {
      const end = line.indexOf('"', 1);
      field = end < 0 ? line.slice(1) : line.slice(1, end);
    } else {
      field = line.split(',', 1)[0]!;
    }
    field = field.trim().toLowerCase();
    if (field !== '') out.add(field);
  }
  return out;
}

/** What the access policy asks of the list: membership, and a number that changes when the list does. */
export interface EmailList {
  has(email: string): boolean;
  readonly generation: number;
}

/** The file's addresses, kept current by a once-a-second check of the file. */
export class AuthenticatedEmailsFile implements EmailList {
  readonly #path: string;
  readonly #log: Logger;
  #emails: Set<string>;
  #generation = 0;
  /** Unknown at first, so the first check reads the file again: it may have changed since start-up. */
  #signature = '';
  #missingReported = false;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;

  /** `initial` is the file's text as read at start-up (a missing file is a configuration error there). */
  constructor(path: string, initial: string, log: Logger, intervalMs = 1000) {
    this.#path = path;
    this.#log = log;
    this.#emails = parseEmailList(initial);
    this.#timer = setInterval(() => void this.check(), intervalMs);
    this.#timer.unref();
  }

  get generation(): number { return this.#generation; }
  get size(): number { return this.#emails.size; }

  has(email: string): boolean {
    return this.#emails.has(email.toLowerCase());
  }

  /** Reads the file again if it changed; one check at a time. Exposed for tests. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => { this.#checking = undefined; });
    return this.#checking;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #check(): Promise<void> {
    let signature: string;
    try {
      const s = await stat(this.#path);
      signature = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (e) {
      // A file that is away for a moment (a deploy replacing it) must not lock everyone out, nor let
      // everyone in: the last list stays until the file is back.
      if (!this.#missingReported) {
        this.#missingReported = true;
        this.#log.warn({ event: 'authenticated_emails_missing', file: this.#path, code: (e as NodeJS.ErrnoException).code }, 'authenticated_emails_file cannot be read; keeping the last list');
      }
      return;
    }
    this.#missingReported = false;
    if (signature === this.#signature) return;
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch {
      return; // replaced between stat and read: the next check sees it
    }
    const emails = parseEmailList(text);
    const changed = emails.size !== this.#emails.size || [...emails].some((e) => !this.#emails.has(e));
    this.#signature = signature;
    if (!changed) return;
    this.#emails = emails;
    this.#generation++;
    this.#log.info({ event: 'authenticated_emails_reloaded', file: this.#path, count: emails.size }, 'authenticated_emails_file reloaded');
  }
}
