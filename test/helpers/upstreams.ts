// Upstreams that misbehave on purpose, each started by a test on an ephemeral loopback port.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';

export interface Upstream {
  port: number;
  /** http://127.0.0.1:PORT */
  origin: string;
  /** Connections accepted so far, and whether each is still open. */
  sockets: net.Socket[];
  close(): Promise<void>;
}

async function listenTcp(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

function wrap(server: net.Server, port: number, sockets: net.Socket[]): Upstream {
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A well-behaved HTTP origin running `handler`. */
export async function httpOrigin(handler: http.RequestListener): Promise<Upstream> {
  const sockets: net.Socket[] = [];
  const server = http.createServer(handler);
  server.on('connection', (s: net.Socket) => sockets.push(s));
  const port = await listenTcp(server);
  return wrap(server, port, sockets);
}

export interface HeldOrigin extends Upstream {
  /** Resolves when the first request has arrived. */
  arrived: Promise<void>;
  /** Answers every request held so far with `body`. */
  release(): void;
}

/** An HTTP origin that holds each request until release(): an exchange kept in flight. */
export async function heldOrigin(body = 'finished during the drain'): Promise<HeldOrigin> {
  let arrive!: () => void;
  const arrived = new Promise<void>((resolve) => (arrive = resolve));
  const held: http.ServerResponse[] = [];
  const origin = await httpOrigin((_req, res) => {
    held.push(res);
    arrive();
  });
  return { ...origin, arrived, release: () => { for (const res of held.splice(0)) res.end(body); } };
}

/** A raw TCP server: `onSocket` decides what each connection gets. */
export async function tcpServer(onSocket: (socket: net.Socket) => void): Promise<Upstream> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  const port = await listenTcp(server);
  return wrap(server, port, sockets);
}

/** Accepts, reads (so it notices the peer closing) and never says anything. */
export const silentServer = () => tcpServer((s) => s.resume());

/** Waits for a request head, then writes `bytes` (and optionally closes or resets). */
export function afterRequestHead(reply: (socket: net.Socket) => void): Promise<Upstream> {
  return tcpServer((socket) => {
    let seen = '';
    const onData = (c: Buffer) => {
      seen += c.toString('latin1');
      if (seen.includes('\r\n\r\n')) {
        socket.off('data', onData);
        reply(socket);
      }
    };
    socket.on('data', onData);
  });
}

/** A port nothing listens on (bound once, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listenTcp(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A port where TCP connects hang: a listener whose accept queue is full (backlog 0, one
 * connection parked in it, never accepted), so the kernel drops further SYNs. Node always
 * accepts, so this is a small python3 process.
 */
export async function blackholePort(host = '127.0.0.1', port = 0): Promise<{ port: number; close(): void }> {
  const child = spawn('python3', ['-c', [
    'import socket, sys, time',
    `s = socket.socket(); s.bind((${JSON.stringify(host)}, ${port})); s.listen(0)`,
    'c = socket.socket(); c.connect(s.getsockname())',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { port: Number(line.toString().trim()), close: () => child.kill() };
}
