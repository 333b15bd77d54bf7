/**
 * oauth2-proxy's email-domain rule: `*` allows anyone; `example.com` allows exactly @example.com;
 * `*.example.com` or `.example.com` allows its subdomains (not the bare domain). Case-insensitive.
 * Domains are lower-cased once at start-up. An address with more than one `@` never passes: an
 * issuer that lets users type their own address could otherwise let in `x@evil.test@example.com`.
 */
export function isEmailAllowed(email: string | undefined, domains: readonly string[]): boolean {
  if (domains.includes('*')) return true;
  if (!email) return false;
  const at = email.indexOf('@');
  if (at <= 0 || at === email.length - 1 || email.indexOf('@', at + 1) >= 0) return false;
  const domain = email.slice(at + 1).toLowerCase();
  return domains.some((d) => {
    if (d.startsWith('*.')) return domain.endsWith(d.slice(1));
    if (d.startsWith('.')) return domain.endsWith(d);
    return domain === d;
  });
}
