import type { OptionReader } from '../reader.js';
import type { HeadersPart } from '../types.js';

export type { HeadersPart };

/** What reaches the upstream, and what a forward-auth answer carries. */
export function validateHeaders(r: OptionReader): HeadersPart {
  const part: HeadersPart = {
    passUserHeaders: r.bool('pass_user_headers'),
    passAccessToken: r.bool('pass_access_token'),
    setXAuthRequest: r.bool('set_xauthrequest'),
    passBasicAuth: r.bool('pass_basic_auth'),
    basicAuthPassword: r.str('basic_auth_password'),
    preferEmailToUser: r.bool('prefer_email_to_user'),
    passAuthorizationHeader: r.bool('pass_authorization_header'),
    setAuthorizationHeader: r.bool('set_authorization_header'),
    setBasicAuth: r.bool('set_basic_auth'),
  };
  if (part.setBasicAuth && part.setAuthorizationHeader) {
    r.errors.push('OAUTH2_PROXY_SET_BASIC_AUTH=true and OAUTH2_PROXY_SET_AUTHORIZATION_HEADER=true would both set the Authorization header of /oauth2/auth answers: keep one');
  }
  if (part.setBasicAuth && part.basicAuthPassword === '') {
    r.warnings.push('OAUTH2_PROXY_SET_BASIC_AUTH=true without OAUTH2_PROXY_BASIC_AUTH_PASSWORD: the Basic credentials carry an empty password, as in oauth2-proxy');
  }
  // oauth2-proxy adds both values to one Authorization header ("Basic …,Bearer …"), which no
  // server reads: make the choice explicit instead.
  if (part.passAuthorizationHeader && part.passBasicAuth && part.basicAuthPassword !== '') {
    r.errors.push('OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER=true and OAUTH2_PROXY_BASIC_AUTH_PASSWORD (with OAUTH2_PROXY_PASS_BASIC_AUTH, on by default) would both set the upstream\'s Authorization header: keep one (set OAUTH2_PROXY_PASS_BASIC_AUTH=false, or unset the password)');
  }
  if (part.basicAuthPassword !== '' && !part.passBasicAuth && !part.setBasicAuth) {
    r.warnings.push('OAUTH2_PROXY_BASIC_AUTH_PASSWORD has no effect with OAUTH2_PROXY_PASS_BASIC_AUTH=false');
  }
  return part;
}
