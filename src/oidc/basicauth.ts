import type * as client from 'openid-client';

/**
 * A client id or secret as Go's url.QueryEscape writes it (and so Go's oauth2, in oauth2-proxy):
 * form-encoded as RFC 6749 §2.3.1 asks, except that `-`, `_`, `.` and `~` stay as they are.
 * Decoding gives the same text either way, but an issuer that compares Basic credentials without
 * decoding them (Glewlwyd 2.7: `portcullis-app` sent as `portcullis%2Dapp` is refused with
 * unauthorized_client) sees a dashed client id as written. Everything else is escaped as
 * oauth4webapi escapes it: `!'()*` as %XX, a space as `+`.
 */
export function queryEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]|%20/g, (c) => (c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
}

/**
 * client_secret_basic with the credentials escaped as Go's url.QueryEscape does (see queryEscape),
 * in place of openid-client's ClientSecretBasic, whose strict escaping of `-` some issuers refuse.
 */
export function clientSecretBasicQueryEscaped(clientSecret: string): client.ClientAuth {
  return (_as, c, _body, headers) => {
    const credentials = Buffer.from(`${queryEscape(c.client_id)}:${queryEscape(clientSecret)}`, 'latin1').toString('base64');
    headers.set('authorization', `Basic ${credentials}`);
  };
}
