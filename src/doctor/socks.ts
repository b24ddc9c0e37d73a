// Layer 5 for SOCKS: an RFC 1928 session written byte by byte (RFC 1929 username/password when
// the URL has credentials), so the reply code is seen as sent, then the same GET over it.
import net from 'node:net';
import { CATALOGUE, CODES, type Code } from '../classify/catalogue.ts';
import { HopFailure } from '../classify/failure.ts';
import { classify } from '../classify/rules.ts';
import { ATYP_DOMAIN, encodeAddress } from '../front/socks5/address.ts';
import { SocketReader, StreamEnded } from '../front/socks5/reader.ts';
import { startTls } from '../upstream/tls.ts';
import { withDeadline } from '../upstream/resolve.ts';
import type { ProxyEndpoint } from './args.ts';
import { failLayer, getInto, originRequest } from './http.ts';
import type { SocksLayer, Target } from './types.ts';
import { authority, dial } from './wire.ts';

/** RFC 1928 §6 reply field meanings. */
export const SOCKS_REPLIES: Readonly<Record<number, string>> = {
  0x00: 'succeeded', 0x01: 'general SOCKS server failure', 0x02: 'connection not allowed by ruleset',
  0x03: 'network unreachable', 0x04: 'host unreachable', 0x05: 'connection refused', 0x06: 'TTL expired',
  0x07: 'command not supported', 0x08: 'address type not supported',
};

export async function socksLayer(target: Target, proxy: ProxyEndpoint, timeoutMs: number, address: string | undefined, ca?: string): Promise<SocksLayer> {
  const layer: SocksLayer = { layer: 'socks', status: 'ok', ms: 0, proxy: proxy.display, stage: 'proxy_connect', notes: [] };
  const host = proxy.remoteDns || net.isIP(target.host) ? target.host : address;
  if (host === undefined) {
    layer.status = 'skipped';
    layer.notes.push('socks5:// sends an address, and the name did not resolve here (socks5h:// lets the proxy resolve it)');
    return layer;
  }
  const started = performance.now();
  let socket: net.Socket | undefined;
  try {
    socket = await dial(proxy.host, proxy.port, timeoutMs);
  } catch (err) {
    const failure = classify('connect', err);
    failLayer(layer, { code: failure.code, detail: `cannot reach the SOCKS proxy at ${authority(proxy.host, proxy.port)}: ${failure.detail}` });
  }
  if (socket) {
    layer.stage = 'proxy_handshake';
    try {
      await handshake(socket, layer, proxy, host, target.port, timeoutMs);
      await request(socket, layer, target, timeoutMs, ca);
    } catch (err) {
      socket.destroy();
      if (layer.status !== 'failed') failLayer(layer, classify(hopOf(layer), err));
    }
  }
  layer.ms = performance.now() - started;
  return layer;
}

async function handshake(socket: net.Socket, layer: SocksLayer, proxy: ProxyEndpoint, host: string, port: number, timeoutMs: number): Promise<void> {
  const reader = new SocketReader(socket, 1024);
  const read = (n: number, what: string) => readWithin(reader, n, what, timeoutMs);
  const hasCredentials = proxy.username !== undefined;
  // With credentials both methods are offered, as curl does: the server's choice is itself telling.
  socket.write(Buffer.from(hasCredentials ? [0x05, 0x02, 0x00, 0x02] : [0x05, 0x01, 0x00]));
  const [version = 0, method = 0] = await read(2, 'method selection');
  if (version !== 0x05) throw new HopFailure('upstream_bad_response', `not a SOCKS5 server (version byte 0x${version.toString(16)})`);
  layer.method = method;
  if (method === 0xff) throw refuse(layer, 'auth_missing', 'the SOCKS server accepts none of the offered methods (it wants credentials)');
  if (method === 0x02) {
    if (!hasCredentials) throw refuse(layer, 'auth_missing', 'the SOCKS server asked for username/password and the URL has none');
    const user = Buffer.from(proxy.username ?? '');
    const pass = Buffer.from(proxy.password ?? '');
    socket.write(Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]));
    const [, status = 1] = await read(2, 'username/password status');
    if (status !== 0x00) throw refuse(layer, 'auth_invalid', `the SOCKS server refused the credentials (RFC 1929 status 0x${status.toString(16).padStart(2, '0')})`);
  }
  const name = Buffer.from(host);
  const address = net.isIP(host)
    ? encodeAddress(host, port)
    : Buffer.concat([Buffer.from([ATYP_DOMAIN, name.length]), name, Buffer.from([port >> 8, port & 0xff])]);
  socket.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), address]));
  const [, reply = 0x01, , atyp = 0x01] = await read(4, 'reply');
  const length = atyp === 0x04 ? 16 : atyp === ATYP_DOMAIN ? (await read(1, 'reply'))[0]! : 4;
  await read(length + 2, 'reply');
  layer.reply = reply;
  layer.replyMeaning = SOCKS_REPLIES[reply] ?? 'unassigned';
  const rest = reader.detach();
  if (rest.length) socket.unshift(rest);
  if (reply !== 0x00) {
    // Several codes share a reply (0x04: every DNS failure and host_unreachable): named only when one.
    const candidates = CODES.filter((c) => c !== 'ok' && CATALOGUE[c].socks === reply);
    const detail = `SOCKS5 reply 0x${reply.toString(16).padStart(2, '0')}: ${layer.replyMeaning}`;
    if (candidates.length === 1) throw refuse(layer, candidates[0]!, detail);
    layer.status = 'failed';
    layer.detail = detail;
    if (candidates.length) layer.candidates = candidates;
    throw new Error(detail);
  }
}

async function request(socket: net.Socket, layer: SocksLayer, target: Target, timeoutMs: number, ca: string | undefined): Promise<void> {
  let stream = socket;
  if (target.scheme === 'https') {
    layer.stage = 'tls';
    stream = await startTls(socket, { servername: target.host, timeoutMs, ca });
  }
  layer.stage = 'request';
  await getInto(layer, stream, originRequest(target), timeoutMs);
}

/** The hop an error belongs to at the stage the session reached (set by the steps above). */
function hopOf(layer: SocksLayer): 'tls' | 'upstream' {
  return layer.stage === 'tls' ? 'tls' : 'upstream';
}

function refuse(layer: SocksLayer, code: Code, detail: string): Error {
  failLayer(layer, { code, detail });
  return new Error(detail);
}

function readWithin(reader: SocketReader, n: number, what: string, timeoutMs: number): Promise<Buffer> {
  const read = reader.read(n).catch((err: unknown) => {
    throw err instanceof StreamEnded ? new HopFailure('upstream_closed', `the SOCKS server closed the connection before its ${what}`) : err;
  });
  return withDeadline(read, performance.now() + timeoutMs, undefined, () => new HopFailure('response_timeout', `no SOCKS5 ${what} within ${timeoutMs} ms`));
}
