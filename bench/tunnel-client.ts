// Client side of the tunnel benchmarks: opens a byte stream to a target port directly, through
// an HTTP CONNECT proxy, or through a SOCKS5 proxy (no auth, IPv4 target), and hands back the
// socket once the proxy has said yes. Shared by bench/sessions.ts, bulk.ts and idle.ts so the
// three measure the same handshakes.
import net from 'node:net';

export type Via = 'direct' | 'connect' | 'socks';

export function parseVia(value: string | undefined): Via {
  if (value === 'direct' || value === 'connect' || value === 'socks') return value;
  throw new Error('--via is direct, connect or socks');
}

/**
 * Reads until `complete(bytes so far)` returns the length of a whole message (0: not yet),
 * and returns that message. The socket is left paused with any extra bytes put back, so the
 * caller's next reader (which must resume it) loses nothing.
 */
export function readMessage(socket: net.Socket, complete: (buffered: Buffer) => number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      const length = complete(buffered);
      if (!length) return;
      cleanup();
      if (length < buffered.length) socket.unshift(buffered.subarray(length));
      resolve(buffered.subarray(0, length));
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`closed after ${buffered.length} bytes of a message: ${JSON.stringify(buffered.toString('latin1').slice(0, 80))}`));
    };
    const cleanup = () => {
      socket.pause();
      socket.off('data', onData).off('close', onClose);
    };
    socket.on('data', onData).once('close', onClose);
    socket.resume();
  });
}

export const exactly = (n: number) => (buffered: Buffer) => (buffered.length >= n ? n : 0);

const HEAD_END = Buffer.from('\r\n\r\n');

/** A SOCKS5 reply's length, from its address type (RFC 1928 §6). */
function socksReplyLength(reply: Buffer): number {
  if (reply.length < 5) return 0;
  const atyp = reply[3];
  const length = atyp === 0x01 ? 10 : atyp === 0x04 ? 22 : atyp === 0x03 ? 7 + reply[4]! : -1;
  if (length < 0) throw new Error(`SOCKS5 reply with address type ${atyp}`);
  return reply.length >= length ? length : 0;
}

/**
 * Bulk reads for bench/bulk.ts: with a Sink the socket reads into one reused 1 MiB buffer
 * (net's `onread`) instead of allocating a 64 KiB Buffer per read, which doubles what a Node
 * client can take in (about 1.5 → 3 GB/s here), so the client is not what limits a transfer.
 * Until `onBytes` is set, each read is copied and emitted as 'data', for the handshake.
 */
export interface Sink {
  onBytes?: (bytes: number) => void;
}

function connected(port: number, sink?: Sink): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const onread: net.OnReadOpts | undefined = sink && {
      buffer: Buffer.allocUnsafe(1 << 20),
      callback: (bytes: number, buffer: Uint8Array) => {
        if (sink.onBytes) sink.onBytes(bytes);
        else socket.emit('data', Buffer.from(buffer.subarray(0, bytes)));
        return true; // keep reading
      },
    };
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true, ...(onread ? { onread } : {}) });
    // Later failures surface as 'close' to whoever reads; an unheard 'error' would throw.
    socket.on('error', () => {});
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** A socket whose next byte comes from the target (on 127.0.0.1:targetPort). */
export async function openTunnel(via: Via, proxyPort: number, targetPort: number, sink?: Sink): Promise<net.Socket> {
  if (via === 'direct') return connected(targetPort, sink);
  const socket = await connected(proxyPort, sink);
  try {
    if (via === 'connect') {
      socket.write(`CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nHost: 127.0.0.1:${targetPort}\r\n\r\n`);
      const head = await readMessage(socket, (b) => {
        const end = b.indexOf(HEAD_END);
        return end < 0 ? 0 : end + 4;
      });
      const status = head.toString('latin1', 9, 12);
      if (status !== '200') throw new Error(`CONNECT answered ${head.toString('latin1').split('\r\n', 1)[0]}`);
    } else {
      socket.write(Buffer.from([0x05, 0x01, 0x00]));
      const choice = await readMessage(socket, exactly(2));
      if (choice[1] !== 0x00) throw new Error(`SOCKS5 method ${choice[1]}`);
      const request = Buffer.from([0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 0]);
      request.writeUInt16BE(targetPort, 8);
      socket.write(request);
      const reply = await readMessage(socket, socksReplyLength);
      if (reply[1] !== 0x00) throw new Error(`SOCKS5 reply ${reply[1]}`);
    }
    return socket;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** Resolves when the socket has closed (at once if it already has). */
export function closed(socket: net.Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}
