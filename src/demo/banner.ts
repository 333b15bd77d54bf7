import { wrapText } from '../config/docs.js';

export interface BannerFacts {
  /** Where to open the demo. */
  readonly url: string;
  readonly issuerUrl: string;
  /** With the demo's second issuer (several providers): shown beside the first. */
  readonly partnerIssuerUrl?: string;
  readonly upstreamUrl: string;
  /** The README on this machine, when it is there (a file:// URL a terminal can open). */
  readonly readme?: string;
  /** The terminal's width; the box never gets wider than it. */
  readonly columns?: number;
}

/**
 * The box the demo prints at start-up: where to go, what runs, and, in plain words, what its
 * start-up warnings mean (plain http, secrets made at each start), so that no JSON warning follows.
 * Every line of the box has the same width, whatever the URLs' lengths.
 */
export function demoBanner(f: BannerFacts): string {
  const outer = Math.max(50, Math.min(78, (f.columns ?? 80) - 2));
  const inner = outer - 6; // "  │ " + text + " │"
  const body: string[] = [];
  const para = (text: string, first = 0, rest = first): void => { body.push(...wrapText(text, inner, first, rest)); };
  para(`Open ${f.url} and sign in as a demo user.`);
  body.push('');
  para('No identity provider is configured, so these run on this machine only, with secrets made at start-up:');
  const row = (label: string, url: string): void => {
    const line = `  ${label.padEnd(32)}${url}`;
    if (line.length <= inner) body.push(line);
    else para(`${label} ${url}`, 2, 4);
  };
  row(f.partnerIssuerUrl ? 'stand-in IdP: Acme staff' : 'stand-in identity provider', f.issuerUrl);
  if (f.partnerIssuerUrl) row('stand-in IdP: Partner', f.partnerIssuerUrl);
  row("echo app (in your app's place)", f.upstreamUrl);
  body.push('');
  para('Good to know:');
  para('- Cookies go over plain http here, which is fine on this machine; a real deployment uses https.', 0, 2);
  para('- Keys and secrets change at every start: after a restart, sign in again.', 0, 2);
  body.push('');
  para('To put it in front of your own app: portcullis --help (quick start at the top), and the README:', 0, 0);
  if (f.readme) para(f.readme, 2, 2);
  const title = ' PORTCULLIS DEMO MODE: not for production ';
  const top = `  ┌─${title}${'─'.repeat(Math.max(0, outer - 5 - title.length))}┐`;
  const lines = ['', top, ...body.map((l) => `  │ ${l.padEnd(inner)} │`), `  └${'─'.repeat(outer - 4)}┘`, ''];
  return `${lines.join('\n')}\n`;
}
