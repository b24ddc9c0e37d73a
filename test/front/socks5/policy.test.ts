// Access policy on SOCKS5: every refusal is the full-length 0x02 reply, decided by the same
// shared hops as HTTP (names before DNS, every resolved address after it, tunnel ports, loops).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDnsServer, type FakeDns } from '../../helpers/dns-server.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { failureReply, greeting, RawSocks, requestDomain, requestIpv4 } from '../../helpers/socks.ts';
import { tcpServer, type Upstream } from '../../helpers/upstreams.ts';

let dns: FakeDns;
let proxy: TestProxy;
let echo: Upstream;
before(async () => {
  echo = await tcpServer((s) => s.pipe(s));
  dns = await startDnsServer({ 'inside.test': { a: ['127.0.0.2'] }, 'ok.test': { a: ['127.0.0.1'] } });
  proxy = await startProxy({
    socks: { enabled: true, port: 0 },
    dns: { servers: [dns.address] },
    access: { denyDestinations: ['.blocked.test', '127.0.0.2/32'], allowPorts: ['1024-65535'] },
  });
});
after(async () => {
  await proxy.close();
  await dns.close();
  await echo.close();
});

async function request(bytes: Buffer): Promise<{ reply: Buffer; client: RawSocks }> {
  const client = await RawSocks.open(proxy.socksPort!);
  client.send(greeting(0x00));
  assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
  client.send(bytes);
  return { reply: await client.read(10), client };
}

describe('SOCKS5 access policy', () => {
  // [what, host, port (0: the echo server's), code, hop]
  const cases: Array<[string, string, number, string, string]> = [
    ['a denied name, before DNS', 'api.blocked.test', 0, 'destination_denied', 'policy'],
    ['a name resolving into a denied range, after DNS', 'inside.test', 0, 'destination_ip_denied', 'connect'],
    ['a port outside access.allowPorts', 'ok.test', 25, 'port_denied', 'policy'],
  ];
  for (const [name, host, fixedPort, code, hop] of cases) {
    it(`${name}: 0x02, ${code} at hop ${hop}`, async () => {
      const port = fixedPort || echo.port;
      const target = `${host}:${port}`;
      const { reply, client } = await request(requestDomain(host, port));
      assert.deepEqual(reply, failureReply(0x02));
      const log = await proxy.logs.nextExchange(0, (l) => l.target === target);
      assert.equal(log.code, code);
      assert.equal(log.hop, hop);
      assert.equal(log.status, 0x02);
      assert.equal(log.protocol, 'socks5');
      client.destroy();
    });
  }

  it('a session to the proxy\'s own SOCKS listener is a loop: 0x02, loop_detected', async () => {
    const { reply, client } = await request(requestIpv4('127.0.0.1', proxy.socksPort!));
    assert.deepEqual(reply, failureReply(0x02));
    const log = await proxy.logs.nextExchange(0, (l) => l.target === `127.0.0.1:${proxy.socksPort}`);
    assert.equal(log.code, 'loop_detected');
    client.destroy();
  });

  it('an allowed destination still opens', async () => {
    const { reply, client } = await request(requestDomain('ok.test', echo.port));
    assert.equal(reply[1], 0x00);
    client.send(Buffer.from('ping'));
    assert.equal((await client.read(4)).toString(), 'ping');
    client.destroy();
  });
});
