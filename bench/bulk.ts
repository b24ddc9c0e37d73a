// Bulk throughput through one tunnel: opens a tunnel to bench/tcp-origin.ts's BULK listener and
// either downloads (get: the origin streams N bytes) or uploads (put: this side streams N bytes,
// the origin answers "ok" once it has them all), `repeats` times, each on a new tunnel. Writes
// are 1 MiB and downloads read into a reused 1 MiB buffer (tunnel-client's Sink), so the relay in
// between, not this client, is what limits the rate. Uploads are read by the origin with plain
// 'data' events (a server socket cannot take `onread`), each read freed once counted (see
// tcp-origin.ts), which still caps direct uploads below direct downloads.
//
// Usage: node bench/bulk.ts --via direct|connect|socks --proxy-port P --target-port T
//        --direction get|put [--bytes 268435456] [--repeats 3]
// Prints "window start" / "window end" around the transfers (handshakes included, which are
// nothing next to the bytes), then one JSON BulkResult line.
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { exactly, openTunnel, parseVia, readMessage, type Sink, type Via } from './tunnel-client.ts';

export type Direction = 'get' | 'put';

export interface BulkResult {
  via: Via;
  direction: Direction;
  bytes: number;
  /** MB/s (10^6 bytes per second) of each transfer, in order. */
  transfersMBps: number[];
  /** The median transfer's MB/s. */
  mbps: number;
  /** The generator's own CPU over the window, % of one core. */
  cpuPercent: number;
}

const CHUNK = Buffer.alloc(1 << 20, 'u');

function download(socket: net.Socket, sink: Sink, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    sink.onBytes = (n) => {
      got += n;
      if (got >= bytes) resolve();
    };
    socket.once('close', () => (got >= bytes ? resolve() : reject(new Error(`closed after ${got} of ${bytes} bytes`))));
    socket.write(`get ${bytes}\n`);
    socket.resume();
  });
}

async function upload(socket: net.Socket, bytes: number): Promise<void> {
  socket.write(`put ${bytes}\n`);
  const ok = readMessage(socket, exactly(3));
  let left = bytes;
  while (left > 0) {
    const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
    left -= piece.length;
    if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await ok;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      via: { type: 'string' },
      'proxy-port': { type: 'string', default: '0' },
      'target-port': { type: 'string' },
      direction: { type: 'string', default: 'get' },
      bytes: { type: 'string', default: String(256 * 1024 * 1024) },
      repeats: { type: 'string', default: '3' },
    },
  });
  const via = parseVia(values.via);
  const direction = values.direction;
  if (direction !== 'get' && direction !== 'put') throw new Error('--direction is get or put');
  const bytes = Number(values.bytes);
  const transfersMBps: number[] = [];
  const cpuAtStart = process.cpuUsage();
  process.stdout.write('window start\n');
  for (let i = 0; i < Number(values.repeats); i++) {
    const sink: Sink = {};
    const socket = await openTunnel(via, Number(values['proxy-port']), Number(values['target-port']), sink);
    const began = performance.now();
    await (direction === 'get' ? download(socket, sink, bytes) : upload(socket, bytes));
    transfersMBps.push(bytes / 1e6 / ((performance.now() - began) / 1000));
    socket.destroy();
  }
  const cpu = process.cpuUsage(cpuAtStart);
  process.stdout.write('window end\n');
  const seconds = transfersMBps.reduce((sum, rate) => sum + bytes / 1e6 / rate, 0);
  const sorted = [...transfersMBps].sort((a, b) => a - b);
  const result: BulkResult = {
    via,
    direction,
    bytes,
    transfersMBps,
    mbps: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
