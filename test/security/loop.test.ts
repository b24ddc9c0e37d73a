// Loops: a request through hopwatch to one of its own listeners (HTTP forward, CONNECT and
// SOCKS5, to the HTTP, SOCKS and admin ports, by address or by a name resolving to it) is
// refused as loop_detected before any connection is made, and so is a request carrying hopwatch's
// own Via pseudonym. Nothing reaches the origin, and no second exchange starts inside hopwatch.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { rawExchange, viaProxy } from '../helpers/client.ts';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { RawSocks, failureReply, greeting, requestDomain, requestIpv4, requestIpv6 } from '../helpers/socks.ts';
import { parseSfMember, readHead, recordingOrigin, settle, type RecordingOrigin } from './support.ts';

const T = { timeout: 10_000 };

let dns: FakeDns;
let origin: RecordingOrigin;
let proxy: TestProxy;
/** This instance's Via pseudonym, as an origin sees it. */
let via: string;
before(async () => {
  dns = await startDnsServer({ 'self.test': { a: ['127.0.0.1'] } });
  origin = await recordingOrigin();
  proxy = await startProxy({ dns: { servers: [dns.address] }, socks: { enabled: true, port: 0 } });
  const res = await viaProxy(proxy.port, `${origin.origin}/learn-via`);
  via = String(res.headers.via);
  assert.match(via, /^1\.1 hopwatch-[0-9a-f]{6}$/);
});
after(async () => {
  await proxy.close();
  await origin.close();
  await dns.close();
});
beforeEach(() => origin.reset());

/** Exchange lines written from `since`: a loop that got through would add one from hopwatch itself. */
const exchangesSince = (since: number) => proxy.logs.lines.slice(since).filter((l) => l.msg === 'exchange');

/** Checks the loop refusal: 502, Proxy-Status proxy_loop_detected, its log line, and nothing else. */
async function assertLoopAnswer(raw: string, since: number, hop: string): Promise<void> {
  const head = readHead(raw);
  assert.equal(head.status, 502, head.body);
  const member = parseSfMember(head.headers['proxy-status'] ?? '');
  assert.equal(member.params.get('error'), 'proxy_loop_detected');
  const log = await proxy.logs.exchange(head.headers['x-request-id']);
  assert.equal(log.code, 'loop_detected');
  assert.equal(log.hop, hop);
  assert.equal(log.attempts, undefined, 'no connection was attempted');
  await settle(100);
  assert.deepEqual(exchangesSince(since).map((l) => l.id), [log.id], 'no exchange started inside hopwatch');
  assert.equal(origin.bytes().length, 0);
}

/** A SOCKS5 session (no auth) that sends `request`; resolves with the 10-byte reply. */
async function socks(request: Buffer): Promise<Buffer> {
  const client = await RawSocks.open(proxy.socksPort!);
  client.send(greeting(0x00));
  assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
  client.send(request);
  const reply = await client.read(10);
  client.destroy();
  return reply;
}

const listeners = () => [['HTTP', proxy.port], ['SOCKS', proxy.socksPort!], ['admin', Number(new URL(proxy.adminUrl).port)]] as const;

describe('loops: to hopwatch\'s own listeners', () => {
  // The admin port as well: through the proxy, a client would reach /metrics and the
  // loopback-only POST /reload from the proxy's own loopback address.
  for (const which of ['HTTP', 'SOCKS', 'admin'] as const) {
    for (const host of ['127.0.0.1', 'self.test', 'localhost']) {
      it(`HTTP forward to its own ${which} port via ${host}: 502 loop_detected`, T, async () => {
        const port = listeners().find(([name]) => name === which)![1];
        const since = proxy.logs.lines.length;
        const raw = await rawExchange(proxy.port, `GET http://${host}:${port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        await assertLoopAnswer(raw, since, 'connect');
      });

      it(`CONNECT to its own ${which} port via ${host}: 502 loop_detected`, T, async () => {
        const port = listeners().find(([name]) => name === which)![1];
        const since = proxy.logs.lines.length;
        const raw = await rawExchange(proxy.port, `CONNECT ${host}:${port} HTTP/1.1\r\nHost: x\r\n\r\n`);
        await assertLoopAnswer(raw, since, 'connect');
      });

      it(`SOCKS5 to its own ${which} port via ${host}: 0x02, loop_detected`, T, async () => {
        const port = listeners().find(([name]) => name === which)![1];
        const since = proxy.logs.lines.length;
        const reply = await socks(host === '127.0.0.1' ? requestIpv4(host, port) : requestDomain(host, port));
        assert.deepEqual(reply, failureReply(0x02));
        const log = await proxy.logs.nextExchange(since, (l) => l.protocol === 'socks5');
        assert.equal(log.code, 'loop_detected');
        assert.equal(log.attempts, undefined);
        await settle(100);
        assert.equal(exchangesSince(since).length, 1, 'no exchange started inside hopwatch');
      });
    }
  }
});

describe('loops: hopwatch\'s own Via pseudonym', () => {
  const cases: Array<[string, () => string]> = [
    ['alone', () => via],
    ['after another proxy', () => `1.0 squid, ${via}`],
    ['before another proxy, with a comment', () => `${via} (hopwatch), 1.1 edge`],
  ];
  for (const [what, value] of cases) {
    it(`forward with Via ${what}: 502 loop_detected at hop policy, nothing reaches the origin`, T, async () => {
      const since = proxy.logs.lines.length;
      const raw = await rawExchange(proxy.port, `GET ${origin.origin}/looped HTTP/1.1\r\nHost: x\r\nVia: ${value()}\r\nConnection: close\r\n\r\n`);
      await assertLoopAnswer(raw, since, 'policy');
      assert.equal(origin.connections(), 0);
    });
  }

  it('CONNECT with the pseudonym in Via: 502 loop_detected, no tunnel', T, async () => {
    const since = proxy.logs.lines.length;
    const raw = await rawExchange(proxy.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\nVia: ${via}\r\n\r\n`);
    await assertLoopAnswer(raw, since, 'policy');
    assert.equal(origin.connections(), 0);
  });

  it('another instance\'s pseudonym is not a loop', T, async () => {
    const other = via.replace(/[0-9a-f]{6}$/, (h) => (h === '000000' ? '000001' : '000000'));
    const res = await viaProxy(proxy.port, `${origin.origin}/other`, { headers: { Via: other } });
    assert.equal(res.status, 200);
  });
});

describe('loops: addresses that reach the own listeners without naming them (known gaps, reported)', () => {
  // src/policy/loop.ts isOwnAddress compares the resolved address with the bound host: 0.0.0.0
  // (which Linux connects to the local host) and IPv4-mapped IPv6 in hex form (what the WHATWG URL
  // parser turns [::ffff:127.0.0.1] into) pass, and the request comes back into hopwatch.
  const BUG = 'src/policy/loop.ts: 0.0.0.0 and ::ffff:7f00:1 are not recognised as the own listener';
  const forwards: Array<[string, string]> = [
    ['HTTP forward to 0.0.0.0', '0.0.0.0'],
    ['HTTP forward to [::ffff:127.0.0.1] (parsed to ::ffff:7f00:1)', '[::ffff:127.0.0.1]'],
  ];
  for (const [what, host] of forwards) {
    it(what, T, async () => {
      const since = proxy.logs.lines.length;
      const raw = await rawExchange(proxy.port, `GET http://${host}:${proxy.socksPort}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      await assertLoopAnswer(raw, since, 'connect');
    });
  }

  it('CONNECT to 0.0.0.0', T, async () => {
    const since = proxy.logs.lines.length;
    const raw = await rawExchange(proxy.port, `CONNECT 0.0.0.0:${proxy.port} HTTP/1.1\r\nHost: x\r\n\r\nGET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n\r\n`, { endAfterWrite: true });
    await assertLoopAnswer(raw, since, 'connect');
  });

  it('CONNECT to [::ffff:7f00:1]', T, async () => {
    const since = proxy.logs.lines.length;
    // Behind the CONNECT, a SOCKS5 greeting offering no method: a SOCKS listener reached through
    // the tunnel closes on it, so the exchange ends either way.
    const raw = await rawExchange(proxy.port, `CONNECT [::ffff:7f00:1]:${proxy.socksPort} HTTP/1.1\r\nHost: x\r\n\r\n\x05\x00`);
    await assertLoopAnswer(raw, since, 'connect');
  });

  it('SOCKS5 to 0.0.0.0', T, async () => {
    assert.deepEqual(await socks(requestIpv4('0.0.0.0', proxy.socksPort!)), failureReply(0x02));
  });

  it('SOCKS5 to the IPv4-mapped IPv6 address of the own listener is caught', T, async () => {
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x7f, 0, 0, 1];
    assert.deepEqual(await socks(requestIpv6(mapped, proxy.port)), failureReply(0x02));
  });
});
