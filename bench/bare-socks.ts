// The baseline for bench/socks.ts: the least a Node SOCKS5 relay can do (no auth, CONNECT to IPv4,
// one message per read, success after the upstream connects, then pipes). Not a usable server.
// Usage: node bench/bare-socks.ts PORT
import net from 'node:net';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: bare-socks.ts PORT');

net.createServer((client) => {
  client.on('error', () => {});
  client.once('data', () => {
    client.write(Buffer.from([0x05, 0x00]));
    client.once('data', (request: Buffer) => {
      const upstream = net.connect(request.readUInt16BE(8), `${request[4]}.${request[5]}.${request[6]}.${request[7]}`, () => {
        const reply = Buffer.from([0x05, 0x00, 0x00, 0x01, ...(upstream.localAddress ?? '0.0.0.0').split('.').map(Number), 0, 0]);
        reply.writeUInt16BE(upstream.localPort ?? 0, 8);
        client.write(reply);
        client.pipe(upstream).pipe(client);
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
  });
}).listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
