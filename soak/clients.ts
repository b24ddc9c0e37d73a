// The soak's clients, each reducing what it saw to a short outcome string ("200", "502
// connection_refused", "tunnel echoed", "socks 0x05") that a scenario compares with what it
// meant to cause. Every client gives up after a bound, so a hang is an outcome, not a stall.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';

const GIVE_UP_MS = 10_000;

/** "502 connection_refused": the status and, when hopwatch made the answer, its error type. */
function describe(res: http.IncomingMessage): string {
  const error = /error=([a-z_]+)/.exec(String(res.headers['proxy-status'] ?? ''));
  return error ? `${res.statusCode} ${error[1]}` : String(res.statusCode);
}

export interface HttpOptions {
  agent: http.Agent | false;
  headers?: http.OutgoingHttpHeaders;
  /** Leave after the first body bytes (a client abort mid-response). */
  abort?: boolean;
}

export function httpVia(proxyPort: number, url: string, options: HttpOptions): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request({
      host: '127.0.0.1', port: proxyPort, path: url, agent: options.agent,
      headers: { host: new URL(url).host, ...options.headers },
    });
    req.setTimeout(GIVE_UP_MS, () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    req.on('response', (res) => {
      const outcome = describe(res);
      res.on('error', () => {});
      if (options.abort) {
        res.once('data', () => {
          req.destroy();
          resolve(`${outcome} aborted`);
        });
        res.once('end', () => resolve(`${outcome} complete before the abort`));
        return;
      }
      res.resume();
      res.on('end', () => resolve(outcome));
      res.on('aborted', () => resolve(`${outcome} cut`));
    });
    req.end();
  });
}

/** Reads from `socket` until `n` bytes came, it closed, or the bound passed; resolves with the count. */
function readBytes(socket: net.Socket, n: number): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(got);
    };
    const onData = (c: Buffer) => {
      got += c.length;
      if (got >= n) done();
    };
    const timer = setTimeout(done, GIVE_UP_MS);
    socket.on('data', onData);
    socket.once('close', done);
  });
}

async function open(port: number): Promise<net.Socket | string> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  const [event] = await Promise.race([once(socket, 'connect').then(() => ['connect']), once(socket, 'close').then(() => ['close'])]);
  return event === 'connect' ? socket : 'error connect';
}

async function closeSocket(socket: net.Socket, how: 'end' | 'reset'): Promise<void> {
  if (socket.destroyed) return;
  const closed = once(socket, 'close');
  if (how === 'reset') socket.resetAndDestroy();
  else socket.end();
  const timer = setTimeout(() => socket.destroy(), GIVE_UP_MS);
  await closed;
  clearTimeout(timer);
}

/**
 * CONNECT, then `payload` bytes through the tunnel to the echo server and back. `abort`: reset
 * the connection half-way instead of reading everything.
 */
export async function connectTunnel(proxyPort: number, authority: string, payload: Buffer, headers: string, abort = false): Promise<string> {
  const socket = await open(proxyPort);
  if (typeof socket === 'string') return socket;
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${headers}\r\n`);
  const head = await new Promise<string>((resolve) => {
    let seen = '';
    const onData = (c: Buffer) => {
      seen += c.toString('latin1');
      const end = seen.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const rest = Buffer.from(seen.slice(end + 4), 'latin1');
      if (rest.length) socket.unshift(rest);
      resolve(seen.slice(0, end));
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(seen));
  });
  const status = head.split(' ')[1] ?? 'none';
  if (status !== '200') {
    const error = /proxy-status:[^\r\n]*error=([a-z_]+)/i.exec(head);
    await closeSocket(socket, 'end');
    return `${status}${error ? ` ${error[1]}` : ''}`;
  }
  socket.write(payload);
  const got = await readBytes(socket, abort ? payload.length / 2 : payload.length);
  await closeSocket(socket, abort ? 'reset' : 'end');
  return abort ? 'tunnel reset' : got === payload.length ? 'tunnel echoed' : `tunnel short ${got}/${payload.length}`;
}

export interface SocksTarget {
  host: string;
  port: number;
}

/** A SOCKS5 session (username/password), then `payload` through it to the echo server and back. */
export async function socksSession(socksPort: number, target: SocksTarget, who: { username: string; password: string }, payload: Buffer): Promise<string> {
  const socket = await open(socksPort);
  if (typeof socket === 'string') return socket;
  const user = Buffer.from(who.username);
  const pass = Buffer.from(who.password);
  const name = Buffer.from(target.host);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(target.port);
  const address = net.isIPv4(target.host)
    ? Buffer.from([0x01, ...target.host.split('.').map(Number)])
    : Buffer.concat([Buffer.from([0x03, name.length]), name]);
  // Pipelined: greeting, credentials and request in one write, as fast clients do.
  socket.write(Buffer.concat([
    Buffer.from([0x05, 0x01, 0x02]), Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass,
    Buffer.from([0x05, 0x01, 0x00]), address, port,
  ]));
  const replies = await new Promise<Buffer>((resolve) => {
    let seen = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      seen = Buffer.concat([seen, c]);
      if (seen.length < 14) return;
      socket.off('data', onData);
      if (seen.length > 14) socket.unshift(seen.subarray(14));
      resolve(seen.subarray(0, 14));
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(seen));
  });
  if (replies.length < 14 || replies[3] !== 0x00) {
    await closeSocket(socket, 'end');
    return `socks short ${replies.toString('hex')}`;
  }
  const code = replies[5]!;
  if (code !== 0x00) {
    await closeSocket(socket, 'end');
    return `socks 0x${code.toString(16).padStart(2, '0')}`;
  }
  socket.write(payload);
  const got = await readBytes(socket, payload.length);
  await closeSocket(socket, 'end');
  return got === payload.length ? 'socks echoed' : `socks short ${got}/${payload.length}`;
}
