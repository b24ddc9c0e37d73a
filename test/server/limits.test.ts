import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { connectVia, viaProxy } from '../helpers/client.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy } from '../helpers/proxy.ts';
import { failureReply, greeting, RawSocks, requestIpv4 } from '../helpers/socks.ts';
import { httpOrigin, tcpServer } from '../helpers/upstreams.ts';

describe('limits', () => {
  it('one client over limits.maxConnectionsPerClient gets 429 with Retry-After; others are unaffected', async (t) => {
    const origin = await httpOrigin((_req, res) => res.end('ok'));
    t.after(() => origin.close());
    const proxy = await startProxy({ limits: { maxConnectionsPerClient: 2 }, socks: { enabled: true, port: 0 } });
    t.after(() => proxy.close());
    const held = await Promise.all([0, 1].map(async () => {
      const socket = net.connect(proxy.port, '127.0.0.1');
      await once(socket, 'connect');
      return socket;
    }));
    const res = await viaProxy(proxy.port, `${origin.origin}/`);
    assert.equal(res.status, 429);
    assert.equal(res.headers['retry-after'], '1');
    assert.match(String(res.headers['proxy-status']), /^hopwatch; error=http_request_error; status-code=429; details="127\.0\.0\.1 has 2 connections open/);
    const log = await proxy.logs.exchange(res.headers['x-request-id']);
    assert.equal(log.code, 'client_connection_limit');
    assert.equal(log.hop, 'client');

    // SOCKS counts under the same per-client limit: its refusal is a full-length 0x01.
    const client = await RawSocks.open(proxy.socksPort!);
    client.send(greeting(0x00));
    await client.read(2);
    client.send(requestIpv4('127.0.0.1', origin.port));
    assert.deepEqual(await client.read(10), failureReply(0x01));
    client.destroy();

    for (const socket of held) socket.destroy();
    await Promise.all(held.map((s) => (s.destroyed ? Promise.resolve() : once(s, 'close'))));
    // The gate learns of the closes on the proxy side; a later request is admitted again.
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) status = (await viaProxy(proxy.port, `${origin.origin}/`)).status;
    assert.equal(status, 200);
    const text = await scrape(proxy.adminUrl);
    assert.ok(sample(text, 'hopwatch_requests_total', { code: 'client_connection_limit' }) >= 2);
  });

  it('timeouts.maxTunnelMs closes a busy tunnel, recorded as tunnel_max_duration', async (t) => {
    const echo = await tcpServer((s) => s.pipe(s));
    t.after(() => echo.close());
    const proxy = await startProxy({ timeouts: { maxTunnelMs: 300, idleMs: 10_000 } });
    t.after(() => proxy.close());
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${echo.port}`);
    const started = performance.now();
    // Keep it busy: the idle timeout never fires, only the lifetime limit.
    const ticker = setInterval(() => tunnel.socket.write('tick'), 50);
    tunnel.socket.resume();
    await once(tunnel.socket, 'close');
    clearInterval(ticker);
    assert.ok(performance.now() - started >= 290);
    const log = await proxy.logs.exchange(tunnel.headers['x-request-id']);
    assert.equal(log.code, 'tunnel_max_duration');
    assert.equal(log.end, 'max_duration');
    assert.equal(log.status, 200);
    assert.ok(((log.bytes as Record<string, number>).to_upstream ?? 0) > 0);
  });
});
