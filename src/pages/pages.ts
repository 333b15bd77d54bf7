/** The few HTML pages Portcullis shows a person: sign-in, errors. Every dynamic value is escaped. */

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;display:flex;min-height:100vh;margin:0;align-items:center;justify-content:center}
main{background:#fff;border-radius:10px;box-shadow:0 2px 12px #0002;padding:2rem 2.5rem;max-width:28rem;text-align:center}
h1{font-size:1.3rem;margin:0 0 1rem}p{line-height:1.5}
a.button,button{display:inline-block;background:#2b59c3;color:#fff;border:0;border-radius:6px;padding:.7rem 1.4rem;font-size:1rem;text-decoration:none;cursor:pointer}
small{color:#667}
</style></head><body><main>${body}</main></body></html>`;
}

export function signInPage(o: { displayName: string; startUrl: string }): string {
  return layout('Sign in', `<h1>Sign in to continue</h1>
<p><a class="button" id="sign-in" href="${escapeHtml(o.startUrl)}">Sign in with ${escapeHtml(o.displayName)}</a></p>
<p><small>Secured by Portcullis</small></p>`);
}

/**
 * `signedInAs` and `signOutUrl` are for a user the access rules refuse: the page says who they are
 * signed in as, and that switching user means signing out first (signing in again would only bring
 * back the same account from the identity provider's session).
 */
export function errorPage(o: { status: number; title: string; message: string; note?: string; retryUrl?: string; code?: string; signedInAs?: string; signOutUrl?: string }): string {
  const who = o.signedInAs ? `<p>You are signed in as <strong id="signed-in-as">${escapeHtml(o.signedInAs)}</strong>.</p>` : '';
  const retry = o.signOutUrl
    ? `<p><a class="button" id="sign-out" href="${escapeHtml(o.signOutUrl)}">Sign out</a></p><p><small>then sign in with another account</small></p>`
    : o.retryUrl ? `<p><a class="button" href="${escapeHtml(o.retryUrl)}">Sign in again</a></p>` : '';
  const code = o.code ? `<p><small>${o.status} · ${escapeHtml(o.code)}</small></p>` : `<p><small>${o.status}</small></p>`;
  const note = o.note ? `<p><small>${escapeHtml(o.note)}</small></p>` : '';
  return layout(o.title, `<h1>${escapeHtml(o.title)}</h1><p>${escapeHtml(o.message)}</p>${who}${note}${retry}${code}`);
}
