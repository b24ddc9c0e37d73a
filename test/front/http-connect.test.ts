// CONNECT tunnels over real loopback sockets: bytes both ways (including those sent in the
// same packet as the CONNECT), how a tunnel ends and what the log line says about it, the
// classified answers for tunnels that cannot open, and the same through curl.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { connectVia } from '../helpers/client.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { blackholePort, closedPort, httpOrigin, tcpServer, type Upstream } from '../helpers/upstreams.ts';

const IDLE_MS = 400;
const CONNECT_MS = 400;

/** Set by a test to hold the exchange at the connect hop (after DNS, before the TCP connect). */
let holdConnect: (() => Promise<void>) | undefined;

let proxy: TestProxy;
before(async () => {
  proxy = await startProxy(
    { timeouts: { connectMs: CONNECT_MS, idleMs: IDLE_MS } },
    { interceptors: [['connect', async () => { await holdConnect?.(); return undefined; }]] },
  );
});
after(() => proxy.close());

/** Everything a socket has received, and a way to wait for more. */
function collect(socket: net.Socket) {
  let text = '';
  let ended = false;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.on('data', (c: Buffer) => {
    text += c.toString('latin1');
    wake();
  });
  socket.on('end', () => {
    ended = true;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  socket.on('error', () => {});
  return {
    get text() {
      return text;
    },
    /** Resolves once `needle` has arrived; rejects if the connection ends first. */
    until(needle: string): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (text.includes(needle)) return resolve();
          if (ended) return reject(new Error(`connection ended before ${JSON.stringify(needle)}; got ${JSON.stringify(text)}`));
          waiters.push(check);
        };
        check();
      });
    },
  };
}

/** Resolves when the socket has closed; rejects if it stays open for `ms`, so a test fails instead of hanging. */
function closed(socket: net.Socket, ms = 3_000): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Opens a raw connection and sends `CONNECT authority` followed, in the same write, by `head`. */
async function openTunnel(t: TestContext, authority: string, head = '') {
  const socket = net.connect(proxy.port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  const received = collect(socket);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n${head}`);
  await received.until('\r\n\r\n');
  const statusLine = received.text.slice(0, received.text.indexOf('\r\n'));
  const id = /\r\nX-Request-Id: ([^\r]+)\r\n/i.exec(received.text)?.[1];
  return { socket, received, statusLine, id };
}

/** A raw connection to the proxy, destroyed when the test ends. */
async function rawClient(t: TestContext): Promise<net.Socket> {
  const socket = net.connect(proxy.port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Starts an upstream that is closed when the test ends, whatever happens. */
async function upstreamFor(t: TestContext, start: Promise<Upstream>): Promise<Upstream> {
  const upstream = await start;
  t.after(() => upstream.close());
  return upstream;
}

const echoServer = (t: TestContext) => upstreamFor(t, tcpServer((s) => s.pipe(s)));

async function blackhole(t: TestContext): Promise<number> {
  const hole = await blackholePort();
  t.after(() => hole.close());
  return hole.port;
}

/**
 * Holds the next exchange at the connect hop: `held` resolves once one is waiting there, and
 * it goes on when `release` is called (at the latest when the test ends).
 */
function holdNextConnect(t: TestContext): { held: Promise<void>; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const held = new Promise<void>((resolve) => (entered = resolve));
  holdConnect = () => {
    holdConnect = undefined;
    entered();
    return released;
  };
  t.after(() => {
    holdConnect = undefined;
    release();
  });
  return { held, release };
}

/** A listening server whose connections allow half-close; closed when the test ends. */
async function halfOpenServer(t: TestContext, onSocket: (s: net.Socket) => void): Promise<number> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

function bytesOf(log: LogLine): Record<string, number> {
  return log.bytes as Record<string, number>;
}

/** Per test: a broken behaviour fails within seconds instead of hanging the file. */
const T = { timeout: 8_000 };

describe('CONNECT: an open tunnel', () => {
  it('carries bytes both ways, head included; the 200 carries the request id of the log line', T, async (t) => {
    const echo = await echoServer(t);
    const before = await scrape(proxy.adminUrl);
    const tunnel = await openTunnel(t, `127.0.0.1:${echo.port}`, 'sent-with-the-connect;');
    assert.equal(tunnel.statusLine, 'HTTP/1.1 200 Connection Established');
    assert.match(String(tunnel.id), /^[0-9a-f]{8}-[0-9a-z]+$/);
    await tunnel.received.until('sent-with-the-connect;');
    tunnel.socket.write('second;');
    await tunnel.received.until('second;');
    const payload = tunnel.received.text.slice(tunnel.received.text.indexOf('\r\n\r\n') + 4);
    assert.equal(payload, 'sent-with-the-connect;second;', 'the head comes back first and exactly once');
    tunnel.socket.end();
    const log = await proxy.logs.exchange(tunnel.id);
    assert.equal(log.protocol, 'connect');
    assert.equal(log.method, 'CONNECT');
    assert.equal(log.target, `127.0.0.1:${echo.port}`);
    assert.equal(log.upstream_ip, '127.0.0.1');
    assert.equal(log.status, 200);
    assert.equal(log.code, 'ok');
    assert.equal(log.response_started, true);
    assert.equal(log.end, 'client_closed');
    const sent = 'sent-with-the-connect;second;'.length;
    assert.deepEqual(bytesOf(log), { from_client: sent, to_upstream: sent, from_upstream: sent, to_client: sent });
    const afterText = await scrape(proxy.adminUrl);
    const delta = (name: string, labels: Record<string, string>) => sample(afterText, name, labels) - sample(before, name, labels);
    assert.equal(delta('hopwatch_requests_total', { protocol: 'connect', code: 'ok' }), 1);
    assert.equal(delta('hopwatch_transferred_bytes_total', { protocol: 'connect', direction: 'client_to_upstream' }), sent);
    assert.equal(delta('hopwatch_transferred_bytes_total', { protocol: 'connect', direction: 'upstream_to_client' }), sent);
  });

  it('keeps bytes the client sends after the CONNECT but before the 200', T, async (t) => {
    const echo = await echoServer(t);
    const { held, release } = holdNextConnect(t);
    const socket = await rawClient(t);
    const received = collect(socket);
    socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`);
    await held;
    // An optimistic client (TLS False Start, say) sends its first bytes without waiting. They
    // must be with the proxy before it goes on, and no event says so: a short pause.
    socket.write('early;', () => setTimeout(release, 20));
    await received.until('early;');
    assert.match(received.text, /^HTTP\/1\.1 200 [^\r]*\r\n[^]*\r\n\r\nearly;$/);
    socket.end();
    const log = await proxy.logs.nextExchange(0, (l) => l.target === `127.0.0.1:${echo.port}`);
    assert.equal(bytesOf(log).to_upstream, 'early;'.length);
  });

  it('the upstream closing first ends the tunnel as upstream_closed', T, async (t) => {
    const upstream = await upstreamFor(t, tcpServer((s) => s.end('goodbye')));
    const tunnel = await openTunnel(t, `127.0.0.1:${upstream.port}`);
    await tunnel.received.until('goodbye');
    await closed(tunnel.socket);
    const log = await proxy.logs.exchange(tunnel.id);
    assert.equal(log.code, 'ok');
    assert.equal(log.end, 'upstream_closed');
    assert.equal(bytesOf(log).from_upstream, 'goodbye'.length);
    assert.equal(bytesOf(log).to_client, 'goodbye'.length);
  });

  it('an upstream reset ends the tunnel as upstream_reset and closes the client', T, async (t) => {
    const upstream = await upstreamFor(t, tcpServer((s) => s.once('data', () => s.resetAndDestroy())));
    const tunnel = await openTunnel(t, `127.0.0.1:${upstream.port}`);
    tunnel.socket.write('provoke');
    await closed(tunnel.socket);
    const log = await proxy.logs.exchange(tunnel.id);
    assert.equal(log.end, 'upstream_reset');
    assert.equal(bytesOf(log).to_upstream, 'provoke'.length);
  });

  it('a client reset ends the tunnel as client_reset and closes the upstream', T, async (t) => {
    const echo = await echoServer(t);
    const tunnel = await openTunnel(t, `127.0.0.1:${echo.port}`);
    tunnel.socket.write('ping');
    await tunnel.received.until('ping');
    const upstreamSide = echo.sockets[0]!;
    tunnel.socket.resetAndDestroy();
    await closed(upstreamSide);
    const log = await proxy.logs.exchange(tunnel.id);
    assert.equal(log.end, 'client_reset');
  });

  it('passes a half-close on: the client shuts its write side and still gets the answer', T, async (t) => {
    // The upstream answers only after it has seen the end of the question.
    const port = await halfOpenServer(t, (s) => {
      let question = '';
      s.on('data', (c: Buffer) => (question += c.toString()));
      s.on('end', () => setImmediate(() => s.end(`answer to ${question}`)));
    });
    const tunnel = await openTunnel(t, `127.0.0.1:${port}`);
    tunnel.socket.end('question');
    await tunnel.received.until('answer to question');
    await closed(tunnel.socket);
    const log = await proxy.logs.exchange(tunnel.id);
    assert.equal(log.end, 'client_closed');
    assert.equal(bytesOf(log).to_upstream, 'question'.length);
    assert.equal(bytesOf(log).to_client, 'answer to question'.length);
  });

  it('a client that half-closes before the 200 still has its bytes delivered and its close passed on', T, async (t) => {
    const port = await halfOpenServer(t, (s) => {
      let question = '';
      s.on('data', (c: Buffer) => (question += c.toString()));
      s.on('end', () => s.end(`answer to ${question}`));
    });
    const { held, release } = holdNextConnect(t);
    const socket = await rawClient(t);
    const received = collect(socket);
    socket.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`);
    await held;
    socket.end('all at once', () => setTimeout(release, 20));
    await received.until('answer to all at once');
    await closed(socket);
    const log = await proxy.logs.nextExchange(0, (l) => l.target === `127.0.0.1:${port}`);
    assert.equal(log.code, 'ok');
    assert.equal(log.end, 'client_closed');
  });

  it('cuts a tunnel idle for idleMs: idle_timeout, both sides closed', T, async (t) => {
    const echo = await echoServer(t);
    const tunnel = await openTunnel(t, `127.0.0.1:${echo.port}`);
    tunnel.socket.write('one exchange, then silence');
    await tunnel.received.until('silence');
    const quietSince = performance.now();
    await closed(tunnel.socket);
    assert.ok(performance.now() - quietSince >= IDLE_MS - 20, 'not cut before idleMs');
    await closed(echo.sockets[0]!);
    const log = await proxy.logs.exchange(tunnel.id);
    assert.equal(log.code, 'idle_timeout');
    assert.equal(log.end, 'idle_timeout');
    assert.equal(log.hop, 'deliver');
    assert.equal(log.status, 200);
    assert.equal(log.proxy_status, 'connection_read_timeout');
  });
});

describe('CONNECT: tunnels that cannot open are answered, never dropped', () => {
  async function expectRefusal(t: TestContext, authority: string, expected: { status: number; code: string; hop: string; proxyStatus: string }) {
    const res = await connectVia(proxy.port, authority);
    t.after(() => res.socket.destroy());
    assert.equal(res.status, expected.status, res.head);
    assert.match(res.headers['proxy-status'] ?? '', new RegExp(`^hopwatch; error=${expected.proxyStatus}(;|$)`));
    assert.match(res.headers['proxy-status'] ?? '', /; details="[^"]+"/);
    assert.equal(res.headers.connection, 'close');
    assert.equal(Buffer.byteLength(res.body), Number(res.headers['content-length']), 'the whole body arrives');
    assert.match(res.body, new RegExp(`^${expected.status} .*: ${expected.code} at hop ${expected.hop}\n`));
    assert.match(res.body, /What to do: /);
    const id = res.headers['x-request-id'];
    assert.ok(res.body.includes(`Request id: ${id}`));
    await closed(res.socket);
    const log = await proxy.logs.exchange(id);
    assert.equal(log.protocol, 'connect');
    assert.equal(log.code, expected.code);
    assert.equal(log.hop, expected.hop);
    assert.equal(log.status, expected.status);
    assert.equal(log.proxy_status, expected.proxyStatus);
    assert.equal(log.response_started, false);
    return { res, log };
  }

  it('a closed port → 502 connection_refused with a body', T, async (t) => {
    const port = await closedPort();
    const { log } = await expectRefusal(t, `127.0.0.1:${port}`, { status: 502, code: 'connect_refused', hop: 'connect', proxyStatus: 'connection_refused' });
    assert.deepEqual((log.attempts as Array<Record<string, unknown>>).map((a) => a.outcome), ['connect_refused']);
  });

  it('a blackholed port → 504 connection_timeout after connectMs', T, async (t) => {
    const port = await blackhole(t);
    const started = performance.now();
    await expectRefusal(t, `127.0.0.1:${port}`, { status: 504, code: 'connect_timeout', hop: 'connect', proxyStatus: 'connection_timeout' });
    assert.ok(performance.now() - started >= CONNECT_MS - 20);
  });

  it('CONNECT without a port → 400 invalid_target', T, async (t) => {
    const { res } = await expectRefusal(t, '127.0.0.1', { status: 400, code: 'invalid_target', hop: 'parse', proxyStatus: 'http_request_error' });
    assert.match(res.headers['proxy-status'] ?? '', /; status-code=400;/);
  });

  it('CONNECT to the proxy\'s own port → 502 loop_detected', T, async (t) => {
    await expectRefusal(t, `127.0.0.1:${proxy.port}`, { status: 502, code: 'loop_detected', hop: 'connect', proxyStatus: 'proxy_loop_detected' });
  });
});

describe('CONNECT: the client leaving while the proxy connects', () => {
  for (const how of ['closes', 'resets'] as const) {
    it(`is recorded as client_abort at hop connect at once (the client ${how}), and the attempt is dropped`, T, async (t) => {
      const port = await blackhole(t);
      const socket = await rawClient(t);
      const clientPort = socket.localPort;
      socket.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`);
      const line = proxy.logs.nextExchange(0, (l) => l.client_port === clientPort);
      // No event marks "the proxy is now connecting": a blackholed connect lasts connectMs.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const left = performance.now();
      if (how === 'closes') socket.destroy();
      else socket.resetAndDestroy();
      const log = await line;
      assert.ok(performance.now() - left < CONNECT_MS / 2, 'seen when the client left, not when connectMs ran out');
      assert.equal(log.code, 'client_abort');
      assert.equal(log.hop, 'connect');
      assert.equal(log.source, 'client');
      assert.equal(log.status, undefined, 'nothing was answered');
      const attempts = log.attempts as Array<Record<string, unknown>>;
      assert.equal(attempts.length, 1);
      assert.notEqual(attempts[0]!.outcome, 'connected');
      assert.notEqual(attempts[0]!.outcome, 'connect_timeout');
    });
  }

  it('never opens the upstream connection once the client has gone', T, async (t) => {
    const echo = await echoServer(t);
    const { held, release } = holdNextConnect(t);
    const socket = await rawClient(t);
    const clientPort = socket.localPort;
    socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\n`);
    await held;
    socket.end();
    const log = await proxy.logs.nextExchange(0, (l) => l.client_port === clientPort);
    assert.equal(log.code, 'client_abort');
    release();
    // A tunnel opened after the abandoned one proves the abandoned one had its turn to connect.
    const next = await openTunnel(t, `127.0.0.1:${echo.port}`);
    assert.equal(next.statusLine, 'HTTP/1.1 200 Connection Established');
    next.socket.write('x');
    await next.received.until('x');
    assert.equal(echo.sockets.length, 1, 'only the second tunnel reached the upstream');
  });
});

const curlMissing = spawnSync('curl', ['--version']).error !== undefined;
const requireTools = !!process.env.REQUIRE_TEST_TOOLS;

/** Runs curl without blocking the event loop: the proxy under test lives in this process. */
function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', args, { timeout: 5_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const skipCurl = curlMissing && !requireTools ? 'curl is not installed (with REQUIRE_TEST_TOOLS set, that fails)' : false;

describe('CONNECT through curl (proxytunnel)', { skip: skipCurl }, () => {
  it('fetches an origin through a tunnel', T, async (t) => {
    assert.ok(!curlMissing, 'curl is required: REQUIRE_TEST_TOOLS is set');
    const origin = await upstreamFor(t, httpOrigin((_req, res) => res.end('through the tunnel')));
    const out = await curl(['-sS', '-p', '-x', proxy.url, '-D', '-', `${origin.origin}/`]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^HTTP\/1\.1 200 Connection Established\r\nX-Request-Id: /i);
    assert.ok(out.stdout.endsWith('through the tunnel'), out.stdout);
    const id = /X-Request-Id: ([^\r]+)/i.exec(out.stdout)?.[1];
    const log = await proxy.logs.exchange(id);
    assert.equal(log.code, 'ok');
    assert.equal(log.target, `127.0.0.1:${origin.port}`);
    assert.ok((bytesOf(log).to_client ?? 0) > 'through the tunnel'.length, 'the whole HTTP response went through');
  });

  it('reports the proxy\'s 502 for a refused tunnel', T, async () => {
    assert.ok(!curlMissing, 'curl is required: REQUIRE_TEST_TOOLS is set');
    const port = await closedPort();
    const out = await curl(['-sS', '-p', '-x', proxy.url, `http://127.0.0.1:${port}/`]);
    assert.equal(out.code, 56, `curl fails the transfer as a CONNECT refusal; ${out.stderr}`);
    assert.match(out.stderr, /502/);
    const log = await proxy.logs.nextExchange(0, (l) => l.target === `127.0.0.1:${port}`);
    assert.equal(log.code, 'connect_refused');
    assert.equal(log.status, 502);
  });
});
