// A throwaway self-signed certificate, made in memory when the demo origin starts, so nothing
// secret or expiring is checked in and no openssl is needed. Just enough DER (X.509 v3, ECDSA
// P-256, a subjectAltName) for TLS clients that are told not to verify it. Demo only.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

const der = (tag, ...parts) => {
  const body = Buffer.concat(parts);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
};
const seq = (...parts) => der(0x30, ...parts);
const oid = (dotted) => {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [a * 40 + b];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = v >> 7; x > 0; x >>= 7) chunk.unshift((x & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
};
const utcTime = (date) => der(0x17, Buffer.from(date.toISOString().replace(/\D/g, '').slice(2, 14) + 'Z'));

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

/** { key, cert } in PEM for `names` (DNS names or IP addresses), valid from yesterday for a year. */
export function selfSigned(names) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subject = seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from('hopwatch demo origin')))));
  const day = 86_400_000;
  const altNames = names.map((n) =>
    isIP(n) === 4 ? der(0x87, Buffer.from(n.split('.').map(Number))) : der(0x82, Buffer.from(n)),
  );
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // version 3
    der(0x02, Buffer.concat([Buffer.from([0x01]), randomBytes(8)])), // positive serial
    ECDSA_SHA256,
    subject,
    seq(utcTime(new Date(Date.now() - day)), utcTime(new Date(Date.now() + 365 * day))),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, seq(seq(oid('2.5.29.17'), der(0x04, seq(...altNames))))),
  );
  const signature = sign('sha256', tbs, privateKey); // DER-encoded ECDSA signature
  const cert = seq(tbs, ECDSA_SHA256, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const pem = cert.toString('base64').match(/.{1,64}/g).join('\n');
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    cert: `-----BEGIN CERTIFICATE-----\n${pem}\n-----END CERTIFICATE-----\n`,
  };
}
