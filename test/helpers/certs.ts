// A throwaway PKI for TLS tests, made at test time with the openssl CLI: a private CA and leaf
// certificates that each fail verification for exactly one reason. Nothing is checked in, so
// no certificate can expire in the repository. Generated once per process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  /** PEM private key. */
  key: string;
  /** PEM certificate. */
  cert: string;
}

export interface TestPki {
  /** The private CA's certificate: pass it as `ca` / `upstreamCa`. */
  caPem: string;
  /** The same certificate as a file, for command-line clients (`-CAfile`). */
  caFile: string;
  /** CA-signed, for localhost and 127.0.0.1, valid now. */
  valid: KeyPair;
  /** CA-signed, for localhost, validity ended yesterday. */
  expired: KeyPair;
  /** CA-signed, for localhost, validity starts in ten years. */
  notYetValid: KeyPair;
  /** CA-signed, valid now, but only for other.invalid. */
  wrongName: KeyPair;
  /** For localhost, valid now, but signed by its own key: no trusted issuer. */
  selfSigned: KeyPair;
}

// One config for every command, so the host's openssl.cnf (or OPENSSL_CONF) cannot change
// the extensions. unique_subject = no: several leaves share CN=localhost.
const CONFIG = `
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = hopwatch test CA
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = DIR
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ ext_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ext_localhost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
[ ext_other ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.invalid
authorityKeyIdentifier = keyid
[ ext_self ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
`;

const DAY_MS = 86_400_000;

/** ASN.1 GeneralizedTime as `openssl ca -startdate/-enddate` accepts it. */
function asn1Time(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

let cached: TestPki | undefined;

export function testPki(): TestPki {
  cached ??= generate();
  return cached;
}

function generate(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'hopwatch-pki-'));
  // The files outlive generation (caFile is read by command-line clients), not the process.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'openssl.cnf');
  writeFileSync(config, CONFIG.replace('DIR', dir));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const path = (name: string) => join(dir, name);
  const read = (name: string) => readFileSync(path(name), 'utf8');
  // P-256 keys: generated in milliseconds, unlike RSA.
  const newKey = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path(name));

  newKey('ca.key');
  openssl('req', '-config', config, '-new', '-x509', '-key', path('ca.key'), '-days', '30', '-extensions', 'ext_ca', '-out', path('ca.pem'));
  // One leaf key serves every CA-signed certificate: only the certificates differ.
  newKey('leaf.key');
  openssl('req', '-config', config, '-new', '-key', path('leaf.key'), '-subj', '/CN=localhost', '-out', path('leaf.csr'));

  const now = Date.now();
  const sign = (name: string, extensions: string, from: number, until: number): KeyPair => {
    openssl(
      'ca', '-config', config, '-batch', '-notext', '-in', path('leaf.csr'), '-out', path(name),
      '-extensions', extensions, '-startdate', asn1Time(from), '-enddate', asn1Time(until),
    );
    return { key: read('leaf.key'), cert: read(name) };
  };

  const valid = sign('valid.pem', 'ext_localhost', now - DAY_MS, now + 30 * DAY_MS);
  const expired = sign('expired.pem', 'ext_localhost', now - 30 * DAY_MS, now - DAY_MS);
  const notYetValid = sign('future.pem', 'ext_localhost', now + 3650 * DAY_MS, now + 3680 * DAY_MS);
  const wrongName = sign('other.pem', 'ext_other', now - DAY_MS, now + 30 * DAY_MS);

  newKey('self.key');
  openssl('req', '-config', config, '-new', '-x509', '-key', path('self.key'), '-subj', '/CN=localhost', '-days', '30', '-extensions', 'ext_self', '-out', path('self.pem'));
  const selfSigned = { key: read('self.key'), cert: read('self.pem') };

  return { caPem: read('ca.pem'), caFile: path('ca.pem'), valid, expired, notYetValid, wrongName, selfSigned };
}
