// CONNECT front-end: opens a tunnel to host:port through the connector and relays bytes.
// A CONNECT that cannot be served is always answered with a classified status (502/504 …)
// and Proxy-Status, never with a silent close.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { HopFailure } from '../classify/failure.ts';
import { classify } from '../classify/rules.ts';
import { admit } from '../exchange/admit.ts';
import { Exchange } from '../exchange/record.ts';
import { parseProxyAuthorization } from '../policy/auth.ts';
import type { FrontContext } from './context.ts';
import { REQUEST_ID_HEADER, buildErrorAnswer, writeErrorToSocket } from './error-response.ts';
import { forwardable } from './headers.ts';
import { parseConnectTarget } from './target.ts';
import { relay } from './tunnel.ts';
import { UpstreamReads } from './upstream-reads.ts';


/**
 * Client bytes held while the upstream connects. Past this the client socket is paused (back
 * pressure) instead of buffering without bound.
 */
const EARLY_BYTES_LIMIT = 64 * 1024;

export function handleConnect(ctx: FrontContext, req: IncomingMessage, client: Socket, head: Buffer): void {
  const ex = new Exchange(ctx.lifecycle, 'connect', client.remoteAddress ?? '', client.remotePort ?? 0);
  ex.method = 'CONNECT';
  const abort = new AbortController();
  const onEarlyClose = () => {
    ex.fail(new HopFailure('client_abort', 'the client closed the connection before the tunnel opened', { hop: ex.hop }));
    abort.abort(ex.failure);
    ex.finish();
  };
  client.once('close', onEarlyClose);
  client.on('error', () => {}); // 'close' follows and decides

  // Until the tunnel opens the client socket is read: bytes a client sends right behind the
  // CONNECT (a TLS ClientHello, say) are kept for the upstream, and a client that hangs up is
  // seen at once. The HTTP server's sockets allow half-open connections, so a hang-up is an
  // 'end' without a 'close' (and no 'end' at all while unread bytes sit in the socket); unheard,
  // the proxy would go on connecting for the whole connectMs and answer 504 to nobody.
  const early: Buffer[] = head.length ? [head] : [];
  let earlyBytes = head.length;
  const onEarlyData = (chunk: Buffer) => {
    early.push(chunk);
    earlyBytes += chunk.length;
    if (earlyBytes >= EARLY_BYTES_LIMIT) client.pause();
  };
  const onEarlyEnd = () => {
    // With bytes to deliver this may be a half-close ("send and shut down"): the tunnel still
    // opens and passes the close on. With nothing to deliver nobody is left to serve.
    if (earlyBytes > 0) return;
    onEarlyClose();
    client.destroy();
  };
  client.on('data', onEarlyData);
  client.once('end', onEarlyEnd);
  const stopEarlyReading = () => {
    client.off('data', onEarlyData);
    client.off('end', onEarlyEnd);
  };

  const refuse = (failure: HopFailure) => {
    stopEarlyReading();
    // The client left: onEarlyClose records it (its 'close' may still be on its way).
    if (client.destroyed) return;
    client.off('close', onEarlyClose);
    ex.fail(failure);
    const answer = buildErrorAnswer(ctx, ex.id, ex.failure ?? failure, req.headers.accept);
    ex.status = answer.status;
    client.once('close', () => ex.finish());
    // Keep reading (and dropping) whatever the client still sends, so its closing is seen and
    // the socket can close once the answer is out.
    client.resume();
    writeErrorToSocket(client, answer);
  };

  const overLimit = ctx.gate.refusal(client);
  if (overLimit) return refuse(overLimit);
  ex.reach('parse');
  const target = parseConnectTarget(req.url ?? '');
  if (target instanceof HopFailure) return refuse(target);
  ex.host = target.host;
  ex.port = target.port;
  ex.request.via = forwardable(req.rawHeaders).via;
  if (ctx.authEnabled) ex.request.credentials = parseProxyAuthorization(req.headers['proxy-authorization']);

  // Admission is synchronous when its interceptors are; then the only wait is the connect.
  const reads = new UpstreamReads();
  const failed = (err: unknown) => {
    if (client.destroyed) return; // the client left: already recorded as client_abort
    refuse(classify(ex.hop, err));
  };
  const open = (denied: HopFailure | undefined) => {
    if (denied) return refuse(denied);
    ctx.connector.open(ex, target.host, target.port, { signal: abort.signal, onread: reads.onread }).then(opened, failed);
  };
  const opened = (upstream: Socket) => {
    stopEarlyReading();
    client.off('close', onEarlyClose);
    if (client.destroyed) {
      upstream.destroy();
      return onEarlyClose();
    }
    ex.status = 200;
    ex.responseStarted = true;
    ex.reach('deliver');
    client.write(`HTTP/1.1 200 Connection Established\r\n${REQUEST_ID_HEADER}: ${ex.id}\r\n\r\n`);
    relay(ex, client, upstream, { idleMs: ctx.timeouts.idleMs, tlsMs: ctx.timeouts.tlsMs, maxMs: ctx.timeouts.maxTunnelMs }, early.length > 1 ? Buffer.concat(early) : early[0], reads);
  };
  try {
    const admitted = admit(ex);
    if (admitted instanceof Promise) admitted.then(open, failed);
    else open(admitted);
  } catch (err) {
    failed(err);
  }
}
