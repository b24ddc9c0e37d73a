// Minimal real clients: an absolute-form request through the proxy, a raw CONNECT, raw bytes.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';

export interface ProxiedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Set when the connection broke before the body completed. */
  error?: NodeJS.ErrnoException;
}

export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  agent?: http.Agent | false;
}

/** Sends `url` (absolute) through the proxy at proxyPort and collects the whole response. */
export function viaProxy(proxyPort: number, url: string, options: RequestOptions = {}): Promise<ProxiedResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: proxyPort,
      method: options.method ?? 'GET',
      path: url,
      headers: options.headers,
      agent: options.agent ?? false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = (error?: NodeJS.ErrnoException) =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ...(error ? { error } : {}) });
      res.on('end', () => done());
      res.on('error', (err: NodeJS.ErrnoException) => done(err));
      res.on('aborted', () => done(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    });
    req.end(options.body);
  });
}

export interface ConnectResult {
  status: number;
  head: string;
  headers: Record<string, string>;
  body: string;
  socket: net.Socket;
}

/** Sends CONNECT authority and returns the status line, headers and (for failures) the body. */
export async function connectVia(proxyPort: number, authority: string, extraHeaders = ''): Promise<ConnectResult> {
  const socket = net.connect(proxyPort, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${extraHeaders}\r\n`);
  let buffered = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.subarray(0, end).toString('latin1');
      const status = Number(head.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      socket.off('data', onData);
      const rest = buffered.subarray(end + 4);
      if (status === 200) {
        if (rest.length) socket.unshift(rest);
        return resolve({ status, head, headers, body: '', socket });
      }
      const length = Number(headers['content-length'] ?? 0);
      let body = rest;
      const finish = () => resolve({ status, head, headers, body: body.toString('utf8'), socket });
      if (body.length >= length) return finish();
      socket.on('data', (c: Buffer) => {
        body = Buffer.concat([body, c]);
        if (body.length >= length) finish();
      });
      socket.once('end', finish);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('end', () => reject(new Error(`connection closed before a CONNECT answer: ${buffered.toString('latin1')}`)));
  });
}

/** Writes raw bytes to the proxy and collects everything until it closes. */
export async function rawExchange(proxyPort: number, bytes: string | Buffer, options: { endAfterWrite?: boolean } = {}): Promise<string> {
  const socket = net.connect(proxyPort, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(bytes);
  if (options.endAfterWrite) socket.end();
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
  });
  return Buffer.concat(chunks).toString('latin1');
}
