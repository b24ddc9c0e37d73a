import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { connectVia } from '../helpers/client.ts';
import { startProxy } from '../helpers/proxy.ts';
import { heldOrigin, tcpServer } from '../helpers/upstreams.ts';

describe('graceful shutdown', () => {
  it('lets an in-flight request finish, turns /readyz 503 and stops accepting meanwhile', async (t) => {
    const origin = await heldOrigin();
    t.after(() => origin.close());
    const proxy = await startProxy({}, { graceMs: 5_000 });
    const agent = new http.Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const req = http.request({ host: '127.0.0.1', port: proxy.port, path: `${origin.origin}/slow`, agent });
    req.end();
    await origin.arrived;

    const closing = proxy.close();
    const ready = await fetch(`${proxy.adminUrl}/readyz`);
    assert.equal(ready.status, 503, 'draining: load balancers must stop sending');
    const refused = net.connect(proxy.port, '127.0.0.1');
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED', 'the listener no longer accepts');

    origin.release();
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    let body = '';
    for await (const chunk of res) body += String(chunk);
    assert.equal(res.statusCode, 200);
    assert.equal(body, 'finished during the drain');
    assert.equal(res.headers.connection, 'close', 'the client is told not to reuse the connection');
    await closing;
    const drained = await proxy.logs.waitFor((l) => l.msg === 'drained');
    assert.equal(drained.cut, 0);
    const line = await proxy.logs.nextExchange(0, (l) => l.path === '/slow');
    assert.equal(line.code, 'ok');
  });

  it('cuts a tunnel that outlives shutdownGraceMs and records it as proxy_shutdown', async (t) => {
    const echo = await tcpServer((s) => s.pipe(s));
    t.after(() => echo.close());
    const proxy = await startProxy({}, { graceMs: 200 });
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${echo.port}`);
    tunnel.socket.write('still here');
    await once(tunnel.socket, 'data');
    const started = performance.now();
    await proxy.close();
    assert.ok(performance.now() - started >= 190, 'the tunnel had its grace period');
    const line = await proxy.logs.exchange(tunnel.headers['x-request-id']);
    assert.equal(line.code, 'proxy_shutdown');
    assert.equal(line.end, 'proxy_closed');
    assert.equal(line.status, 200);
    const drained = await proxy.logs.waitFor((l) => l.msg === 'drained');
    assert.equal(drained.cut, 1);
    if (!tunnel.socket.destroyed) await once(tunnel.socket, 'close');
  });

  it('closes at once when nothing is in flight', async () => {
    const proxy = await startProxy({}, { graceMs: 60_000 });
    const started = performance.now();
    await proxy.close();
    assert.ok(performance.now() - started < 2_000);
  });
});
