// The origin for the tunnel benchmarks (CONNECT and SOCKS5), one process with three listeners:
//   ECHO    sends back whatever arrives, and ends when the client ends: one small exchange per
//           session (bench/sessions.ts);
//   BULK    reads one line, "get N" or "put N": for get it streams N bytes as fast as the socket
//           takes them and ends; for put it swallows N bytes and answers "ok\n" (bench/bulk.ts);
//   SILENT  accepts and never writes: the far end of idle tunnels (bench/idle.ts).
// Usage: node bench/tcp-origin.ts ECHO_PORT BULK_PORT SILENT_PORT
import net from 'node:net';

/** Written over and over for get: one large buffer, so the source costs a syscall per MiB. */
const CHUNK = Buffer.alloc(1 << 20, 'x');

function serveBulk(socket: net.Socket): void {
  socket.setNoDelay(true);
  let line = '';
  const onData = (chunk: Buffer) => {
    line += chunk.toString('latin1');
    const nl = line.indexOf('\n');
    if (nl < 0) return;
    socket.off('data', onData);
    const [verb, count] = line.slice(0, nl).split(' ');
    const total = Number(count);
    const rest = Buffer.from(line.slice(nl + 1), 'latin1');
    if (verb === 'get') streamOut(socket, total);
    else if (verb === 'put') swallow(socket, total, rest.length);
    else socket.destroy();
  };
  socket.on('data', onData);
}

function streamOut(socket: net.Socket, total: number): void {
  let left = total;
  const fill = () => {
    while (left > 0) {
      const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= piece.length;
      if (!socket.write(piece)) {
        socket.once('drain', fill);
        return;
      }
    }
    socket.end();
  };
  fill();
}

/**
 * A read is only counted, so its memory is returned at once (detached) instead of left to the
 * garbage collector: 64 KiB ArrayBuffers per read count as external memory, and the full
 * collections V8 runs against that pressure made this origin, not what sits between it and the
 * client, the limit of every upload (direct uploads 1,100-1,300 MB/s here, 1,650-1,870 freed).
 * Each read is its own ArrayBuffer (Node allocates one per read); anything else is left alone.
 */
function release(chunk: Buffer): void {
  const buffer = chunk.buffer;
  if (chunk.byteOffset === 0 && chunk.byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) buffer.transfer(0);
}

function swallow(socket: net.Socket, total: number, already: number): void {
  let got = already;
  const done = () => void socket.end('ok\n');
  if (got >= total) {
    done();
    return;
  }
  socket.on('data', (chunk: Buffer) => {
    got += chunk.length;
    release(chunk);
    if (got >= total) {
      socket.removeAllListeners('data');
      done();
    }
  });
}

if (import.meta.main) {
  const [echoPort, bulkPort, silentPort] = process.argv.slice(2).map(Number);
  if (!echoPort || !bulkPort || !silentPort) throw new Error('usage: tcp-origin.ts ECHO_PORT BULK_PORT SILENT_PORT');
  // Clients that reset (the benches close sessions as fast as they can) are no error here.
  const quiet = (socket: net.Socket) => socket.on('error', () => {});
  net.createServer((s) => quiet(s).pipe(s)).listen({ port: echoPort, host: '127.0.0.1', backlog: 4096 });
  net.createServer((s) => serveBulk(quiet(s))).listen({ port: bulkPort, host: '127.0.0.1' });
  net.createServer((s) => void quiet(s)).listen({ port: silentPort, host: '127.0.0.1', backlog: 4096 });
  process.on('SIGTERM', () => process.exit(0));
}
