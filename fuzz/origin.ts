// The origin fuzzed requests reach when they survive mutation: it reads whatever body comes
// and answers briefly (or with 64 KB on /big, so responses stream and clients can leave
// mid-body). Malformed requests the proxy forwards are simply answered 400 by Node here.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Origin {
  port: number;
  requests: number;
  close(): Promise<void>;
}

const BIG = Buffer.alloc(64 * 1024, 0x61);

export async function startOrigin(): Promise<Origin> {
  const sockets = new Set<Socket>();
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    req.resume();
    req.on('error', () => {});
    res.on('error', () => {});
    req.on('end', () => {
      const body = req.url === '/big' ? BIG : Buffer.from(`ok ${req.method} ${req.url ?? ''}\n`);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
