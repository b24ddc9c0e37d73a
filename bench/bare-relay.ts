// A plain TCP relay (accept → connect to a fixed port → copy both ways, no handshake) whose copy
// loop is one of several variants, for bench/relay-knobs.ts: which of the knobs Node offers
// changes how many MB/s one core of Node can relay?
//   pipe       a.pipe(b), b.pipe(a): what bench/bare-connect.ts and bare-socks.ts do
//   pipeline   stream.pipeline both ways
//   manual     'data' → write, pause on a full write, resume on 'drain' (hopwatch's tunnel.ts)
//   hwm        pipe, with 1 MiB highWaterMark on both sockets (server and connect option)
//   nodelay    pipe, with Nagle off on both sockets
//   onread     upstream read with net's `onread` into 1 MiB buffers that are reused while the
//              client takes each write at once (a fresh one when a write is left queued), so
//              reads are 16× larger and allocate nothing; the client side stays on 'data',
//              since a server's sockets cannot take `onread`
// Usage: node bench/bare-relay.ts PORT TARGET_PORT VARIANT
import net from 'node:net';
import { pipeline } from 'node:stream';

export const VARIANTS = ['pipe', 'pipeline', 'manual', 'hwm', 'nodelay', 'onread'] as const;
export type Variant = (typeof VARIANTS)[number];

const BIG = 1 << 20;

function manual(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

function relay(variant: Variant, client: net.Socket, targetPort: number): void {
  // net.Socket hands its options to stream.Duplex, which takes highWaterMark; @types/node does
  // not list it for connect.
  const options: net.NetConnectOpts & { highWaterMark?: number } = { host: '127.0.0.1', port: targetPort };
  if (variant === 'hwm') options.highWaterMark = BIG;
  if (variant === 'nodelay') options.noDelay = true;
  if (variant === 'onread') {
    let buffer = Buffer.allocUnsafe(BIG);
    options.onread = {
      buffer: () => buffer,
      callback: (bytes: number) => {
        const full = !client.write(buffer.subarray(0, bytes));
        // A write libuv could not finish at once still points into `buffer`: read on into a
        // new one. Writes that went straight to the kernel leave it free to reuse.
        if (client.writableLength > 0) buffer = Buffer.allocUnsafe(BIG);
        return !full; // false pauses the upstream until the client drains
      },
    };
  }
  if (variant === 'nodelay') client.setNoDelay(true);
  const upstream = net.connect(options);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  switch (variant) {
    case 'pipeline':
      pipeline(client, upstream, () => {});
      pipeline(upstream, client, () => {});
      break;
    case 'manual':
      manual(client, upstream);
      manual(upstream, client);
      break;
    case 'onread':
      client.pipe(upstream);
      client.on('drain', () => upstream.resume());
      upstream.on('end', () => client.end());
      break;
    default:
      client.pipe(upstream).pipe(client);
  }
}

if (import.meta.main) {
  const [port, targetPort] = process.argv.slice(2, 4).map(Number);
  const variant = process.argv[4] as Variant;
  if (!port || !targetPort || !VARIANTS.includes(variant)) throw new Error(`usage: bare-relay.ts PORT TARGET_PORT ${VARIANTS.join('|')}`);
  const server = net.createServer(variant === 'hwm' ? { highWaterMark: BIG } : {}, (client) => relay(variant, client, targetPort));
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
