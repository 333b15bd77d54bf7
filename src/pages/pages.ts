/**
 * The pages Portcullis shows a person — sign-in, error, forbidden — from one small template set: two
 * templates in oauth2-proxy's names and template language (sign_in.html, error.html; the forbidden
 * page is error.html with the signed-in account filled in), which custom_templates_dir can replace.
 * Every dynamic value is escaped; only the operator's banner, footer and logo are inserted as HTML.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { isSaneRequestId } from '../server/requestid.js';
import type { Config } from '../config/validate.js';
import { BASE_CSS } from './style.js';
import { TrustedHtml, compileTemplate, escapeHtml, type Template } from '../config/template.js';
import type { SessionEnd } from '../session/contract.js';

export { escapeHtml } from '../config/template.js';
export { DEFAULT_LOGO, ERROR_FIELDS, SIGN_IN_FIELDS } from '../config/pagefields.js';
import { DEFAULT_LOGO, ERROR_FIELDS, SIGN_IN_FIELDS } from '../config/pagefields.js';

/** An empty icon: else the browser asks the app for /favicon.ico, which without a session is one more 401. */
const HEAD = (title: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><meta name="color-scheme" content="light dark"><title>${title}</title>
<link rel="icon" href="data:,">
<style>${BASE_CSS}</style></head>`;

const FOOTER = '<footer>{{if eq .Footer "-"}}{{else if eq .Footer ""}}Secured by Portcullis{{else}}{{.Footer}}{{end}}</footer>';

/**
 * Four states, each with its next step: not signed in (sign in), signed in already (continue,
 * switch account, sign out), just signed out (sign in again) and a session that ended without the
 * user (sign in again, with why: expired or signed out elsewhere), so none reads like another.
 */
const BUILT_IN_SIGN_IN = `${HEAD('{{if .SignedInAs}}Signed in{{else if .SignedOut}}Signed out{{else if .SessionEnded}}Session ended{{else}}Sign in{{end}}')}<body><div class="page"><main class="card">
{{if .LogoData}}<div class="logo">{{.LogoData}}</div>{{end}}
{{if .SignedInAs}}<h1>You are already signed in</h1>
<p id="signed-in-as">Signed in as <strong>{{.SignedInAs}}</strong>.</p>
<div class="actions"><a class="button" id="continue" href="{{.ContinueUrl}}">Continue</a>
<a class="button secondary" id="switch-account" href="{{.SwitchAccountUrl}}">Switch account</a></div>
<p><a id="sign-out" href="{{.SignOutUrl}}">Sign out</a></p>
{{else if .SignedOut}}<h1>You have signed out</h1>
<p id="signed-out" class="lead">Your session has ended on this site. You can close this window, or sign in again.</p>
{{if .Providers}}{{.Providers}}{{else}}<div class="actions"><a class="button" id="sign-in" href="{{.StartUrl}}">Sign in again</a></div>{{end}}
{{else if .SessionEnded}}<h1>Your session has ended</h1>
<p id="session-ended" class="lead">{{if eq .SessionEnded "expired"}}It expired: sessions last a limited time.{{else if eq .SessionEnded "signed_out"}}You were signed out, perhaps in another window or app.{{else}}Please sign in again to continue.{{end}}</p>
{{if .Providers}}{{.Providers}}{{else}}<div class="actions"><a class="button" id="sign-in" href="{{.StartUrl}}">Sign in again</a></div>{{end}}
{{else}}<h1>Sign in to continue</h1>
{{if .SignInMessage}}<p id="banner">{{.SignInMessage}}</p>{{end}}
{{if .Providers}}{{.Providers}}{{else}}<div class="actions"><a class="button" id="sign-in" href="{{.StartUrl}}">Sign in with {{.ProviderName}}</a></div>{{end}}
{{end}}</main>${FOOTER}</div></body></html>`;

/**
 * The request id and the code are what a support desk asks for: shown as text that can be
 * selected and quoted, below the words meant for the person.
 */
const BUILT_IN_ERROR = `${HEAD('{{.Title}}')}<body><div class="page"><main class="card">
<h1>{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .SignedInAs}}<p id="signed-in-as">You are signed in as <strong>{{.SignedInAs}}</strong>.</p>{{end}}
{{if .Note}}<p class="note" id="cause">{{.Note}}</p>{{end}}
<div class="actions">{{if .SignOutUrl}}<a class="button" id="switch-account" href="{{.SignOutUrl}}">Sign out, then sign in with another account</a>
{{else if .SignInUrl}}<a class="button" id="sign-in-again" href="{{.SignInUrl}}">Sign in again</a>
{{else}}<a class="button secondary" id="start-page" href="/">Go to the start page</a>{{end}}</div>
<div class="support" id="support"><dl><dt>Error</dt><dd><code id="error-code">{{.StatusCode}}{{if .Code}} · {{.Code}}{{end}}</code></dd>
{{if .RequestID}}<dt>Request id</dt><dd><code id="request-id">{{.RequestID}}</code></dd>{{end}}</dl>
<p>If you ask for help, quote {{if .RequestID}}these lines{{else}}this line{{end}}.</p></div>
</main>${FOOTER}</div></body></html>`;

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface PageSettings {
  readonly providerName: string;
  readonly proxyPrefix: string;
  /** banner as configured: '' for the default (the email domains), '-' for none, else HTML. */
  readonly banner: string;
  readonly footer: string;
  /** The logo as an <img> element, or '' for none. */
  readonly logo: string;
  readonly emailDomains: readonly string[];
  /** Replacements from custom_templates_dir. */
  readonly signInTemplate?: Template;
  readonly errorTemplate?: Template;
  /** Origins images may come from besides the page itself (an https:// logo). */
  readonly imageOrigins: readonly string[];
  /** Origins a form may lead to besides the page itself: a sign-in form's /start redirects to the issuer. */
  readonly formOrigins: readonly string[];
  /** request_id_header: the error page shows the request's id from it. */
  readonly requestIdHeader?: string;
}

export interface SignInView {
  readonly startUrl: string;
  /** Where the user lands after the login (already checked). */
  readonly redirect: string;
  /** With several providers: one link each (/oauth2/start?provider=<id>&rd=…), by name. */
  readonly providers?: readonly { readonly id: string; readonly name: string; readonly url: string }[];
  /** Some provider has home domains: offer an email field that finds the user's provider. */
  readonly emailForm?: boolean;
  /** Someone is signed in already: who (the page offers to continue to `redirect`, switch account or sign out). */
  readonly signedInAs?: string;
  /** The end of a sign-out: the page says so, and offers to sign in again. */
  readonly signedOut?: boolean;
  /** The browser came back with a session that has ended: the page says so (and why, when known). */
  readonly ended?: SessionEnd;
}

export interface ErrorView {
  readonly status: number;
  readonly title: string;
  readonly message: string;
  readonly note?: string;
  readonly retryUrl?: string;
  readonly code?: string;
  /** Set on a forbidden page: who the user is signed in as (the page then offers to switch account). */
  readonly signedInAs?: string;
  /** The request's id (request_id_header), shown so that it can be quoted to a support desk. */
  readonly requestId?: string;
}

/**
 * The page set of one proxy: templates compiled once, the banner worked out once, and the headers
 * every page carries. A page never runs script: the Content-Security-Policy has no script source at
 * all, so neither the built-in pages nor a custom template can (an inline <script> is ignored).
 */
export class Pages {
  readonly headers: OutgoingHttpHeaders;
  readonly #signIn: Template;
  readonly #error: Template;
  readonly #s: PageSettings;
  readonly #banner: TrustedHtml;
  /**
   * Switching account: sign out (at the issuer too, when it can), then a sign-in that asks the
   * issuer to authenticate again (prompt=login) rather than reuse the session it has.
   */
  readonly #switchAccount: string;

  /** A proxy's pages, from its configuration. */
  static fromConfig(config: Config): Pages {
    return new Pages({
      ...config.pages, providerName: config.provider.displayName, proxyPrefix: config.proxyPrefix, emailDomains: config.emailDomains,
      requestIdHeader: config.requestIdHeader,
      formOrigins: [...new Set(config.providers.flatMap((p) => [p.issuerUrl?.origin, p.loginUrl?.origin]).filter((o): o is string => !!o))],
    });
  }

  constructor(s: PageSettings) {
    this.#s = s;
    this.#signIn = s.signInTemplate ?? BUILT_IN_TEMPLATES.signIn;
    this.#error = s.errorTemplate ?? BUILT_IN_TEMPLATES.error;
    this.#banner = new TrustedHtml(signInMessage(s.banner, s.emailDomains));
    this.#switchAccount = `${s.proxyPrefix}/sign_out?rd=${encodeURIComponent(`${s.proxyPrefix}/sign_in?prompt=login`)}`;
    const img = ["'self'", 'data:', ...s.imageOrigins].join(' ');
    const forms = ["'self'", ...s.formOrigins].join(' ');
    this.headers = {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': `default-src 'none'; style-src 'self' 'unsafe-inline'; img-src ${img}; font-src 'self'; form-action ${forms}; frame-ancestors 'none'; base-uri 'none'`,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    };
  }

  /**
   * The id of a request as its error page shows it: the prelude has put the id it kept or made in
   * the request's header by then; a value that is not a sane id (an answer written before the
   * prelude ran) is not shown.
   */
  requestIdOf(req: IncomingMessage): string | undefined {
    const name = this.#s.requestIdHeader?.toLowerCase();
    const v = name ? req.headers[name] : undefined;
    return isSaneRequestId(v) ? v : undefined;
  }

  signIn(v: SignInView): string {
    const s = this.#s;
    return this.#signIn.render({
      ProviderName: s.providerName, SignInMessage: this.#banner, StatusCode: 200, CustomLogin: false,
      Redirect: v.redirect, Version: VERSION, ProxyPrefix: s.proxyPrefix, Footer: new TrustedHtml(s.footer),
      LogoData: new TrustedHtml(s.logo), StartUrl: v.startUrl,
      Providers: v.providers?.length ? new TrustedHtml(providerList(v, s.proxyPrefix)) : '',
      SignedInAs: v.signedInAs, SignedOut: v.signedOut === true && !v.signedInAs,
      SessionEnded: v.signedInAs || v.signedOut ? '' : v.ended ?? '',
      ContinueUrl: v.signedInAs ? v.redirect : undefined,
      SwitchAccountUrl: v.signedInAs ? this.#switchAccount : undefined,
      SignOutUrl: v.signedInAs ? `${s.proxyPrefix}/sign_out` : undefined,
    });
  }

  error(v: ErrorView): string {
    const s = this.#s;
    return this.#error.render({
      Title: v.title, Message: v.message, ProxyPrefix: s.proxyPrefix, StatusCode: v.status,
      // oauth2-proxy's error.html offers "go back" to Redirect and "sign in" when it is set.
      Redirect: v.retryUrl ? '/' : '', RequestID: v.requestId ?? '', Footer: new TrustedHtml(s.footer), Version: VERSION,
      Code: v.code, Note: v.note, SignInUrl: v.retryUrl, SignedInAs: v.signedInAs, SignOutUrl: v.signedInAs ? this.#switchAccount : undefined,
    });
  }
}

/**
 * The providers as the sign-in page lists them: a button each, and (with home domains) an email
 * field whose plain GET form goes to /oauth2/start with login_hint. Every value escaped.
 */
function providerList(v: SignInView, proxyPrefix: string): string {
  const links = v.providers!.map((p) => `<a class="button" id="sign-in-${escapeHtml(p.id)}" data-provider="${escapeHtml(p.id)}" href="${escapeHtml(p.url)}">Sign in with ${escapeHtml(p.name)}</a>`);
  const form = v.emailForm
    ? `<form method="get" action="${escapeHtml(proxyPrefix)}/start" id="home-realm"><label for="login_hint">Or sign in with your work email</label>`
      + `<div class="actions"><input type="email" name="login_hint" id="login_hint" required autocomplete="email" placeholder="you@company.example"><input type="hidden" name="rd" value="${escapeHtml(v.redirect)}">`
      + '<button class="button secondary" type="submit">Continue</button></div></form>'
    : '';
  return `<div class="actions" id="providers">${links.join('\n')}</div>${form}`;
}

/** oauth2-proxy's sign-in message: the banner, else the email domain(s) to use (none for *). */
function signInMessage(banner: string, domains: readonly string[]): string {
  if (banner === '-') return '';
  if (banner !== '') return banner;
  if (domains.length > 1) return `Authenticate using one of the following domains: ${domains.map(escapeText).join(', ')}`;
  if (domains.length === 1 && domains[0] !== '*') return `Authenticate using ${escapeText(domains[0]!)}`;
  return '';
}

function escapeText(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const BUILT_IN_TEMPLATES = {
  signIn: compileTemplate(BUILT_IN_SIGN_IN, 'sign_in.html', SIGN_IN_FIELDS),
  error: compileTemplate(BUILT_IN_ERROR, 'error.html', ERROR_FIELDS),
};

/** The built-in pages with default settings: for answers written before a proxy's own pages are known. */
export const DEFAULT_PAGES = new Pages({
  providerName: 'OpenID Connect', proxyPrefix: '/oauth2', banner: '-', footer: '', logo: DEFAULT_LOGO,
  emailDomains: [], imageOrigins: [], formOrigins: [],
});
