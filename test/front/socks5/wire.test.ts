// SOCKS5 requests byte by byte: optimistic data, IPv6 literals, the full-length replies for
// commands, address types and targets hopwatch does not serve, and the log line of each.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startDnsServer, type FakeDns } from '../../helpers/dns-server.ts';
import { sample, scrape } from '../../helpers/metrics.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { failureReply, greeting, RawSocks, requestDomain, requestIpv4, requestIpv6 } from '../../helpers/socks.ts';
import { tcpServer, type Upstream } from '../../helpers/upstreams.ts';

const T = { timeout: 8_000 };
/** Set by a test to hold the next exchange at the connect hop. */
let holdConnect: (() => Promise<void>) | undefined;

let dns: FakeDns;
let proxy: TestProxy;
before(async () => {
  dns = await startDnsServer();
  proxy = await startProxy(
    { socks: { enabled: true, port: 0 }, dns: { servers: [dns.address] }, access: { denyDestinations: ['2001:db8::/32'] } },
    { interceptors: [['connect', async () => { await holdConnect?.(); return undefined; }]] },
  );
});
after(async () => {
  await proxy.close();
  await dns.close();
});

async function echoServer(t: TestContext): Promise<Upstream> {
  const echo = await tcpServer((s) => s.pipe(s));
  t.after(() => echo.close());
  return echo;
}

async function open(t: TestContext, port = proxy.socksPort!): Promise<RawSocks> {
  const client = await RawSocks.open(port);
  t.after(() => client.destroy());
  return client;
}

/** Greets with no-auth and checks the method reply. */
async function greeted(t: TestContext): Promise<RawSocks> {
  const client = await open(t);
  client.send(greeting(0x00));
  assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
  return client;
}

const logFor = (target: string) => proxy.logs.nextExchange(0, (l) => l.target === target);

describe('SOCKS5 CONNECT on the wire', () => {
  it('delivers data sent in the same packet as the request, after a success reply naming the upstream socket', T, async (t) => {
    const echo = await echoServer(t);
    const client = await open(t);
    client.send(Buffer.concat([Buffer.from(greeting(0x00)), requestIpv4('127.0.0.1', echo.port), Buffer.from('optimistic;')]));
    assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
    const success = await client.read(10);
    assert.deepEqual([...success.subarray(0, 8)], [0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1]);
    assert.equal(success.readUInt16BE(8), echo.sockets[0]?.remotePort, 'BND.PORT is the upstream socket\'s local port');
    assert.equal((await client.read(11)).toString(), 'optimistic;');
    client.socket.end();
    const log = await logFor(`127.0.0.1:${echo.port}`);
    assert.equal(log.code, 'ok');
    assert.equal(log.status, 0);
    assert.deepEqual(log.bytes, { from_client: 11, to_upstream: 11, from_upstream: 11, to_client: 11 });
  });

  it('keeps bytes sent after the request but before the reply, in order', T, async (t) => {
    const echo = await echoServer(t);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = new Promise<void>((resolve) => {
      holdConnect = () => {
        holdConnect = undefined;
        resolve();
        return released;
      };
    });
    t.after(release);
    const client = await greeted(t);
    client.send(requestIpv4('127.0.0.1', echo.port));
    await held;
    // The bytes must be with the proxy before it goes on, and no event says so: a short pause.
    client.socket.write('early;', () => setTimeout(release, 20));
    assert.equal((await client.read(10))[1], 0x00);
    client.send(Buffer.from('late;'));
    assert.equal((await client.read(11)).toString(), 'early;late;');
  });

  it('serves a client that sends its request and data, then shuts down its side at once', T, async (t) => {
    const echo = await echoServer(t);
    const client = await open(t);
    client.send(Buffer.concat([Buffer.from(greeting(0x00)), requestIpv4('127.0.0.1', echo.port), Buffer.from('and goodbye')]));
    client.socket.end();
    const rest = await client.closed();
    assert.deepEqual([...rest.subarray(0, 4)], [0x05, 0x00, 0x05, 0x00]);
    assert.equal(rest.subarray(12).toString(), 'and goodbye');
    const log = await logFor(`127.0.0.1:${echo.port}`);
    assert.equal(log.code, 'ok');
    assert.equal(log.end, 'client_closed');
  });

  it('round-trips IPv6 literals exactly', T, async (t) => {
    const cases: Array<[number[], string]> = [
      [[0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 0x01], '2001:db8::1'],
      [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], '2001:db8::1:0:0:1'],
      [[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0], '2001:db8:1:1:1:1:1:0'],
    ];
    for (const [bytes, text] of cases) {
      const client = await greeted(t);
      client.send(requestIpv6(bytes, 443));
      assert.deepEqual(await client.read(10), failureReply(0x02), 'denied by access.denyDestinations');
      const log = await logFor(`[${text}]:443`);
      assert.equal(log.code, 'destination_ip_denied');
      assert.equal(log.hop, 'policy');
      assert.equal(log.status, 0x02);
    }
  });

  it('connects to ::1 and answers with the 22-byte IPv6 form of the reply', T, async (t) => {
    const server = net.createServer((s) => s.pipe(s).on('error', () => {}));
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(0, '::1', () => resolve(true));
    });
    if (!listening) return t.skip('no IPv6 loopback on this host');
    t.after(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const client = await greeted(t);
    client.send(requestIpv6([...Array<number>(15).fill(0), 1], port));
    const success = await client.read(22);
    assert.deepEqual([...success.subarray(0, 20)], [0x05, 0x00, 0x00, 0x04, ...Array<number>(15).fill(0), 1]);
    client.send(Buffer.from('v6'));
    assert.equal((await client.read(2)).toString(), 'v6');
    client.socket.end();
    const log = await logFor(`[::1]:${port}`);
    assert.equal(log.code, 'ok');
    assert.equal(log.upstream_ip, '::1');
  });
});

describe('SOCKS5 requests hopwatch does not serve: full-length replies', () => {
  for (const [command, name] of [[0x02, 'BIND'], [0x03, 'UDP_ASSOCIATE'], [0x09, '0x09']] as const) {
    it(`${name} gets 0x07`, T, async (t) => {
      const before = await scrape(proxy.adminUrl);
      const client = await greeted(t);
      client.send(requestIpv4('127.0.0.1', 4000 + command, command));
      assert.deepEqual(await client.read(10), failureReply(0x07));
      assert.equal((await client.closed()).length, 0);
      const log = await logFor(`127.0.0.1:${4000 + command}`);
      assert.equal(log.method, name);
      assert.equal(log.code, 'socks_command_unsupported');
      assert.equal(log.hop, 'parse');
      assert.equal(log.status, 0x07);
      const labels = { protocol: 'socks5', code: 'socks_command_unsupported', hop: 'parse' };
      assert.equal(sample(await scrape(proxy.adminUrl), 'hopwatch_requests_total', labels) - sample(before, 'hopwatch_requests_total', labels), 1);
    });
  }

  it('an unknown address type gets 0x08', T, async (t) => {
    const since = proxy.logs.lines.length;
    const client = await greeted(t);
    client.send([0x05, 0x01, 0x00, 0x05, 1, 2, 3, 4, 0, 80]);
    assert.deepEqual(await client.read(10), failureReply(0x08));
    const log = await proxy.logs.nextExchange(since);
    assert.equal(log.code, 'socks_address_type_unsupported');
    assert.equal(log.hop, 'parse');
    assert.equal(log.status, 0x08);
  });

  it('port 0 gets 0x01 (invalid_target)', T, async (t) => {
    const client = await greeted(t);
    client.send(requestDomain('zero.test', 0));
    assert.deepEqual(await client.read(10), failureReply(0x01));
    const log = await logFor('zero.test:0');
    assert.equal(log.code, 'invalid_target');
    assert.equal(log.hop, 'parse');
    assert.equal(log.status, 0x01);
  });

  it('a 253-character name (the longest DNS name) is read whole and answered as a DNS failure', T, async (t) => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    assert.equal(name.length, 253);
    const client = await greeted(t);
    client.send(requestDomain(name, 443));
    assert.deepEqual(await client.read(10), failureReply(0x04));
    const log = await logFor(`${name}:443`);
    assert.equal(log.hop, 'dns');
    assert.equal(log.status, 0x04);
  });

  it('a 255-byte domain name (SOCKS allows it, DNS does not) is read whole and refused as invalid_target', T, async (t) => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`;
    assert.equal(name.length, 255);
    const client = await greeted(t);
    client.send(requestDomain(name, 443));
    assert.deepEqual(await client.read(10), failureReply(0x01));
    const log = await proxy.logs.nextExchange(0, (l) => l.protocol === 'socks5' && l.code === 'invalid_target' && l.client_port === client.localPort);
    assert.equal(log.hop, 'parse');
  });
});
