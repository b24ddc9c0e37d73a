// TLS where hopwatch itself speaks it to the upstream (https:// absolute-form requests),
// with its own handshake deadline so a stalled handshake is a tls_timeout, not a hang.
import net from 'node:net';
import tls from 'node:tls';
import { HopFailure } from '../classify/failure.ts';
import { classify } from '../classify/rules.ts';

export interface TlsOptions {
  servername: string;
  timeoutMs: number;
  /** Extra trusted roots (PEM) besides Node's bundle. */
  ca?: string | Buffer | undefined;
}

export function startTls(socket: net.Socket, options: TlsOptions, signal?: AbortSignal): Promise<tls.TLSSocket> {
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const secure = tls.connect({
      socket,
      servername: net.isIP(options.servername) ? undefined : options.servername,
      ALPNProtocols: ['http/1.1'],
      ...(options.ca ? { ca: [...tls.rootCertificates, options.ca.toString()] } : {}),
    });
    let done = false;
    const timer = setTimeout(() => {
      finish(new HopFailure('tls_timeout', `TLS handshake with ${options.servername} did not complete within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    const onAbort = () => finish(signal!.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });

    function finish(err?: Error) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // onError stays attached (finish ignores later calls): an error between here and the
      // caller attaching its own listeners must not become an uncaught exception.
      if (err) {
        secure.destroy();
        socket.destroy();
        reject(err);
      } else {
        resolve(secure);
      }
    }
    function onError(err: Error) {
      finish(classify('tls', err));
    }
    secure.once('secureConnect', () => finish());
    secure.on('error', onError);
    // A peer that closes mid-handshake without an alert surfaces as 'close' on some paths.
    secure.once('close', () => finish(new HopFailure('tls_protocol_error', 'connection closed during the TLS handshake', { hop: 'tls' })));
    if (signal?.aborted) onAbort();
  });
}
