import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ATTEMPT_DELAY_MS, connectAny, interleave } from '../../src/upstream/connect.ts';
import type { Attempt } from '../../src/exchange/record.ts';
import { viaProxy } from '../helpers/client.ts';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { blackholePort, httpOrigin, type Upstream } from '../helpers/upstreams.ts';

describe('connect over several addresses', () => {
  let dns: FakeDns;
  let proxy: TestProxy;
  let origin: Upstream;
  before(async () => {
    origin = await httpOrigin((_req, res) => res.end('reached'));
    dns = await startDnsServer({
      // 127.0.0.2 has nothing on the origin's port: refused, then the next address works.
      'two.test': { a: ['127.0.0.2', '127.0.0.1'] },
      'dead.test': { a: ['127.0.0.2', '127.0.0.3'] },
    });
    proxy = await startProxy({ dns: { servers: [dns.address] }, timeouts: { connectMs: 500 } });
  });
  after(async () => {
    await proxy.close();
    await dns.close();
    await origin.close();
  });

  it('tries the next address when one refuses, and logs every attempt', async () => {
    const res = await viaProxy(proxy.port, `http://two.test:${origin.port}/multi`);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'reached');
    const log = await proxy.logs.exchange(res.headers['x-request-id']);
    assert.deepEqual(log.resolved, ['127.0.0.2', '127.0.0.1']);
    assert.deepEqual(
      (log.attempts as Attempt[]).map((a) => [a.address, a.outcome]),
      [['127.0.0.2', 'connect_refused'], ['127.0.0.1', 'connected']],
    );
    assert.equal(log.upstream_ip, '127.0.0.1');
  });

  it('when every address fails, says so and lists them all', async () => {
    const res = await viaProxy(proxy.port, `http://dead.test:${origin.port}/`);
    assert.equal(res.status, 502);
    assert.match(String(res.headers['proxy-status']), /error=connection_refused; details=".*\(all 2 addresses failed\)"/);
    const log = await proxy.logs.exchange(res.headers['x-request-id']);
    assert.equal((log.attempts as Attempt[]).length, 2);
  });
});

describe('connectAny (Happy Eyeballs)', () => {
  it('interleaves address families starting with the first listed', () => {
    const order = interleave([
      { address: '::1', family: 6 }, { address: '::2', family: 6 },
      { address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 },
    ]);
    assert.deepEqual(order.map((a) => a.address), ['::1', '127.0.0.1', '::2', '127.0.0.2']);
  });

  it('starts the next address after the attempt delay when one hangs; the winner is used', async () => {
    const server = net.createServer((s) => s.end()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const hole = await blackholePort('127.0.0.2', port); // same port, another loopback address
    const attempts: Attempt[] = [];
    const started = performance.now();
    const socket = await connectAny([{ address: '127.0.0.2', family: 4 }, { address: '127.0.0.1', family: 4 }], port, 2_000, attempts);
    const ms = performance.now() - started;
    assert.equal(socket.remoteAddress, '127.0.0.1');
    socket.destroy();
    assert.deepEqual(attempts.map((a) => [a.address, a.outcome]), [['127.0.0.2', 'abandoned'], ['127.0.0.1', 'connected']]);
    assert.ok(ms >= ATTEMPT_DELAY_MS - 5 && ms < 1_500, `connected after ${ms} ms`);
    hole.close();
    server.close();
  });

  it('times out when no address answers within the deadline', async () => {
    const hole = await blackholePort();
    const stalled: Attempt[] = [];
    await assert.rejects(connectAny([{ address: '127.0.0.1', family: 4 }], hole.port, 300, stalled), { code: 'connect_timeout' });
    assert.equal(stalled[0]!.outcome, 'connect_timeout');
    hole.close();
  });

  it('an abort stops every attempt at once with the signal\'s reason', async () => {
    const hole = await blackholePort();
    const controller = new AbortController();
    const attempts: Attempt[] = [];
    const pending = connectAny([{ address: '127.0.0.1', family: 4 }], hole.port, 5_000, attempts, controller.signal);
    controller.abort(new Error('client left'));
    await assert.rejects(pending, /client left/);
    assert.equal(attempts[0]!.outcome, 'abandoned');
    assert.ok(attempts[0]!.ms >= 0);
    hole.close();
  });
});

describe('unreachable networks and hosts, as this machine reports them', () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await startProxy({ timeouts: { connectMs: 5000 } });
  });
  after(() => proxy.close());

  /** What a direct connect to address:port fails with here, or undefined if it does not fail fast. */
  async function directError(address: string): Promise<string | undefined> {
    const socket = net.connect({ host: address, port: 80 });
    socket.setTimeout(4_000, () => socket.destroy());
    return new Promise((resolve) => {
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
      socket.once('connect', () => socket.destroy());
      socket.once('close', () => resolve(undefined));
    });
  }

  const expected: Record<string, [string, string]> = {
    ENETUNREACH: ['net_unreachable', 'destination_ip_unroutable'],
    EHOSTUNREACH: ['host_unreachable', 'destination_ip_unroutable'],
  };

  it('an address the OS cannot route to is classified by its errno, not as a generic failure', async (t) => {
    let checked = 0;
    for (const address of ['255.255.255.255', '127.255.255.255', '100::1']) {
      const errno = await directError(address);
      if (!errno || !expected[errno]) continue;
      const [code, type] = expected[errno]!;
      const host = address.includes(':') ? `[${address}]` : address;
      const res = await viaProxy(proxy.port, `http://${host}:80/`);
      assert.equal(res.status, 502, `${address} (${errno})`);
      assert.match(String(res.headers['proxy-status']), new RegExp(`error=${type}`));
      const log = await proxy.logs.exchange(res.headers['x-request-id']);
      assert.equal(log.code, code, `${address} gave ${errno} directly`);
      checked++;
    }
    if (!checked) t.skip('this machine reports no ENETUNREACH/EHOSTUNREACH for the probe addresses (covered by the classifier unit tests)');
  });
});
