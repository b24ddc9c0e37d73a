// Shared by the security tests: an origin that records every byte it receives, a strict reader
// for raw HTTP/1.1 response heads, an RFC 8941 reader for Proxy-Status members, and a tap on the
// raw log stream. Strict on purpose: an injected header line, a second structured-field member
// or a log line broken in two must fail a test, not be smoothed over by a lenient parser.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { LogCapture, LogLine } from '../helpers/proxy.ts';

export interface OriginRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  /** Whether the whole message (body included) arrived. */
  complete: boolean;
  body: string;
  /** Resolves once the request ended, either way. */
  settled: Promise<void>;
}

export interface RecordingOrigin {
  port: number;
  /** http://127.0.0.1:PORT */
  origin: string;
  /** Every byte any connection delivered, in arrival order. */
  bytes(): Buffer;
  /** Requests the origin's parser saw, in order. */
  readonly requests: OriginRequest[];
  /** Connections accepted since the last reset. */
  connections(): number;
  reset(): void;
  close(): Promise<void>;
}

/** An HTTP origin that answers 200 `origin saw METHOD URL` once a request's body has arrived. */
export async function recordingOrigin(): Promise<RecordingOrigin> {
  let received: Buffer[] = [];
  let accepted = 0;
  const requests: OriginRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let done: () => void = () => {};
    const record: OriginRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: req.rawHeaders,
      complete: false,
      body: '',
      settled: new Promise<void>((resolve) => (done = resolve)),
    };
    requests.push(record);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      record.complete = true;
      record.body = Buffer.concat(chunks).toString('latin1');
      res.end(`origin saw ${record.method} ${record.url}`);
    });
    req.on('error', () => {});
    req.on('close', () => done());
  });
  server.on('connection', (socket: net.Socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A second 'data' listener: Node's HTTP server then reads through JS and so do we, byte-exact.
    socket.on('data', (c: Buffer) => received.push(c));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    bytes: () => Buffer.concat(received),
    requests,
    connections: () => accepted,
    reset() {
      received = [];
      accepted = 0;
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface RawHead {
  status: number;
  /** Field names in the order sent, as sent. */
  names: string[];
  /** By lower-case name; each field appears once (asserted). */
  headers: Record<string, string>;
  body: string;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Reads one HTTP/1.1 response from raw bytes: every head line must be a well-formed field line,
 * no field may repeat, and the body is exactly Content-Length bytes.
 */
export function readHead(raw: string): RawHead {
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end > 0, `expected an HTTP response, got ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3}) [ -~]*$/.exec(statusLine)?.[1];
  assert.ok(status, `bad status line ${JSON.stringify(statusLine)}`);
  const names: string[] = [];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    assert.ok(colon > 0 && TOKEN.test(name), `not a field line: ${JSON.stringify(line)}`);
    assert.ok(!/[\r\n\0]/.test(value), `control bytes in ${name}: ${JSON.stringify(value)}`);
    assert.equal(headers[name.toLowerCase()], undefined, `${name} sent twice`);
    names.push(name);
    headers[name.toLowerCase()] = value;
  }
  let body = raw.slice(end + 4);
  if (status.startsWith('1')) body = ''; // an interim response has no body: what follows is the next one
  else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    assert.ok(Buffer.byteLength(body, 'latin1') >= length, `body shorter than Content-Length ${length}`);
    body = Buffer.from(body, 'latin1').subarray(0, length).toString('utf8');
  }
  return { status: Number(status), names, headers, body };
}

/** Every response on one connection, in order (each framed by its Content-Length). */
export function readHeads(raw: string): RawHead[] {
  const heads: RawHead[] = [];
  let rest = raw;
  while (rest.length) {
    const head = readHead(rest);
    heads.push(head);
    const end = rest.indexOf('\r\n\r\n') + 4;
    const length = head.status < 200 ? 0 : Number(head.headers['content-length'] ?? rest.length);
    rest = Buffer.from(rest, 'latin1').subarray(Buffer.byteLength(rest.slice(0, end), 'latin1') + length).toString('latin1');
  }
  return heads;
}

/** The fields an answer hopwatch generated must carry: exactly these, nothing injected. */
export function assertFieldNames(head: RawHead, expected: readonly string[]): void {
  const sort = (list: readonly string[]) => list.map((n) => n.toLowerCase()).sort();
  assert.deepEqual(sort(head.names), sort(expected), `fields of the answer: ${head.names.join(', ')}`);
}

/** An answer written on the raw socket (CONNECT, parse errors). */
export const SOCKET_ANSWER_FIELDS = ['Proxy-Status', 'X-Request-Id', 'Content-Type', 'Content-Length', 'Cache-Control', 'Connection'];
/** An answer written through Node's response object (forward requests) adds Date. */
export const RESPONSE_ANSWER_FIELDS = [...SOCKET_ANSWER_FIELDS, 'Date'];

export interface SfMember {
  item: string;
  params: Map<string, string | number | boolean>;
}

const SF_TOKEN = /[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/y;
const SF_KEY = /[a-z*][a-z0-9_\-.*]*/y;
const SF_INTEGER = /-?[0-9]{1,15}(?![0-9.])/y;
const SF_STRING = /"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"/y;
const SF_BOOLEAN = /\?[01]/y;

/**
 * Parses `value` as an RFC 8941 List of exactly one member (a token with parameters), as
 * RFC 9209 Proxy-Status is when one proxy answered. Anything left over fails, a comma included:
 * that would be a second, injected member.
 */
export function parseSfMember(value: string): SfMember {
  let at = 0;
  const take = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = at;
    const m = re.exec(value);
    if (m) at = re.lastIndex;
    return m;
  };
  const item = take(SF_TOKEN);
  assert.ok(item, `Proxy-Status does not start with a token: ${JSON.stringify(value)}`);
  const params = new Map<string, string | number | boolean>();
  while (value[at] === ';') {
    at++;
    while (value[at] === ' ') at++;
    const key = take(SF_KEY);
    assert.ok(key, `bad parameter key at ${at} in ${JSON.stringify(value)}`);
    assert.ok(!params.has(key[0]), `parameter ${key[0]} twice in ${JSON.stringify(value)}`);
    if (value[at] !== '=') {
      params.set(key[0], true);
      continue;
    }
    at++;
    const string = take(SF_STRING);
    const integer = string ? null : take(SF_INTEGER);
    const boolean = string || integer ? null : take(SF_BOOLEAN);
    const token = string || integer || boolean ? null : take(SF_TOKEN);
    if (string) params.set(key[0], string[1]!.replace(/\\(["\\])/g, '$1'));
    else if (integer) params.set(key[0], Number(integer[0]));
    else if (boolean) params.set(key[0], boolean[0] === '?1');
    else if (token) params.set(key[0], token[0]);
    else assert.fail(`bad value for ${key[0]} at ${at} in ${JSON.stringify(value)}`);
  }
  assert.equal(at, value.length, `Proxy-Status is more than one member: ${JSON.stringify(value.slice(at))} left over in ${JSON.stringify(value)}`);
  return { item: item[0], params };
}

/** A plain-text error body: five lines, `Detail:` one of them, nothing else. */
export function assertTextBody(body: string, status: number, code: string): { detail: string; id: string } {
  const lines = body.split('\n');
  assert.equal(lines.pop(), '', 'the body ends with a newline');
  assert.equal(lines.length, 5, `expected five body lines, got ${JSON.stringify(body)}`);
  assert.match(lines[0]!, new RegExp(`^${status} [A-Za-z -]+: ${code} at hop [a-z]+$`));
  assert.match(lines[2]!, /^What to do: /);
  assert.match(lines[3]!, /^Detail: /);
  assert.match(lines[4]!, /^Request id: \S+$/);
  assert.ok(!body.includes('\r'), 'no CR in the body');
  return { detail: lines[3]!.slice('Detail: '.length), id: lines[4]!.slice('Request id: '.length) };
}

/**
 * Records every raw write reaching the capture, before it is split into lines: each must be one
 * line holding one JSON object. Returns the raw chunks and a checker for them.
 */
export function tapRawLog(logs: LogCapture): { chunks: string[]; assertAllOneJsonObject(from?: number): LogLine[] } {
  const chunks: string[] = [];
  const write = logs._write.bind(logs);
  logs._write = (chunk: Buffer, enc: BufferEncoding, done: () => void) => {
    chunks.push(chunk.toString('utf8'));
    write(chunk, enc, done);
  };
  return {
    chunks,
    assertAllOneJsonObject(from = 0) {
      return chunks.slice(from).map((chunk) => {
        assert.ok(chunk.endsWith('\n'), `a log write without its newline: ${JSON.stringify(chunk.slice(-80))}`);
        assert.equal(chunk.indexOf('\n'), chunk.length - 1, `one log write holds more than one line: ${JSON.stringify(chunk.slice(0, 200))}`);
        assert.ok(!/[\0-\x1f]/.test(chunk.slice(0, -1)), 'raw control bytes in a log line');
        const parsed: unknown = JSON.parse(chunk);
        assert.ok(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed), `not a JSON object: ${chunk.slice(0, 200)}`);
        return parsed as LogLine;
      });
    },
  };
}

/** Lets whatever hopwatch might still send upstream arrive before a test checks the origin. */
export const settle = (ms = 150) => new Promise((resolve) => setTimeout(resolve, ms));
