// Method negotiation and authentication: the greeting, the method choice and, for
// username/password, the RFC 1929 sub-negotiation, whose status must be known before the request
// can be read. The verdict is the shared auth hop's (authenticate): this only reads credentials
// onto the record and tells the client in SOCKS5 terms.
import { HopFailure } from '../../classify/failure.ts';
import { authenticate } from '../../exchange/admit.ts';
import type { Exchange } from '../../exchange/record.ts';
import { after, type MaybePromise } from '../../util/maybe.ts';
import {
  METHOD_NONE_ACCEPTABLE, METHOD_NO_AUTH, METHOD_USER_PASS, methodReply, readGreeting, readUserPass, userPassReply,
} from './messages.ts';
import type { SocketReader } from './reader.ts';

/** How a session ends before its request: the failure, and the last bytes the client gets. */
export interface Refusal {
  failure: HopFailure;
  /** Written before closing; none for a client that did not speak SOCKS5. */
  reply?: Buffer;
  /** The status byte that reply carries, for the record. */
  status?: number;
}

export interface HandshakeOptions {
  authEnabled: boolean;
  /**
   * The session is refused already (over the connection limit, client not allowed): its refusal
   * goes out as the reply to the request, which every client reports, so the handshake is only
   * walked through. Credentials are read but not checked: nothing will be served either way.
   */
  refusal: HopFailure | undefined;
  write: (bytes: Buffer) => void;
}

const hex = (methods: readonly number[]) => methods.map((m) => `0x${m.toString(16).padStart(2, '0')}`).join(', ');

/**
 * Runs greeting and authentication; undefined when the session may go on to its request.
 * Synchronous while the messages are already in and the auth hop answers at once.
 */
export function handshake(ex: Exchange, reader: SocketReader, options: HandshakeOptions): MaybePromise<Refusal | undefined> {
  return after(readGreeting(reader), (methods) => afterGreeting(ex, reader, options, methods));
}

function afterGreeting(ex: Exchange, reader: SocketReader, options: HandshakeOptions, methods: number[]): MaybePromise<Refusal | undefined> {
  const refusing = options.refusal !== undefined;
  const acceptable = options.authEnabled && !refusing ? [METHOD_USER_PASS] : [METHOD_NO_AUTH, METHOD_USER_PASS];
  const method = acceptable.find((m) => methods.includes(m));

  if (method === undefined) {
    const reply = methodReply(METHOD_NONE_ACCEPTABLE);
    if (options.refusal) return { failure: options.refusal, reply, status: METHOD_NONE_ACCEPTABLE };
    // No credentials can follow. The auth hop decides what that is (auth_missing when users are
    // configured, with its auth_failure event); without users nobody there objects, and the
    // client still offered nothing hopwatch speaks.
    return after(authenticate(ex), (failure) => ({
      failure: failure ??
        new HopFailure('auth_missing', `the client offered no method hopwatch serves (offered ${hex(methods)}; served 0x00, 0x02)`, { hop: 'auth' }),
      reply,
      status: METHOD_NONE_ACCEPTABLE,
    }));
  }

  options.write(methodReply(method));
  if (method === METHOD_NO_AUTH) {
    if (refusing) return undefined;
    // 0x00 was already chosen, so SOCKS5 has no way left to say "auth failed": close.
    return after(authenticate(ex), (failure) => (failure ? { failure } : undefined));
  }

  return after(readUserPass(reader), (credentials) => {
    if (refusing) {
      options.write(userPassReply(true));
      return undefined;
    }
    ex.request.credentials = { kind: 'socks5', username: credentials.username, password: credentials.password };
    return after(authenticate(ex), (failure): Refusal | undefined => {
      if (failure) return { failure, reply: userPassReply(false), status: 0x01 };
      // Without configured users the name is taken as the client gives it: it labels, it proves nothing.
      if (!options.authEnabled) ex.user = credentials.username;
      options.write(userPassReply(true));
      return undefined;
    });
  });
}
