import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { viaProxy } from '../helpers/client.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { afterRequestHead, blackholePort, closedPort, httpOrigin, silentServer, tcpServer } from '../helpers/upstreams.ts';

let proxy: TestProxy;
before(async () => {
  proxy = await startProxy({ timeouts: { connectMs: 400, responseMs: 400, idleMs: 400 } });
});
after(() => proxy.close());

/** Requests `url` through the proxy; returns the response, its log line and the metric deltas. */
async function observe(url: string, labels: Record<string, string>, options: Parameters<typeof viaProxy>[2] = {}) {
  const before = await scrape(proxy.adminUrl);
  const res = await viaProxy(proxy.port, url, options);
  const id = res.headers['x-request-id'];
  const log = await proxy.logs.exchange(id);
  const afterText = await scrape(proxy.adminUrl);
  const delta = (name: string, extra: Record<string, string> = {}) =>
    sample(afterText, name, { ...labels, ...extra }) - sample(before, name, { ...labels, ...extra });
  return { res, log, delta };
}

describe('HTTP forward: success and the upstream\'s own statuses', () => {
  it('forwards a GET and records one ok line with timings and bytes', async () => {
    const origin = await httpOrigin((req, res) => res.end(`hello ${req.url}`));
    const { res, delta } = await observe(`${origin.origin}/greet?token=secret`, { protocol: 'http', code: 'ok' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hello /greet?token=secret');
    assert.match(String(res.headers.via), /^1\.1 hopwatch-[0-9a-f]{6}$/);
    const log = await proxy.logs.nextExchange(0, (l) => l.path === '/greet');
    assert.equal(log.code, 'ok');
    assert.equal(log.status, 200);
    assert.equal(log.target, `127.0.0.1:${origin.port}`);
    assert.equal(log.upstream_ip, '127.0.0.1');
    assert.equal(log.path, '/greet', 'the query string (tokens) is not logged');
    assert.ok(!JSON.stringify(log).includes('secret'));
    const durations = log.durations_ms as Record<string, number>;
    assert.equal(typeof durations.connect, 'number');
    assert.equal(typeof durations.ttfb, 'number');
    assert.equal((log.bytes as Record<string, number>).to_client, 'hello /greet?token=secret'.length);
    assert.equal(delta('hopwatch_requests_total', { category: 'success', source: 'upstream' }), 1);
    await origin.close();
  });

  it('reuses a pooled upstream connection and records it', async () => {
    const origin = await httpOrigin((_req, res) => res.end('pooled'));
    const first = await viaProxy(proxy.port, `${origin.origin}/one`);
    const second = await viaProxy(proxy.port, `${origin.origin}/two`);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    const log = await proxy.logs.nextExchange(0, (l) => l.path === '/two');
    assert.equal(log.reused, true);
    assert.equal((log.durations_ms as Record<string, unknown>).connect, undefined, 'a reused socket skips connect');
    assert.equal(origin.sockets.length, 1);
    await origin.close();
  });

  for (const status of [500, 503, 401, 429, 418]) {
    it(`passes the upstream's own ${status} through, marked source=upstream`, async () => {
      const origin = await httpOrigin((_req, res) => res.writeHead(status, { 'X-Origin': 'yes' }).end('origin says no'));
      const code = status === 418 ? 'upstream_4xx' : `upstream_${status}`;
      const { res, log, delta } = await observe(`${origin.origin}/`, { protocol: 'http', code });
      assert.equal(res.status, status);
      assert.equal(res.body, 'origin says no');
      assert.equal(res.headers['x-origin'], 'yes');
      assert.equal(res.headers['proxy-status'], `hopwatch; received-status=${status}`, 'no error type: the origin produced it');
      const line = log.code === code ? log : await proxy.logs.nextExchange(0, (l) => l.code === code);
      assert.equal(line.source, 'upstream');
      assert.equal(line.hop, 'upstream');
      assert.equal(line.proxy_status, undefined);
      assert.equal(delta('hopwatch_requests_total', { source: 'upstream' }), 1);
      assert.equal(delta('hopwatch_errors_total', { proxy_status: 'none' }), 1);
      await origin.close();
    });
  }
});

describe('HTTP forward: each failure gets its classified answer, log line and metric', () => {
  async function expectFailure(
    url: string,
    expected: { status: number; code: string; hop: string; proxyStatus: string; temporary: boolean },
  ) {
    const { res, log, delta } = await observe(url, { protocol: 'http', code: expected.code });
    assert.equal(res.status, expected.status, res.body);
    assert.match(String(res.headers['proxy-status']), new RegExp(`^hopwatch; error=${expected.proxyStatus}(;|$)`));
    assert.match(String(res.headers['proxy-status']), /; details="[^"]+"/);
    assert.match(res.body, new RegExp(`^${expected.status} .*: ${expected.code} at hop ${expected.hop}\n`));
    assert.match(res.body, /What to do: /);
    assert.equal(log.id, res.headers['x-request-id']);
    assert.equal(log.code, expected.code);
    assert.equal(log.hop, expected.hop);
    assert.equal(log.status, expected.status);
    assert.equal(log.source, 'proxy');
    assert.equal(log.proxy_status, expected.proxyStatus);
    assert.equal(log.temporary, expected.temporary);
    assert.equal(typeof log.cause, 'string');
    assert.equal(typeof log.action, 'string');
    assert.equal(delta('hopwatch_requests_total', { hop: expected.hop }), 1);
    assert.equal(delta('hopwatch_errors_total', { proxy_status: expected.proxyStatus, temporary: String(expected.temporary) }), 1);
    return { res, log };
  }

  it('connection refused → 502 connection_refused, attempt recorded', async () => {
    const port = await closedPort();
    const { log } = await expectFailure(`http://127.0.0.1:${port}/`, {
      status: 502, code: 'connect_refused', hop: 'connect', proxyStatus: 'connection_refused', temporary: false,
    });
    assert.deepEqual((log.attempts as Array<Record<string, unknown>>).map((a) => [a.address, a.outcome]), [['127.0.0.1', 'connect_refused']]);
  });

  it('connect timeout → 504 connection_timeout after connectMs', async () => {
    const hole = await blackholePort();
    const started = performance.now();
    const { log } = await expectFailure(`http://127.0.0.1:${hole.port}/`, {
      status: 504, code: 'connect_timeout', hop: 'connect', proxyStatus: 'connection_timeout', temporary: true,
    });
    assert.ok(performance.now() - started >= 400);
    assert.equal((log.attempts as Array<Record<string, unknown>>)[0]!.outcome, 'connect_timeout');
    hole.close();
  });

  it('upstream closes before responding → 502 connection_terminated', async () => {
    const upstream = await afterRequestHead((s) => s.end());
    await expectFailure(`${upstream.origin}/`, {
      status: 502, code: 'upstream_closed', hop: 'upstream', proxyStatus: 'connection_terminated', temporary: true,
    });
    await upstream.close();
  });

  it('upstream resets before responding → 502 connection_terminated', async () => {
    const upstream = await afterRequestHead((s) => s.resetAndDestroy());
    await expectFailure(`${upstream.origin}/`, {
      status: 502, code: 'upstream_closed', hop: 'upstream', proxyStatus: 'connection_terminated', temporary: true,
    });
    await upstream.close();
  });

  it('garbage instead of HTTP → 502 http_protocol_error', async () => {
    const upstream = await afterRequestHead((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
    const { log } = await expectFailure(`${upstream.origin}/`, {
      status: 502, code: 'upstream_bad_response', hop: 'upstream', proxyStatus: 'http_protocol_error', temporary: false,
    });
    assert.match(String(log.detail), /HPE_/);
    await upstream.close();
  });

  it('no response headers within responseMs → 504 http_response_timeout, upstream closed', async () => {
    const upstream = await silentServer();
    const started = performance.now();
    await expectFailure(`${upstream.origin}/`, {
      status: 504, code: 'response_timeout', hop: 'upstream', proxyStatus: 'http_response_timeout', temporary: true,
    });
    assert.ok(performance.now() - started >= 400);
    const socket = upstream.sockets[0]!;
    if (!socket.destroyed) await once(socket, 'close');
    await upstream.close();
  });

  it('a JSON client gets the same fields as JSON', async () => {
    const port = await closedPort();
    const res = await viaProxy(proxy.port, `http://127.0.0.1:${port}/`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 502);
    assert.equal(res.headers['content-type'], 'application/json');
    const body = JSON.parse(res.body) as Record<string, unknown>;
    assert.equal(body.code, 'connect_refused');
    assert.equal(body.proxy_status, 'connection_refused');
    assert.equal(body.request_id, res.headers['x-request-id']);
    assert.ok(!('stack' in body));
  });
});

describe('HTTP forward: failures after the response started', () => {
  it('upstream closes mid-body: the client connection is cut (no hang) and the record says so', async () => {
    const upstream = await afterRequestHead((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100)));
    const res = await viaProxy(proxy.port, `${upstream.origin}/big`);
    assert.equal(res.status, 200);
    assert.ok(res.error, 'the client sees a broken body, not a complete one');
    const log = await proxy.logs.nextExchange(0, (l) => l.path === '/big');
    assert.equal(log.code, 'response_incomplete');
    assert.equal(log.hop, 'deliver');
    assert.equal(log.response_started, true);
    assert.equal(log.status, 200);
    assert.equal((log.bytes as Record<string, number>).from_upstream, 100);
    await upstream.close();
  });

  it('upstream resets mid-body: same classification', async () => {
    const upstream = await afterRequestHead((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 'y'.repeat(50), () => s.resetAndDestroy());
    });
    const res = await viaProxy(proxy.port, `${upstream.origin}/reset`);
    assert.ok(res.error);
    const log = await proxy.logs.nextExchange(0, (l) => l.path === '/reset');
    assert.equal(log.code, 'response_incomplete');
    assert.equal(log.proxy_status, 'http_response_incomplete');
    await upstream.close();
  });

  it('a body that stalls longer than idleMs is cut as idle_timeout', async () => {
    const upstream = await afterRequestHead((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nstart'));
    const res = await viaProxy(proxy.port, `${upstream.origin}/stall`);
    assert.ok(res.error);
    const log = await proxy.logs.nextExchange(0, (l) => l.path === '/stall');
    assert.equal(log.code, 'idle_timeout');
    assert.equal(log.response_started, true);
    await upstream.close();
  });

  it('a client abort closes the upstream at once and is recorded as client_abort', async () => {
    let upstreamClosed: Promise<unknown> = Promise.resolve();
    const upstream = await afterRequestHead((s) => {
      upstreamClosed = once(s, 'close');
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n' + 'z'.repeat(1000));
    });
    const http = await import('node:http');
    const req = http.request({ host: '127.0.0.1', port: proxy.port, path: `${upstream.origin}/abort`, agent: false });
    req.end();
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    await once(res, 'data');
    req.destroy();
    await upstreamClosed;
    const log = await proxy.logs.nextExchange(0, (l) => l.path === '/abort');
    assert.equal(log.code, 'client_abort');
    assert.equal(log.source, 'client');
    await upstream.close();
  });

  it('a client that gives up while the proxy connects is recorded as client_abort at hop connect', async () => {
    const hole = await blackholePort();
    const net = await import('node:net');
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`GET http://127.0.0.1:${hole.port}/gone HTTP/1.1\r\nHost: x\r\n\r\n`);
    const line = proxy.logs.nextExchange(0, (l) => l.path === '/gone');
    setTimeout(() => socket.destroy(), 50);
    const log = await line;
    assert.equal(log.code, 'client_abort');
    assert.equal(log.hop, 'connect');
    hole.close();
  });
});

describe('HTTP forward: a pooled connection the upstream closed', () => {
  /** Answers the first request on each connection (keep-alive), resets on the second. */
  const oneRequestPerConnection = () =>
    tcpServer((socket) => {
      let seen = '';
      let answered = 0;
      socket.on('data', (c: Buffer) => {
        seen += c.toString('latin1');
        const heads = seen.split('\r\n\r\n').length - 1;
        if (heads > answered) {
          answered = heads;
          if (answered === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nfresh');
          else socket.resetAndDestroy();
        }
      });
    });

  it('a request without a body is sent again on a fresh connection, and the record says so', async () => {
    const upstream = await oneRequestPerConnection();
    const first = await viaProxy(proxy.port, `${upstream.origin}/first`);
    const second = await viaProxy(proxy.port, `${upstream.origin}/second`);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200, second.body);
    assert.equal(second.body, 'fresh');
    const log = await proxy.logs.exchange(second.headers['x-request-id']);
    assert.equal(log.retries, 1);
    assert.equal(log.reused, undefined, 'the answer came on the fresh connection');
    assert.equal(upstream.sockets.length, 2);
    await upstream.close();
  });

  it('a request with a body is not replayed: 502 upstream_closed', async () => {
    const upstream = await oneRequestPerConnection();
    await viaProxy(proxy.port, `${upstream.origin}/first`);
    const post = await viaProxy(proxy.port, `${upstream.origin}/post`, { method: 'POST', body: 'data', headers: { 'Content-Length': '4' } });
    assert.equal(post.status, 502);
    const log = await proxy.logs.exchange(post.headers['x-request-id']);
    assert.equal(log.code, 'upstream_closed');
    assert.equal(log.reused, true);
    assert.equal(log.retries, undefined);
    await upstream.close();
  });
});

describe('HTTP forward: headers', () => {
  it('strips hop-by-hop and Connection-nominated fields both ways, never forwards Proxy-Authorization, sets Host and Via', async () => {
    let seen: Record<string, string | string[] | undefined> = {};
    const origin = await httpOrigin((req, res) => {
      seen = req.headers;
      res.writeHead(200, { Connection: 'X-Resp-Hop', 'X-Resp-Hop': '1', 'Keep-Alive': 'timeout=1', 'Proxy-Authenticate': 'Basic', 'X-Kept': 'yes' });
      res.end('ok');
    });
    const res = await viaProxy(proxy.port, `http://user:S3cr3tPass@127.0.0.1:${origin.port}/h`, {
      headers: {
        Host: 'wrong.example',
        'Proxy-Authorization': 'Basic dXNlcjpzZWNyZXQ=',
        Connection: 'X-Hop, keep-alive',
        'X-Hop': 'drop me',
        'Proxy-Connection': 'keep-alive',
        TE: 'trailers',
        'X-Kept': 'yes',
      },
    });
    assert.equal(res.status, 200);
    assert.equal(seen.host, `127.0.0.1:${origin.port}`);
    assert.equal(seen['proxy-authorization'], undefined);
    assert.equal(seen['x-hop'], undefined);
    assert.equal(seen['proxy-connection'], undefined);
    assert.equal(seen.te, undefined);
    assert.equal(seen['x-kept'], 'yes');
    assert.match(String(seen.via), /^1\.1 hopwatch-/);
    assert.equal(res.headers['x-resp-hop'], undefined);
    assert.equal(res.headers['proxy-authenticate'], undefined);
    assert.equal(res.headers['x-kept'], 'yes');
    const log = await proxy.logs.nextExchange(0, (l) => l.path === '/h');
    assert.ok(!JSON.stringify(log).includes('S3cr3tPass'), 'URL userinfo never reaches the log');
    assert.ok(!JSON.stringify(log).includes('dXNlcjpzZWNyZXQ='));
    await origin.close();
  });

  it('never forwards Proxy-Authorization under Expect: 100-continue (http-proxy defect)', async () => {
    let seen: Record<string, string | string[] | undefined> = {};
    let body = '';
    const origin = await httpOrigin((req, res) => {
      seen = req.headers;
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.end('got it'));
    });
    const res = await viaProxy(proxy.port, `${origin.origin}/upload`, {
      method: 'POST',
      headers: { Expect: '100-continue', 'Proxy-Authorization': 'Basic dTpw', 'Content-Length': '5' },
      body: 'hello',
    });
    assert.equal(res.status, 200);
    assert.equal(body, 'hello');
    assert.equal(seen['proxy-authorization'], undefined);
    assert.equal(seen.expect, undefined);
    await origin.close();
  });

  it('streams request bodies of unknown length', async () => {
    let body = '';
    const origin = await httpOrigin((req, res) => {
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.end(String(body.length)));
    });
    const res = await viaProxy(proxy.port, `${origin.origin}/chunked`, {
      method: 'POST',
      headers: { 'Transfer-Encoding': 'chunked' },
      body: 'a'.repeat(70_000),
    });
    assert.equal(res.body, '70000');
    const log = await proxy.logs.nextExchange(0, (l) => l.path === '/chunked');
    assert.equal((log.bytes as Record<string, number>).to_upstream, 70_000);
    await origin.close();
  });
});

describe('HTTP forward: bad requests', () => {
  it('an unsupported scheme → 400 http_request_error', async () => {
    const res = await viaProxy(proxy.port, 'ftp://127.0.0.1/file');
    assert.equal(res.status, 400);
    assert.equal(res.headers['proxy-status']?.toString().split(';').slice(0, 3).join(';'), 'hopwatch; error=http_request_error; status-code=400');
    const log = await proxy.logs.exchange(String(res.headers['x-request-id']));
    assert.equal(log.code, 'unsupported_scheme');
    assert.equal(log.hop, 'parse');
  });

  it('an origin-form request to the proxy port → 400 invalid_target', async () => {
    const res = await viaProxy(proxy.port, '/just-a-path');
    assert.equal(res.status, 400);
    const log = await proxy.logs.exchange(String(res.headers['x-request-id']));
    assert.equal(log.code, 'invalid_target');
  });

  it('a request that comes back to the proxy is refused as a loop', async () => {
    const own = await viaProxy(proxy.port, `http://127.0.0.1:${proxy.port}/self`);
    assert.equal(own.status, 502);
    assert.match(String(own.headers['proxy-status']), /^hopwatch; error=proxy_loop_detected/);
    const log = await proxy.logs.exchange(String(own.headers['x-request-id']));
    assert.equal(log.code, 'loop_detected');
    assert.equal(log.hop, 'connect');
    // The same instance's Via seen again (a loop through another proxy).
    const origin = await httpOrigin((_req, res) => res.end('should not be reached'));
    const first = await viaProxy(proxy.port, `${origin.origin}/`);
    const via = String(first.headers.via);
    const looped = await viaProxy(proxy.port, `${origin.origin}/looped`, { headers: { Via: `1.1 other, ${via}` } });
    assert.equal(looped.status, 502);
    const line = await proxy.logs.exchange(String(looped.headers['x-request-id']));
    assert.equal(line.code, 'loop_detected');
    assert.equal(line.hop, 'policy');
    const chained = await viaProxy(proxy.port, `${origin.origin}/chained`, { headers: { Via: '1.1 hopwatch-000000' } });
    assert.equal(chained.status, 200, 'another hopwatch instance in the chain is not a loop');
    await origin.close();
  });

  it('an interceptor that throws → 500 proxy_internal_error, and the proxy keeps serving', async () => {
    const broken = await startProxy({}, { interceptors: [['policy', () => { throw new Error('boom'); }]] });
    const origin = await httpOrigin((_req, res) => res.end('fine'));
    const res = await viaProxy(broken.port, `${origin.origin}/`);
    assert.equal(res.status, 500);
    assert.match(String(res.headers['proxy-status']), /^hopwatch; error=proxy_internal_error/);
    assert.ok(!res.body.includes('boom') || !res.body.includes('at '), 'no stack trace in the body');
    const log = await broken.logs.exchange(String(res.headers['x-request-id']));
    assert.equal(log.code, 'internal_error');
    assert.equal(log.level, 'error');
    assert.equal((await viaProxy(broken.port, `${origin.origin}/`)).status, 500);
    await broken.close();
    await origin.close();
  });
});

describe('HTTP forward: keep-alive client connections', () => {
  it('serves several requests on one client connection, failures included', async () => {
    const http = await import('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const origin = await httpOrigin((_req, res) => res.end('ok'));
    const port = await closedPort();
    const a = await viaProxy(proxy.port, `${origin.origin}/ka1`, { agent });
    const b = await viaProxy(proxy.port, `http://127.0.0.1:${port}/`, { agent });
    const c = await viaProxy(proxy.port, `${origin.origin}/ka2`, { agent });
    assert.deepEqual([a.status, b.status, c.status], [200, 502, 200]);
    const first = await proxy.logs.nextExchange(0, (l) => l.path === '/ka1');
    const third = await proxy.logs.nextExchange(0, (l) => l.path === '/ka2');
    assert.equal(first.client_port, third.client_port);
    agent.destroy();
    await origin.close();
  });
});

