import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  readonly dir: string;
  /** The test CA's certificate (PEM), for clients. */
  readonly ca: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** A private key of another certificate: the wrong key for certFile. */
  readonly otherKeyFile: string;
  /** A passphrase-protected private key. */
  readonly encryptedKeyFile: string;
  remove(): void;
}

/**
 * A throwaway certificate authority and a server certificate it signs for `names` (DNS names and
 * IP addresses), made with the openssl command (Debian `openssl`): the test fails, not skips,
 * when it is missing.
 */
export function makeCertificates(names: readonly string[]): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
  const at = (f: string): string => join(dir, f);
  const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 }); };
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Portcullis test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  openssl('req', ...ecKey, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${names[0]}`);
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  writeFileSync(at('server.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', 'pass:test', '-out', 'encrypted.key');
  return {
    dir,
    ca: readFileSync(at('ca.crt'), 'utf8'),
    certFile: at('server.crt'),
    keyFile: at('server.key'),
    otherKeyFile: at('other.key'),
    encryptedKeyFile: at('encrypted.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
