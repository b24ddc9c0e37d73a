// The doctor's own client pieces: reach a host, send one GET over a socket it already holds (so
// connect, TLS and time to first byte are each timed apart), and the CONNECT handshake. Errors
// come back classified by the same rules the proxy uses.
import http from 'node:http';
import type net from 'node:net';
import { HopFailure } from '../classify/failure.ts';
import { classify } from '../classify/rules.ts';
import { connectAny } from '../upstream/connect.ts';
import { Resolver } from '../upstream/resolve.ts';
import { VERSION } from '../version.ts';

/** Body bytes kept for reading a proxy's error answer; the rest is only counted. */
const KEEP_BYTES = 4_096;
/** A large download is not the point of a diagnosis: past this the body is cut. */
const MAX_BODY_BYTES = 1 << 20;

export const USER_AGENT = `hopwatch-doctor/${VERSION}`;

/** A proxy, admin or other host by name or literal: the system resolver, then every address. */
export async function dial(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const addresses = await new Resolver({ timeoutMs, servers: [] }).resolve(host);
  return connectAny(addresses, port, timeoutMs, []);
}

/** host[:port] as a Host header or CONNECT authority carries it (brackets for IPv6). */
export function authority(host: string, port: number, defaultPort?: number): string {
  const name = host.includes(':') ? `[${host}]` : host;
  return port === defaultPort ? name : `${name}:${port}`;
}

export interface HttpExchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  ttfbMs: number;
  totalMs: number;
  bytes: number;
  /** The first KEEP_BYTES of the body, as text. */
  body: string;
  /** The body broke off after the headers (response_incomplete), or ran past the size cap. */
  bodyFailure?: HopFailure;
  truncated: boolean;
}

export interface GetRequest {
  /** Origin-form path, or the absolute URL for a forward proxy. */
  path: string;
  host: string;
  headers?: Record<string, string>;
}

/** One GET over `socket`; rejects with a classified failure when no response headers come. */
export function httpGet(socket: net.Socket, request: GetRequest, timeoutMs: number): Promise<HttpExchange> {
  return new Promise<HttpExchange>((resolve, reject) => {
    let settled = false;
    const started = performance.now();
    const req = http.request({
      createConnection: () => socket,
      method: 'GET',
      path: request.path,
      headers: { Host: request.host, 'User-Agent': USER_AGENT, Accept: '*/*', Connection: 'close', ...request.headers },
    });
    const fail = (failure: HopFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(failure);
    };
    let timer = setTimeout(() => fail(new HopFailure('response_timeout', `no response headers within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => fail(classify('upstream', err)));
    req.on('response', (res) => {
      const ttfbMs = performance.now() - started;
      clearTimeout(timer);
      const kept: Buffer[] = [];
      let bytes = 0;
      let truncated = false;
      const done = (bodyFailure?: HopFailure) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const exchange: HttpExchange = {
          status: res.statusCode ?? 0, headers: res.headers, ttfbMs, totalMs: performance.now() - started,
          bytes, body: Buffer.concat(kept).toString('utf8'), truncated,
        };
        if (bodyFailure) exchange.bodyFailure = bodyFailure;
        resolve(exchange);
        req.destroy();
      };
      // The body gets its own deadline: an origin that stalls mid-body is reported as such.
      timer = setTimeout(() => done(new HopFailure('idle_timeout', `the body did not complete within ${timeoutMs} ms`)), timeoutMs);
      res.on('data', (chunk: Buffer) => {
        if (bytes < KEEP_BYTES) kept.push(chunk.subarray(0, KEEP_BYTES - bytes));
        bytes += chunk.length;
        if (bytes > MAX_BODY_BYTES) {
          truncated = true;
          done();
        }
      });
      res.on('end', () => done());
      res.on('error', (err) => done(classify('deliver', err)));
      res.on('aborted', () => done(new HopFailure('response_incomplete', 'the connection closed before the body was complete')));
    });
    req.end();
  });
}

export interface ConnectAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends CONNECT and reads the answer; on 200 the socket is the tunnel, with nothing consumed past the head. */
export function connectHandshake(socket: net.Socket, target: string, headers: Record<string, string>, timeoutMs: number): Promise<ConnectAnswer> {
  return new Promise<ConnectAnswer>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let answer: ConnectAnswer | undefined;
    let length = 0;
    const timer = setTimeout(() => finish(new HopFailure('response_timeout', `no CONNECT answer within ${timeoutMs} ms`)), timeoutMs);
    function finish(err?: Error) {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      if (err || !answer) reject(err ?? new HopFailure('upstream_closed', 'the proxy closed the connection before answering CONNECT'));
      else resolve(answer);
    }
    function onData(chunk: Buffer) {
      buffered = Buffer.concat([buffered, chunk]);
      if (!answer) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        try {
          answer = parseHead(buffered.subarray(0, end).toString('latin1'));
        } catch (err) {
          return finish(err as Error);
        }
        buffered = buffered.subarray(end + 4);
        length = Number(answer.headers['content-length'] ?? 0);
        if (answer.status === 200) {
          if (buffered.length) socket.unshift(buffered);
          return finish();
        }
      }
      answer.body = buffered.toString('utf8');
      if (buffered.length >= length) finish();
    }
    const onEnd = () => finish();
    const onError = (err: Error) => finish(answer ? undefined : classify('upstream', err));
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nUser-Agent: ${USER_AGENT}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  });
}

function parseHead(head: string): ConnectAnswer {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  if (!/^HTTP\/1\.[01] \d{3}/.test(statusLine)) throw new HopFailure('upstream_bad_response', `not an HTTP answer to CONNECT: ${statusLine.slice(0, 60)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: '' };
}

/** Details come from OpenSSL and Node messages, some with line breaks: one line for output. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Basic credentials for Proxy-Authorization, when the proxy URL had any. */
export function proxyAuthorization(username: string | undefined, password: string | undefined): Record<string, string> {
  if (username === undefined) return {};
  return { 'Proxy-Authorization': `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` };
}
