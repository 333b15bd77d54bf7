import { createSecureContext } from 'node:tls';
import type { OptionName } from '../options.js';
import type { OptionReader } from '../reader.js';
import { parseListenAddress, type TlsListener } from '../validate.js';

/**
 * The HTTPS listener (oauth2-proxy's https_address, tls_cert_file, tls_key_file, tls_min_version):
 * undefined when neither file is set. The files are read and paired here, so an unreadable file,
 * a key that is not the certificate's, or a passphrase-protected key is a start-up message naming
 * the variable, not a failure at the first TLS handshake.
 */
export function validateTls(r: OptionReader): TlsListener | undefined {
  const minVersion = r.enumOf('tls_min_version') === 'TLS1.3' ? 'TLSv1.3' : 'TLSv1.2';
  const certFile = r.str('tls_cert_file');
  const keyFile = r.str('tls_key_file');
  if (certFile === '' && keyFile === '') {
    if (r.raw.https_address!.origin !== 'default') {
      r.missing('tls_cert_file', 'OAUTH2_PROXY_HTTPS_ADDRESS is set, and HTTPS needs a certificate (and OAUTH2_PROXY_TLS_KEY_FILE)');
    }
    return undefined;
  }
  if (certFile === '') r.missing('tls_cert_file', 'OAUTH2_PROXY_TLS_KEY_FILE is set, and HTTPS needs its certificate too');
  if (keyFile === '') r.missing('tls_key_file', 'OAUTH2_PROXY_TLS_CERT_FILE is set, and HTTPS needs its private key too');
  const address = parseListenAddress(r.str('https_address'));
  if (address?.kind !== 'tcp') r.fail('https_address', 'host:port or :port (HTTPS listens on TCP), e.g. :443 or 0.0.0.0:8443');

  const read = (name: OptionName, file: string): string | undefined => {
    if (file === '') return undefined;
    try {
      return r.readFile(file);
    } catch (e) {
      r.fail(name, `a readable file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      return undefined;
    }
  };
  const cert = read('tls_cert_file', certFile);
  const key = read('tls_key_file', keyFile);
  const certOk = cert !== undefined && parses({ cert }, () => r.fail('tls_cert_file', 'a PEM certificate (-----BEGIN CERTIFICATE-----)'));
  const keyOk = key !== undefined && parses({ key }, () => r.fail('tls_key_file', 'a PEM private key without a passphrase (-----BEGIN PRIVATE KEY-----)'));
  if (certOk && keyOk) parses({ cert, key }, () => r.fail('tls_key_file', 'the private key of the certificate in OAUTH2_PROXY_TLS_CERT_FILE (they do not match)'));
  if (address?.kind !== 'tcp' || cert === undefined || key === undefined) return undefined;
  return { address, cert, key, minVersion };
}

function parses(o: { cert?: string; key?: string }, onError: () => void): boolean {
  try {
    createSecureContext(o);
    return true;
  } catch {
    onError();
    return false;
  }
}
