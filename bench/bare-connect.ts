// The baseline for CONNECT: the least a Node CONNECT relay can do (node:http server's 'connect'
// event → net.connect → 200 → pipe both ways). No policy, no logging, no metrics, no timeouts.
// Usage: node bench/bare-connect.ts PORT
import http from 'node:http';
import net from 'node:net';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: bare-connect.ts PORT');

const server = http.createServer((_req, res) => res.writeHead(405).end());
server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
  const colon = (req.url ?? '').lastIndexOf(':');
  const upstream = net.connect(Number(req.url?.slice(colon + 1)), req.url?.slice(0, colon) ?? '', () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    client.pipe(upstream).pipe(client);
  });
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
