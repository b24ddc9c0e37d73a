// One SOCKS5 session, one exchange record: client screening, greeting and authentication, the
// request, policy, then the shared connector (DNS, connect, timing, classification). The reply is
// written only once the upstream outcome is known, with the catalogue's SOCKS code for it; on
// success the tunnel is the same relay CONNECT uses, fed first with whatever the client sent
// behind its request.
import type { Socket } from 'node:net';
import { CATALOGUE } from '../../classify/catalogue.ts';
import { HopFailure } from '../../classify/failure.ts';
import { classify } from '../../classify/rules.ts';
import { authorize, screen } from '../../exchange/admit.ts';
import { Exchange } from '../../exchange/record.ts';
import type { FrontContext } from '../context.ts';
import { invalidHost } from '../target.ts';
import { relay } from '../tunnel.ts';
import { UpstreamReads } from '../upstream-reads.ts';
import { handshake, type Refusal } from './handshake.ts';
import { COMMAND_CONNECT, REPLY_GENERAL_FAILURE, commandName, readRequest, reply } from './messages.ts';
import { SocketReader } from './reader.ts';

/** Client bytes held during the handshake and while connecting; past this the socket is paused. */
const EARLY_BYTES_LIMIT = 64 * 1024;
/**
 * After a failure reply the proxy half-closes and waits this long for the client to close. Closing
 * at once with unread client bytes would reset the connection, which can destroy the reply
 * before the client has read it.
 */
const LINGER_MS = 1_000;

export function startSession(ctx: FrontContext, socket: Socket): void {
  const ex = new Exchange(ctx.lifecycle, 'socks5', socket.remoteAddress ?? '', socket.remotePort ?? 0);
  const reader = new SocketReader(socket, EARLY_BYTES_LIMIT);
  const abort = new AbortController();
  let requestRead = false;

  const handshakeTimer = setTimeout(() => {
    ex.fail(new HopFailure('socks_handshake_timeout', `the SOCKS5 handshake was not complete within ${ctx.timeouts.handshakeMs} ms`));
    socket.destroy();
  }, ctx.timeouts.handshakeMs);

  // Until the tunnel opens, the socket closing ends the record; a client gone before any outcome
  // was recorded aborted, and the upstream work it started is cancelled.
  const onClose = () => {
    clearTimeout(handshakeTimer);
    ex.fail(new HopFailure('client_abort', 'the client closed the connection before the session opened', { hop: ex.hop }));
    abort.abort(ex.failure);
    ex.finish();
  };
  socket.once('close', onClose);
  socket.on('error', () => {}); // 'close' follows and decides

  // Once the request is read, a client that half-closes with nothing for the upstream has left;
  // one that sent bytes behind its request and shut down its side still gets its tunnel.
  const onEarlyEnd = () => {
    if (reader.buffered > 0) return;
    ex.fail(new HopFailure('client_abort', 'the client closed the connection while the upstream was being reached', { hop: ex.hop }));
    socket.destroy();
  };

  const write = (bytes: Buffer) => {
    if (!socket.destroyed) socket.write(bytes);
  };

  const refuse = ({ failure, reply: last, status }: Refusal) => {
    clearTimeout(handshakeTimer);
    socket.off('end', onEarlyEnd);
    ex.fail(failure);
    if (socket.destroyed) return; // the record already says why (client_abort, timeout)
    reader.detach();
    if (!last) {
      socket.destroy();
      return;
    }
    ex.status = status;
    socket.resume(); // drop what the client still sends, so its closing is seen
    socket.end(last);
    const linger = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once('close', () => clearTimeout(linger));
  };

  /** Refuses the request with the reply its failure's catalogue entry names (0x01 when none). */
  const refuseRequest = (failure: HopFailure) => {
    const code = CATALOGUE[failure.code].socks ?? REPLY_GENERAL_FAILURE;
    refuse({ failure, reply: reply(code), status: code });
  };

  // Each step answers synchronously when it can (a message already in, an interceptor with its
  // answer at hand) and is awaited only when it returned a promise: a session then costs a
  // promise per message it had to wait for, not one per step and field.
  async function run(): Promise<void> {
    const screened = ctx.gate.refusal(socket) ?? screen(ex);
    const refusal = screened instanceof Promise ? await screened : screened;
    ex.reach('parse');
    const shaken = handshake(ex, reader, { authEnabled: ctx.authEnabled, refusal, write });
    const stop = shaken instanceof Promise ? await shaken : shaken;
    if (stop) return refuse(stop);

    const requested = readRequest(reader);
    const request = requested instanceof Promise ? await requested : requested;
    requestRead = true;
    clearTimeout(handshakeTimer);
    ex.method = commandName(request.command);
    // A name that cannot be a host is not recorded either: it may be a secret or an injection.
    const badHost = request.host ? invalidHost(request.host) : undefined;
    if (!badHost) ex.host = request.host;
    ex.port = request.port;
    if (refusal) return refuseRequest(refusal);
    if (request.command !== COMMAND_CONNECT) {
      return refuseRequest(new HopFailure('socks_command_unsupported', `${ex.method} is not served; only CONNECT`));
    }
    if (!request.host || request.port === 0) {
      return refuseRequest(new HopFailure('invalid_target', `the request names ${request.host ? `port 0` : 'an empty host name'}`));
    }
    if (badHost) return refuseRequest(badHost);
    if (reader.ended) onEarlyEnd();
    else socket.once('end', onEarlyEnd);
    if (socket.destroyed) return;

    const authorized = authorize(ex);
    const denied = authorized instanceof Promise ? await authorized : authorized;
    if (denied) return refuseRequest(denied);
    const reads = new UpstreamReads();
    const upstream = await ctx.connector.open(ex, request.host, request.port, { signal: abort.signal, onread: reads.onread });
    socket.off('end', onEarlyEnd);
    if (socket.destroyed) {
      upstream.destroy(); // the client left meanwhile: onClose recorded it
      return;
    }
    socket.off('close', onClose);
    const head = reader.detach();
    ex.status = 0;
    ex.responseStarted = true;
    ex.reach('deliver');
    socket.write(reply(0x00, upstream.localAddress, upstream.localPort));
    relay(ex, socket, upstream, { idleMs: ctx.timeouts.idleMs, tlsMs: ctx.timeouts.tlsMs, maxMs: ctx.timeouts.maxTunnelMs }, head, reads);
  }

  run().catch((err: unknown) => {
    const failure = classify(ex.hop, err);
    const code = CATALOGUE[failure.code].socks;
    // Before the request is complete only what the catalogue names is answered (0x08 for an
    // unknown address type); garbage and a vanished client get a close.
    if (code === null && !requestRead) refuse({ failure });
    else refuseRequest(failure);
  });
}
