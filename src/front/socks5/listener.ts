// The SOCKS5 listener: counts each connection against the shared limit and gives it a session.
import net from 'node:net';
import type { FrontContext } from '../context.ts';
import { startSession } from './session.ts';

export function createSocksListener(ctx: FrontContext): net.Server {
  // Half-open allowed: a client may send its request and first bytes, then shut down its side,
  // and still get the upstream's answer (the relay passes the half-close on).
  return net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    ctx.gate.admit(socket, 'socks');
    startSession(ctx, socket);
  });
}
