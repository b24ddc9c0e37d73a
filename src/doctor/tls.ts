// Layer 3, TLS (https URLs): the handshake the proxy would make (startTls: SNI, verification,
// classification), and the certificate's facts. When verification fails, a second handshake
// that does not verify reads the certificate anyway: "expired 3 days ago" beats "untrusted".
import type { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { HopFailure } from '../classify/failure.ts';
import { classify } from '../classify/rules.ts';
import { connectAny } from '../upstream/connect.ts';
import { startTls } from '../upstream/tls.ts';
import type { Address, CertificateFacts, TlsLayer } from './types.ts';
import { oneLine } from './wire.ts';

/** The guide's risk indicator: "TLS handshake time > 500ms". */
export const TLS_SLOW_MS = 500;
/** Fewer days left than this is worth a line: renewals that silently failed show here first. */
const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;

export async function tlsLayer(host: string, address: Address, port: number, timeoutMs: number, ca?: string): Promise<TlsLayer> {
  const layer: TlsLayer = { layer: 'tls', status: 'ok', ms: 0, address: address.address, notes: [] };
  if (!net.isIP(host)) layer.sni = host;
  let socket: net.Socket;
  try {
    socket = await connectAny([address], port, timeoutMs, []);
  } catch (err) {
    return fail(layer, classify('connect', err));
  }
  const started = performance.now();
  try {
    const secure = await startTls(socket, { servername: host, timeoutMs, ca }, undefined);
    layer.ms = performance.now() - started;
    layer.version = secure.getProtocol() ?? undefined;
    const cert = secure.getPeerX509Certificate();
    secure.destroy();
    if (cert) layer.certificate = certificateFacts(cert, host);
  } catch (err) {
    layer.ms = performance.now() - started;
    fail(layer, classify('tls', err));
    // Nothing to read after a timeout: the second handshake would only time out too.
    if (layer.code !== 'tls_timeout') {
      const peek = await peekCertificate(host, address, port, timeoutMs).catch(() => undefined);
      if (peek) {
        layer.version = peek.version;
        layer.certificate = certificateFacts(peek.cert, host);
      }
    }
  }
  if (layer.ms > TLS_SLOW_MS) layer.notes.push(`the handshake took over ${TLS_SLOW_MS} ms (the guide's TLS risk indicator)`);
  const days = layer.certificate?.daysLeft;
  if (layer.status === 'ok' && days !== undefined && days < EXPIRY_WARNING_DAYS) layer.notes.push(`the certificate expires in ${days} days`);
  return layer;
}

function fail(layer: TlsLayer, failure: HopFailure): TlsLayer {
  layer.status = 'failed';
  layer.code = failure.code;
  layer.detail = oneLine(failure.detail);
  return layer;
}

export function certificateFacts(cert: X509Certificate, host: string, now = Date.now()): CertificateFacts {
  const from = cert.validFromDate.getTime();
  const to = cert.validToDate.getTime();
  const covers = net.isIP(host) ? cert.checkIP(host) : cert.checkHost(host);
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    validFrom: cert.validFromDate.toISOString(),
    validTo: cert.validToDate.toISOString(),
    validity: now < from ? 'not_yet_valid' : now > to ? 'expired' : 'valid',
    daysLeft: Math.floor((to - now) / DAY_MS),
    names: cert.subjectAltName ? cert.subjectAltName.split(', ') : [],
    coversHost: covers !== undefined,
  };
}

/** A handshake that accepts any certificate, only to read it. */
function peekCertificate(host: string, address: Address, port: number, timeoutMs: number): Promise<{ cert: X509Certificate; version: string | undefined }> {
  return connectAny([address], port, timeoutMs, []).then(
    (socket) =>
      new Promise((resolve, reject) => {
        const secure = tls.connect({ socket, servername: net.isIP(host) ? undefined : host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
        const timer = setTimeout(() => done(new HopFailure('tls_timeout', 'certificate read timed out')), timeoutMs);
        function done(err?: Error) {
          clearTimeout(timer);
          const cert = err ? undefined : secure.getPeerX509Certificate();
          const version = secure.getProtocol() ?? undefined;
          secure.destroy();
          if (cert) resolve({ cert, version });
          else reject(err ?? new Error('no certificate'));
        }
        secure.once('secureConnect', () => done());
        secure.on('error', (err) => done(err));
      }),
  );
}
