import { createSecureContext } from 'node:tls';
import type { OptionName } from '../options.js';
import { OptionReader } from '../reader.js';
import { parseListenAddress } from '../listen.js';
import type { TlsListener } from '../types.js';

/**
 * Go's names of TLS 1.0–1.2 cipher suites (crypto/tls, as oauth2-proxy's tls_cipher_suites takes
 * them) and OpenSSL's for the same suite. Go ignores the list for TLS 1.3, whose suites are always
 * on; their names are accepted here and likewise change nothing.
 */
const GO_CIPHER_SUITES: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: 'ECDHE-RSA-DES-CBC3-SHA',
  TLS_RSA_WITH_RC4_128_SHA: 'RC4-SHA',
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: 'ECDHE-RSA-RC4-SHA',
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: 'ECDHE-ECDSA-RC4-SHA',
};
const TLS13_SUITES = new Set(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);

/**
 * tls_cipher_suites as an OpenSSL cipher list for the TLS 1.2 handshake, or undefined (Node's
 * defaults). Each name must be one Go knows and that this Node's OpenSSL can still offer: RC4 and
 * 3DES are gone from OpenSSL 3, and an error says so rather than the listener dropping them quietly.
 */
export function cipherList(r: OptionReader): string | undefined {
  const names = r.list('tls_cipher_suites');
  if (names.length === 0) return undefined;
  const out: string[] = [];
  for (const name of names) {
    if (TLS13_SUITES.has(name)) continue;
    const openssl = GO_CIPHER_SUITES[name];
    if (!openssl) {
      r.fail('tls_cipher_suites', `Go cipher suite names such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (${JSON.stringify(name)} is not one)`);
      continue;
    }
    try {
      createSecureContext({ ciphers: openssl });
      out.push(openssl);
    } catch {
      r.fail('tls_cipher_suites', `suites this Node's OpenSSL offers (${name} is not: RC4 and 3DES are disabled in OpenSSL 3)`);
    }
  }
  // Only TLS 1.3 names: TLS 1.2 keeps Node's defaults, as Go would keep its own.
  return out.length ? out.join(':') : undefined;
}

/**
 * The HTTPS listener (oauth2-proxy's https_address, tls_cert_file, tls_key_file, tls_min_version):
 * undefined when neither file is set. The files are read and paired here, so an unreadable file,
 * a key that is not the certificate's, or a passphrase-protected key is a start-up message naming
 * the variable, not a failure at the first TLS handshake.
 */
export function validateTls(r: OptionReader): TlsListener | undefined {
  const minVersion = r.enumOf('tls_min_version') === 'TLS1.3' ? 'TLSv1.3' : 'TLSv1.2';
  const ciphers = cipherList(r);
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
  const pair = readKeyPair(r, 'tls_cert_file', 'tls_key_file');
  if (address?.kind !== 'tcp' || !pair) return undefined;
  return { address, ...pair, minVersion, ...(ciphers ? { ciphers } : {}) };
}

/**
 * oauth2-proxy's metrics_secure_address with metrics_tls_cert_file and metrics_tls_key_file: /metrics
 * over HTTPS, with the TLS version and cipher suites of the main listener. Undefined when unset.
 */
export function validateMetricsTls(r: OptionReader): TlsListener | undefined {
  const at = r.str('metrics_secure_address');
  const filesGiven = r.str('metrics_tls_cert_file') !== '' || r.str('metrics_tls_key_file') !== '';
  if (at === '') {
    if (filesGiven) r.warnings.push('OAUTH2_PROXY_METRICS_TLS_CERT_FILE / OAUTH2_PROXY_METRICS_TLS_KEY_FILE have no effect without OAUTH2_PROXY_METRICS_SECURE_ADDRESS');
    return undefined;
  }
  const address = parseListenAddress(at);
  if (address?.kind !== 'tcp') r.fail('metrics_secure_address', 'host:port or :port (HTTPS listens on TCP), e.g. 0.0.0.0:9443');
  if (r.str('metrics_tls_cert_file') === '') r.missing('metrics_tls_cert_file', 'OAUTH2_PROXY_METRICS_SECURE_ADDRESS serves metrics over HTTPS, which needs a certificate');
  if (r.str('metrics_tls_key_file') === '') r.missing('metrics_tls_key_file', 'OAUTH2_PROXY_METRICS_SECURE_ADDRESS serves metrics over HTTPS, which needs the certificate\'s private key');
  const pair = readKeyPair(r, 'metrics_tls_cert_file', 'metrics_tls_key_file');
  if (address?.kind !== 'tcp' || !pair) return undefined;
  const ciphers = cipherList(new QuietReader(r));
  return { address, ...pair, minVersion: r.enumOf('tls_min_version') === 'TLS1.3' ? 'TLSv1.3' : 'TLSv1.2', ...(ciphers ? { ciphers } : {}) };
}

/**
 * The certificate and key files of a listener, read and paired, so that an unreadable file, a key
 * that is not the certificate's, or a passphrase-protected key is a start-up message naming the
 * option, not a failure at the first TLS handshake. Undefined when either is missing or wrong.
 */
function readKeyPair(r: OptionReader, certName: OptionName, keyName: OptionName): { cert: string; key: string } | undefined {
  const read = (name: OptionName): string | undefined => {
    const file = r.str(name);
    if (file === '') return undefined;
    try {
      return r.readFile(file);
    } catch (e) {
      r.fail(name, `a readable file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      return undefined;
    }
  };
  const cert = read(certName);
  const key = read(keyName);
  const certOk = cert !== undefined && parses({ cert }, () => r.fail(certName, 'a PEM certificate (-----BEGIN CERTIFICATE-----)'));
  const keyOk = key !== undefined && parses({ key }, () => r.fail(keyName, 'a PEM private key without a passphrase (-----BEGIN PRIVATE KEY-----)'));
  if (certOk && keyOk) parses({ cert, key }, () => r.fail(keyName, `the private key of the certificate in ${r.spec(certName).env} (they do not match)`));
  return cert !== undefined && key !== undefined ? { cert, key } : undefined;
}

/** The same reads, with the messages left out (they were reported once already). */
class QuietReader extends OptionReader {
  constructor(r: OptionReader) { super(r.raw, r.readFile); }
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
