// Raw bytes on the proxy port: whatever a client sends (TLS to the plain port, binary noise,
// oversized or stalled headers, truncated requests), it gets a classified 4xx and one valid
// log line, and the proxy goes on serving. Also the connection limit: 503 with Retry-After.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { connectVia, rawExchange, viaProxy } from '../helpers/client.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { httpOrigin, tcpServer, type Upstream } from '../helpers/upstreams.ts';

const HEADERS_MS = 300;
const MAX_HEADER_BYTES = 2048;
/** Per test: a broken behaviour fails within seconds instead of hanging the file. */
const T = { timeout: 8_000 };

let proxy: TestProxy;
let origin: Upstream;
before(async () => {
  proxy = await startProxy({ timeouts: { requestHeadersMs: HEADERS_MS }, limits: { maxHeaderBytes: MAX_HEADER_BYTES } });
  origin = await httpOrigin((req, res) => res.end(`fine ${req.url}`));
});
after(async () => {
  await proxy.close();
  await origin.close();
});

/** Writes `bytes` on an open connection and collects everything until it closes. */
async function sendOn(socket: net.Socket, bytes: string): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(bytes);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses the one HTTP/1.1 response a raw exchange collected. */
function parse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end > 0, `expected an HTTP response, got ${JSON.stringify(raw.slice(0, 200))}`);
  const lines = raw.slice(0, end).split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? '')?.[1];
  assert.ok(status, `bad status line ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(status), headers, body: raw.slice(end + 4) };
}

/** Sends `bytes`, then checks the classified answer and its log line. */
async function expectRejected(
  bytes: string | Buffer,
  expected: { status: number; code: string },
  options: { endAfterWrite?: boolean } = {},
) {
  const res = parse(await rawExchange(proxy.port, bytes, options));
  assert.equal(res.status, expected.status, res.body);
  assert.match(res.headers['proxy-status'] ?? '', new RegExp(`^hopwatch; error=http_request_error; status-code=${expected.status}; details="[^"]+"$`));
  assert.equal(res.headers.connection, 'close');
  assert.equal(Buffer.byteLength(res.body, 'latin1'), Number(res.headers['content-length']));
  assert.match(res.body, new RegExp(`^${expected.status} [^:]+: ${expected.code} at hop parse\n`));
  const id = res.headers['x-request-id'];
  assert.ok(res.body.includes(`Request id: ${id}\n`));
  const log = await proxy.logs.exchange(id);
  assert.equal(log.protocol, 'http');
  assert.equal(log.code, expected.code);
  assert.equal(log.hop, 'parse');
  assert.equal(log.status, expected.status);
  assert.equal(log.source, 'proxy');
  assert.equal(log.category, 'client');
  assert.equal(log.proxy_status, 'http_request_error');
  assert.equal(log.level, 'warn');
  return { res, log };
}

const TLS_CLIENT_HELLO_START = Buffer.from('16030100c4010000c00303', 'hex');

describe('bad input: garbage is a 400 request_malformed, never a silent close', () => {
  const garbage: Array<[string, Buffer | string]> = [
    ['TLS sent to the plain HTTP port', Buffer.concat([TLS_CLIENT_HELLO_START, randomBytes(180)])],
    ['random binary', Buffer.concat([Buffer.from([0x00, 0xff, 0x7f]), randomBytes(64)])],
    ['a made-up protocol line', 'HELLO\r\n\r\n'],
    ['a request line with no version', 'GET http://127.0.0.1/ \r\n\r\n'],
    ['a header line without a colon', 'GET http://127.0.0.1/ HTTP/1.1\r\nHost example\r\n\r\n'],
  ];
  for (const [what, bytes] of garbage) {
    it(what, T, async () => {
      const { log } = await expectRejected(bytes, { status: 400, code: 'request_malformed' });
      assert.match(String(log.detail), /^HPE_/);
    });
  }

  it('a large binary blob gets one answer and one log line, not one per chunk', T, async () => {
    const since = proxy.logs.lines.length;
    const blob = Buffer.concat([TLS_CLIENT_HELLO_START, randomBytes(1_000_000)]);
    const { res } = await expectRejected(blob, { status: 400, code: 'request_malformed' });
    // Another request's line after this one proves none came later for the same connection.
    await viaProxy(proxy.port, `${origin.origin}/marker`);
    await proxy.logs.nextExchange(since, (l) => l.path === '/marker');
    const lines = proxy.logs.lines.slice(since).filter((l) => l.msg === 'exchange' && l.code === 'request_malformed');
    assert.deepEqual(lines.map((l) => l.id), [res.headers['x-request-id']]);
  });
});

describe('bad input: limits on the request head', () => {
  it(`a header section over limits.maxHeaderBytes (${MAX_HEADER_BYTES}) → 431 request_header_too_large`, T, async () => {
    const request = `GET ${origin.origin}/big HTTP/1.1\r\nHost: x\r\nCookie: ${'c'.repeat(MAX_HEADER_BYTES * 2)}\r\n\r\n`;
    const { log } = await expectRejected(request, { status: 431, code: 'request_header_too_large' });
    assert.match(String(log.detail), /HPE_HEADER_OVERFLOW/);
  });

  it('a header section under the limit is forwarded', T, async () => {
    const res = await viaProxy(proxy.port, `${origin.origin}/small`, { headers: { Cookie: 'c'.repeat(MAX_HEADER_BYTES / 2) } });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'fine /small');
  });

  it(`half a request line, then nothing → 408 request_header_timeout after requestHeadersMs (${HEADERS_MS})`, T, async () => {
    const started = performance.now();
    const { log } = await expectRejected(`GET ${origin.origin}/sl`, { status: 408, code: 'request_header_timeout' });
    const waited = performance.now() - started;
    assert.ok(waited >= HEADERS_MS - 20, `answered after ${waited} ms, before requestHeadersMs`);
    assert.ok(waited < HEADERS_MS + 1_000, `answered after ${waited} ms`);
    assert.equal(log.temporary, true);
  });

  it('complete headers trickled in under requestHeadersMs are served', T, async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(`GET ${origin.origin}/trickle HTTP/1.1\r\n`);
    // The pause is the point: a slow sender that still finishes within requestHeadersMs.
    await new Promise((resolve) => setTimeout(resolve, HEADERS_MS / 3));
    // No half-close: Node's HTTP server takes a client's FIN as an abort of its request.
    socket.write('Host: x\r\nConnection: close\r\n\r\n');
    await once(socket, 'close');
    assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 200 [^]*fine \/trickle$/);
  });
});

describe('bad input: targets and truncation', () => {
  for (const scheme of ['ftp', 'gopher', 'ws']) {
    it(`a request line for ${scheme}:// → 400 unsupported_scheme`, T, async () => {
      const { res } = await expectRejected(`GET ${scheme}://127.0.0.1:${origin.port}/x HTTP/1.1\r\nHost: x\r\n\r\n`, { status: 400, code: 'unsupported_scheme' });
      assert.match(res.body, new RegExp(`scheme ${scheme}:// is not supported`));
    });
  }

  const truncated: Array<[string, string]> = [
    ['a request line cut off', `GET http://127.0.0.1:${1}/pa`],
    ['headers cut off', 'GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\nAccept: te'],
    ['a header section without its blank line', 'GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n'],
    ['a CONNECT cut off', 'CONNECT 127.0.0.1:443 HTTP/1.1\r\n'],
  ];
  for (const [what, bytes] of truncated) {
    it(`${what}, then the client's FIN → 400 request_malformed`, T, async () => {
      const { log } = await expectRejected(bytes, { status: 400, code: 'request_malformed' }, { endAfterWrite: true });
      assert.match(String(log.detail), /HPE_INVALID_EOF_STATE/);
    });
  }
});

describe('bad input: a stream of garbage connections', () => {
  it('never takes the proxy down; every answer is classified and every log line one JSON object', T, async () => {
    const before = await scrape(proxy.adminUrl);
    const since = proxy.logs.lines.length;
    const payloads: Array<Buffer | string> = [];
    for (let i = 0; i < 40; i++) {
      const kind = i % 4;
      if (kind === 0) payloads.push(Buffer.concat([TLS_CLIENT_HELLO_START, randomBytes(50 + i)]));
      else if (kind === 1) payloads.push(Buffer.concat([Buffer.from([0xff, 0x00]), randomBytes(10 + i * 7)]));
      else if (kind === 2) payloads.push(`HELLO ${i}\r\n\r\n`);
      // A quote, backslash and newline bytes in what the parser reports must not break the line.
      else payloads.push(`G\x00"\\\n\r${i}\r\n\r\n`);
    }
    // Half in a row, half at once.
    const answers: string[] = [];
    for (const p of payloads.slice(0, 20)) answers.push(await rawExchange(proxy.port, p));
    answers.push(...(await Promise.all(payloads.slice(20).map((p) => rawExchange(proxy.port, p)))));
    const ids = answers.map((raw) => {
      const res = parse(raw);
      assert.equal(res.status, 400);
      return res.headers['x-request-id'];
    });
    assert.equal(new Set(ids).size, payloads.length, 'one request id per connection');
    const lines = await Promise.all(ids.map((id) => proxy.logs.exchange(id)));
    for (const line of lines) {
      assert.equal(line.code, 'request_malformed');
      assert.equal(typeof line.detail, 'string');
    }
    // LogCapture parsed every line as JSON (it throws otherwise); each record is on its own line.
    assert.ok(proxy.logs.lines.slice(since).every((l) => typeof l.time === 'string' && typeof l.level === 'string'));

    // The proxy still serves, on the address it reports, and so does its admin listener.
    const { http: listener, admin } = proxy.hopwatch.addresses;
    assert.ok(listener && admin);
    const res = await viaProxy(listener.port, `${origin.origin}/after-garbage`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'fine /after-garbage');
    const health = await fetch(`http://127.0.0.1:${admin.port}/healthz`);
    assert.equal(health.status, 200);
    const afterText = await scrape(proxy.adminUrl);
    const delta = sample(afterText, 'hopwatch_requests_total', { protocol: 'http', code: 'request_malformed' }) -
      sample(before, 'hopwatch_requests_total', { protocol: 'http', code: 'request_malformed' });
    assert.equal(delta, payloads.length);
  });
});

describe('connection limit', () => {
  let limited: TestProxy;
  before(async () => {
    limited = await startProxy({ limits: { maxConnections: 2 } });
  });
  after(() => limited.close());

  async function gauges() {
    const text = await scrape(limited.adminUrl);
    return {
      active: sample(text, 'hopwatch_connections_active', { listener: 'http' }),
      ratio: sample(text, 'hopwatch_connection_utilization_ratio'),
      max: sample(text, 'hopwatch_connections_max'),
    };
  }

  /** Waits for the proxy to have seen its client sockets close: nothing else reports it. */
  async function activeBecomes(n: number): Promise<void> {
    const deadline = performance.now() + 3_000;
    for (;;) {
      const { active } = await gauges();
      if (active === n) return;
      if (performance.now() > deadline) assert.fail(`hopwatch_connections_active stayed ${active}, expected ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Answers a request over the limit must carry. */
  function assertLimitAnswer(status: number, headers: Record<string, string | string[] | undefined>) {
    assert.equal(status, 503);
    assert.equal(headers['retry-after'], '1');
    assert.match(String(headers['proxy-status']), /^hopwatch; error=connection_limit_reached(;|$)/);
    assert.equal(headers.connection, 'close');
  }

  it('answers 503 with Retry-After over limits.maxConnections, and serves again once connections close', T, async (t: TestContext) => {
    const echo = await tcpServer((s) => s.pipe(s));
    t.after(() => echo.close());
    assert.deepEqual(await gauges(), { active: 0, ratio: 0, max: 2 });

    // Two held connections: an idle keep-alive one and an open tunnel.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    assert.equal((await viaProxy(limited.port, `${origin.origin}/first`, { agent })).status, 200);
    const tunnel = await connectVia(limited.port, `127.0.0.1:${echo.port}`);
    t.after(() => tunnel.socket.destroy());
    assert.equal(tunnel.status, 200);
    assert.deepEqual(await gauges(), { active: 2, ratio: 1, max: 2 });

    const over = await viaProxy(limited.port, `${origin.origin}/third`);
    assertLimitAnswer(over.status, over.headers);
    assert.match(over.body, /^503 Service Unavailable: connection_limit at hop client\n/);
    const log = await limited.logs.exchange(over.headers['x-request-id']);
    assert.equal(log.code, 'connection_limit');
    assert.equal(log.hop, 'client');
    assert.equal(log.status, 503);
    assert.equal(log.source, 'proxy');
    assert.equal(log.proxy_status, 'connection_limit_reached');
    assert.equal(log.temporary, true);

    const overConnect = await connectVia(limited.port, `127.0.0.1:${echo.port}`);
    t.after(() => overConnect.socket.destroy());
    assertLimitAnswer(overConnect.status, overConnect.headers);
    const connectLog = await limited.logs.exchange(overConnect.headers['x-request-id']);
    assert.equal(connectLog.protocol, 'connect');
    assert.equal(connectLog.code, 'connection_limit');
    assert.equal(connectLog.hop, 'client');
    assert.equal(echo.sockets.length, 1, 'the refused tunnel never reached the upstream');

    // A connection over the limit that has not sent its request yet is open, but not admitted.
    const waiting = net.connect(limited.port, '127.0.0.1');
    t.after(() => waiting.destroy());
    await once(waiting, 'connect');
    await activeBecomes(3);
    assert.equal((await gauges()).ratio, 1, 'utilization counts admitted connections: never past 1');

    // One held connection closes: one new connection fits again, the waiting one still open.
    tunnel.socket.end();
    await activeBecomes(2);
    assert.equal((await gauges()).ratio, 0.5);
    const again = await viaProxy(limited.port, `${origin.origin}/again`);
    assert.equal(again.status, 200);
    assert.equal(again.body, 'fine /again');
    // The waiting connection stays over the limit: its request still gets the 503.
    const late = parse(await sendOn(waiting, `GET ${origin.origin}/late HTTP/1.1\r\nHost: x\r\n\r\n`));
    assertLimitAnswer(late.status, late.headers);

    agent.destroy();
    await activeBecomes(0);
    assert.equal((await gauges()).ratio, 0);
    const both = await Promise.all([viaProxy(limited.port, `${origin.origin}/a`), viaProxy(limited.port, `${origin.origin}/b`)]);
    assert.deepEqual(both.map((r) => r.status), [200, 200]);
  });
});

