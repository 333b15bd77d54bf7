import { AddressRanges } from '../../access/cidr.js';
import { AllowedDomains, splitHostPort } from '../../access/redirect.js';
import { RouteRules, compilePattern, parseSkipRoute, type SkipRule } from '../../access/routes.js';
import { describeOrigin } from '../load.js';
import type { OptionName } from '../options.js';
import type { OptionReader } from '../reader.js';
import { isLoopbackHost, parseBool, parseCommaList, parsePatternList } from '../values.js';
import type { AccessPart, JwtIssuer } from '../types.js';

export type { AccessPart };

/** Who may sign in, how they are asked to, which routes need no login, and where they may be sent. */
export function validateAccess(r: OptionReader): AccessPart {
  const emailDomains = r.list('email_domains').map((d) => d.toLowerCase());
  const emailsFile = r.str('authenticated_emails_file');
  let authenticatedEmails: AccessPart['authenticatedEmails'];
  if (emailsFile !== '') {
    try {
      authenticatedEmails = { file: emailsFile, text: r.readFile(emailsFile) };
    } catch (e) {
      r.fail('authenticated_emails_file', `a readable file of email addresses, one per line (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  if (emailDomains.length === 0 && emailsFile === '') {
    r.missing('email_domains', 'the email domains allowed to sign in (example.com, *.example.com), or * to allow any (or list the addresses in OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE)');
  }
  const allowedGroups = parseCommaList(r.raw.allowed_groups!.value);

  const skip: SkipRule[] = [];
  for (const entry of parsePatternList(r.raw.skip_auth_routes!.value)) {
    const rule = parseSkipRoute(entry);
    if ('error' in rule) badEntry(r, 'skip_auth_routes', entry, rule.error, 'METHOD=path-regex, METHOD!=path-regex or path-regex, e.g. GET=^/public/');
    else skip.push(rule);
  }
  for (const entry of parsePatternList(r.raw.skip_auth_regex!.value)) {
    const pattern = compilePattern(entry);
    if ('error' in pattern) badEntry(r, 'skip_auth_regex', entry, pattern.error, 'a path regex, e.g. ^/public/');
    else skip.push({ negate: false, pattern, source: entry });
  }
  const api: RegExp[] = [];
  for (const entry of parsePatternList(r.raw.api_routes!.value)) {
    const pattern = compilePattern(entry);
    if ('error' in pattern) badEntry(r, 'api_routes', entry, pattern.error, 'a path regex, e.g. ^/api/');
    else api.push(pattern);
  }
  if (!r.bool('skip_auth_strip_headers')) {
    r.warnings.push('OAUTH2_PROXY_SKIP_AUTH_STRIP_HEADERS=false has no effect: Portcullis removes client copies of its identity headers on every request, so that no client can name itself to the upstream');
  }

  const skipJwt = r.bool('skip_jwt_bearer_tokens');
  const loginFallback = r.bool('bearer_token_login_fallback');
  const httpAnywhere = parseBool(r.str('insecure_oidc_allow_http_issuer'));
  const extraIssuers: JwtIssuer[] = [];
  for (const entry of r.list('extra_jwt_issuers')) {
    const eq = entry.indexOf('=');
    const issuer = eq < 0 ? '' : entry.slice(0, eq);
    const audience = eq < 0 ? '' : entry.slice(eq + 1);
    let url: URL | undefined;
    try { url = new URL(issuer); } catch { /* reported below */ }
    if (!url || audience === '' || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      badEntry(r, 'extra_jwt_issuers', entry, 'no =audience after the issuer URL', 'issuer-URL=audience pairs, e.g. https://issuer.example.com/=api');
    } else if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !(httpAnywhere.ok && httpAnywhere.value)) {
      badEntry(r, 'extra_jwt_issuers', entry, 'plain http', 'an https:// issuer (plain http only on loopback, or with OAUTH2_PROXY_INSECURE_OIDC_ALLOW_HTTP_ISSUER=true)');
    } else {
      extraIssuers.push({ issuer, audience });
    }
  }
  if (skipJwt && r.str('oidc_issuer_url') === '' && r.list('extra_jwt_issuers').length === 0) {
    r.errors.push('OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS=true needs an issuer whose keys verify the tokens: set OAUTH2_PROXY_OIDC_ISSUER_URL, or OAUTH2_PROXY_EXTRA_JWT_ISSUERS');
  }
  if (!skipJwt && r.list('extra_jwt_issuers').length > 0) r.warnings.push('OAUTH2_PROXY_EXTRA_JWT_ISSUERS has no effect without OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS=true');

  const domains = r.list('whitelist_domains');
  for (const d of domains) {
    const { host } = splitHostPort(d);
    if (!/^(\*\.|\.)?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host) && !/^[0-9A-Fa-f:.]+$/.test(host)) {
      badEntry(r, 'whitelist_domains', d, 'not a host name', 'host names such as example.com, .example.com, *.example.com, with :port or :* if needed (no scheme, no path)');
    }
  }

  const trusted = r.list('trusted_ips');
  const { ranges: trustedIps, bad } = AddressRanges.parse(trusted);
  if (bad.length) {
    r.fail('trusted_ips', `IP addresses or CIDR ranges such as 10.1.2.0/24 or 192.168.1.7 (${bad.map((b) => `${JSON.stringify(b.entry)}: ${b.why}`).join('; ')})`);
  } else if (trusted.length) {
    r.warnings.push(`OAUTH2_PROXY_TRUSTED_IPS lets every request from ${trusted.join(', ')} in without login: whoever can send from (or, behind a load balancer, be reported as) one of these addresses is let in${r.bool('reverse_proxy') ? '; with OAUTH2_PROXY_REVERSE_PROXY=true the address comes from the load balancers in OAUTH2_PROXY_TRUSTED_PROXY_IPS, so they must set the client address header themselves' : ''}`);
  }

  return {
    ...(trusted.length && bad.length === 0 ? { trustedIps } : {}),
    emailDomains,
    authenticatedEmails,
    allowedGroups,
    skipProviderButton: r.bool('skip_provider_button'),
    routes: new RouteRules({ skip, api, skipPreflight: r.bool('skip_auth_preflight') }),
    bearer: skipJwt ? { extraIssuers, loginFallback } : undefined,
    whitelistDomains: new AllowedDomains(domains),
  };
}

/** One bad entry of a list option, named with the spelling the user used. */
function badEntry(r: OptionReader, name: OptionName, entry: string, why: string, expected: string): void {
  r.errors.push(`${describeOrigin(r.spec(name), r.raw[name]!.origin)}: the entry ${JSON.stringify(entry)} is not usable (${why}); expected ${expected}`);
}
