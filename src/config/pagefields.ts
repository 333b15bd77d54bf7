/**
 * What the page templates may use and the default logo: read by config (which compiles custom
 * templates at start-up and reports every unknown field) and by pages (which renders them).
 */

/** The fields sign_in.html gets: oauth2-proxy's, then Portcullis's own (StartUrl; Providers, with several providers; the signed-in, signed-out and session-ended states; SessionEnded is expired, signed_out or ended). */
export const SIGN_IN_FIELDS = ['ProviderName', 'SignInMessage', 'StatusCode', 'CustomLogin', 'Redirect', 'Version', 'ProxyPrefix', 'Footer', 'LogoData', 'StartUrl', 'Providers',
  'SignedInAs', 'ContinueUrl', 'SwitchAccountUrl', 'SignOutUrl', 'SignedOut', 'SessionEnded'] as const;
/** The fields error.html gets: oauth2-proxy's, then Portcullis's own. */
export const ERROR_FIELDS = ['Title', 'Message', 'ProxyPrefix', 'StatusCode', 'Redirect', 'RequestID', 'Footer', 'Version', 'Code', 'Note', 'SignInUrl', 'SignedInAs', 'SignOutUrl'] as const;

/** A portcullis, drawn in a few strokes: the default sign-in logo (custom_sign_in_logo=- removes it). */
const DEFAULT_LOGO_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64"><rect x="6" y="6" width="52" height="52" rx="8" fill="#2b59c3"/>'
  + '<g stroke="#fff" stroke-width="4" stroke-linecap="round"><path d="M18 14v38M28 14v38M38 14v38M48 14v38M14 24h38M14 38h38"/></g></svg>';
export const DEFAULT_LOGO = `<img src="data:image/svg+xml;base64,${Buffer.from(DEFAULT_LOGO_SVG).toString('base64')}" alt="Portcullis">`;
