// Everything the soak traffic talks to: an origin that succeeds (and streams, and answers 503),
// an echo server for tunnels, and one fixture per fault class (a closed port, a silent server,
// one that resets, one that answers garbage, names a fake DNS fails). Unlike the test helpers
// these keep no list of past sockets: over a long run that list would be the leak.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { startDnsServer, type FakeDns } from '../test/helpers/dns-server.ts';

export const NAMES = { origin: 'origin.soak.test', nxdomain: 'missing.soak.test', servfail: 'broken.soak.test' } as const;

export interface Fixtures {
  origin: number;
  echo: number;
  closed: number;
  silent: number;
  reset: number;
  garbage: number;
  dns: FakeDns;
  close(): Promise<void>;
}

const STREAM_CHUNK = Buffer.alloc(16 * 1024, 0x62);
const STREAM_CHUNKS = 64; // 1 MiB
const SLOW_CHUNK = Buffer.alloc(1024, 0x73);
const SLOW_CHUNKS = 50; // a second's worth at one every 20 ms

function track(server: net.Server): Set<net.Socket> {
  const open = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    open.add(s);
    s.on('error', () => {});
    s.once('close', () => open.delete(s));
  });
  return open;
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

function originServer(): http.Server {
  return http.createServer((req, res) => {
    res.on('error', () => {});
    req.resume();
    req.on('end', () => {
      if (req.url === '/status/503') {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('busy\n');
      } else if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': STREAM_CHUNK.length * STREAM_CHUNKS });
        let sent = 0;
        const pump = () => {
          while (sent < STREAM_CHUNKS && !res.destroyed) {
            sent++;
            if (sent === STREAM_CHUNKS) return void res.end(STREAM_CHUNK);
            if (!res.write(STREAM_CHUNK)) return void res.once('drain', pump);
          }
        };
        pump();
      } else if (req.url === '/slow') {
        // Paced, so a client that leaves after the first bytes certainly leaves mid-response:
        // a fast 1 MiB body can sit whole in socket buffers before the client has read any.
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': SLOW_CHUNKS * 1024 });
        let sent = 0;
        const timer = setInterval(() => {
          if (res.destroyed || ++sent > SLOW_CHUNKS) return void clearInterval(timer);
          res.write(SLOW_CHUNK);
          if (sent === SLOW_CHUNKS) res.end();
        }, 20);
        res.once('close', () => clearInterval(timer));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${req.url ?? ''}\n`);
      }
    });
  });
}

/** Reads up to the end of a request head, then does `then` with the socket. */
function afterHead(then: (s: net.Socket) => void): net.Server {
  return net.createServer((s) => {
    let seen = '';
    const onData = (c: Buffer) => {
      seen += c.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      s.off('data', onData);
      then(s);
    };
    s.on('data', onData);
  });
}

export async function startFixtures(): Promise<Fixtures> {
  const servers = {
    origin: originServer(),
    echo: net.createServer((s) => s.pipe(s)),
    silent: net.createServer((s) => s.resume()),
    reset: afterHead((s) => s.resetAndDestroy()),
    garbage: afterHead((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n\r\n')),
  };
  const sockets = Object.values(servers).map(track);
  const [origin, echo, silent, reset, garbage] = await Promise.all(Object.values(servers).map(listen)) as [number, number, number, number, number];
  const spare = net.createServer();
  const closed = await listen(spare);
  await new Promise<void>((resolve) => spare.close(() => resolve()));
  const dns = await startDnsServer({ [NAMES.origin]: { a: ['127.0.0.1'] }, [NAMES.servfail]: 'servfail' });
  return {
    origin, echo, closed, silent, reset, garbage, dns,
    async close() {
      for (const open of sockets) for (const s of open) s.destroy();
      await Promise.all(Object.values(servers).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      await dns.close();
    },
  };
}
