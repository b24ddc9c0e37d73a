// The SOCKS5 messages: the greeting and request of RFC 1928, the username/password
// sub-negotiation of RFC 1929, and the replies. Parsers read exactly one message from the reader
// (synchronously when it is already in) and throw a classified HopFailure for anything that is
// not one: socks_malformed (no reply is owed to a client that does not speak SOCKS5), or a code
// whose catalogue entry names the reply.
import { HopFailure } from '../../classify/failure.ts';
import { ATYP_DOMAIN, ATYP_IPV4, ATYP_IPV6, encodeAddress, formatIpv4, formatIpv6 } from './address.ts';
import type { MaybePromise } from '../../util/maybe.ts';
import { StreamEnded, type Cursor, type SocketReader } from './reader.ts';

export const SOCKS_VERSION = 0x05;
export const AUTH_VERSION = 0x01;
export const METHOD_NO_AUTH = 0x00;
export const METHOD_USER_PASS = 0x02;
export const METHOD_NONE_ACCEPTABLE = 0xff;
export const COMMAND_CONNECT = 0x01;
export const REPLY_GENERAL_FAILURE = 0x01;

const COMMANDS: Readonly<Record<number, string>> = { 0x01: 'CONNECT', 0x02: 'BIND', 0x03: 'UDP_ASSOCIATE' };

export function commandName(command: number): string {
  return COMMANDS[command] ?? `0x${command.toString(16).padStart(2, '0')}`;
}

export interface SocksRequest {
  command: number;
  host: string;
  port: number;
}

export interface UserPass {
  username: string;
  password: string;
}

function malformed(detail: string): HopFailure {
  return new HopFailure('socks_malformed', detail);
}

/** Names what the client spoke instead, so the log says more than "bad version". */
function wrongVersion(what: string, byte: number, expected: number): HopFailure {
  const hint = byte === 0x04 ? ' (a SOCKS4 client)' : byte >= 0x41 && byte <= 0x5a ? ' (looks like HTTP: use the HTTP listener)' : '';
  return malformed(`${what} with version 0x${byte.toString(16).padStart(2, '0')}, expected 0x0${expected}${hint}`);
}

/**
 * One message through `parse`. A stream that ends before the message is complete: with none of
 * its bytes in, the client stopped between messages and has left (client_abort); with some,
 * the message is truncated (socks_malformed).
 */
function read<T>(reader: SocketReader, what: string, parse: (c: Cursor) => T): MaybePromise<T> {
  let result: MaybePromise<T>;
  try {
    result = reader.parse(parse);
  } catch (err) {
    throw ended(err, what);
  }
  return result instanceof Promise ? result.catch((err: unknown) => Promise.reject(ended(err, what))) : result;
}

function ended(err: unknown, what: string): unknown {
  if (!(err instanceof StreamEnded)) return err;
  if (err.buffered === 0) return new HopFailure('client_abort', `the client closed the connection before its ${what}`, { hop: 'parse' });
  return malformed(`truncated ${what}`);
}

/** VER NMETHODS METHODS… → the methods offered. */
export function readGreeting(reader: SocketReader): MaybePromise<number[]> {
  return read(reader, 'greeting', (c) => {
    const [version = 0, count = 0] = c.take(2);
    if (version !== SOCKS_VERSION) throw wrongVersion('greeting', version, SOCKS_VERSION);
    if (count === 0) throw malformed('greeting offering no methods');
    return [...c.take(count)];
  });
}

/** RFC 1929: VER ULEN UNAME PLEN PASSWD. Bytes that are not UTF-8 decode to U+FFFD (no such user). */
export function readUserPass(reader: SocketReader): MaybePromise<UserPass> {
  return read(reader, 'username/password', (c) => {
    const [version = 0, userLength = 0] = c.take(2);
    if (version !== AUTH_VERSION) throw wrongVersion('username/password message', version, AUTH_VERSION);
    if (userLength === 0) throw malformed('username/password message with an empty username');
    const username = c.take(userLength + 1);
    const passwordLength = username[userLength]!;
    const password = c.take(passwordLength);
    return { username: username.toString('utf8', 0, userLength), password: password.toString('utf8') };
  });
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT. RSV is not checked: clients are known to send junk there. */
export function readRequest(reader: SocketReader): MaybePromise<SocksRequest> {
  return read(reader, 'request', (c) => {
    const [version = 0, command = 0, , atyp = 0] = c.take(4);
    if (version !== SOCKS_VERSION) throw wrongVersion('request', version, SOCKS_VERSION);
    let host: string;
    if (atyp === ATYP_IPV4) host = formatIpv4(c.take(4));
    else if (atyp === ATYP_IPV6) host = formatIpv6(c.take(16));
    else if (atyp === ATYP_DOMAIN) {
      const [length = 0] = c.take(1);
      host = c.take(length).toString('utf8');
    } else {
      // The address length is unknown, so nothing after it can be read: answered as it stands.
      throw new HopFailure('socks_address_type_unsupported', `address type 0x${atyp.toString(16).padStart(2, '0')} (${commandName(command)})`);
    }
    const port = c.take(2).readUInt16BE(0);
    return { command, host, port };
  });
}

export function methodReply(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

export function userPassReply(ok: boolean): Buffer {
  return Buffer.from([AUTH_VERSION, ok ? 0x00 : 0x01]);
}

/** A full RFC 1928 reply; failures carry 0.0.0.0:0 (10 bytes), never a short form. */
export function reply(code: number, address?: string, port?: number): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, code, 0x00]), encodeAddress(address, port)]);
}
