// SOCKS5 bad input: garbage, truncated and oversized messages, stalled and vanished clients.
// Each is closed without a reply (or with the one it is owed), recorded with its code at the
// parse hop, and leaves the proxy serving.
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Exchange } from '../../../src/exchange/record.ts';
import { sample, scrape } from '../../helpers/metrics.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { greeting, RawSocks, requestIpv4 } from '../../helpers/socks.ts';
import { blackholePort, tcpServer } from '../../helpers/upstreams.ts';

const HANDSHAKE_MS = 300;
const T = { timeout: 8_000 };

let proxy: TestProxy;
before(async () => {
  proxy = await startProxy({ socks: { enabled: true, port: 0 }, timeouts: { handshakeMs: HANDSHAKE_MS } });
});
after(() => proxy.close());

async function open(t: TestContext): Promise<RawSocks> {
  const client = await RawSocks.open(proxy.socksPort!);
  t.after(() => client.destroy());
  return client;
}

/** The log line of the next exchange from this client's port. */
function logOf(client: RawSocks) {
  return proxy.logs.nextExchange(0, (l) => l.client_port === client.localPort);
}

const NO_AUTH_OK = [0x05, 0x00];

/** Resolves when an exchange to `port` reaches `hop` (published on hopwatch's diagnostics channel). */
function reached(hop: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const onHop = (message: unknown) => {
      const { exchange, hop: at } = message as { exchange: Exchange; hop: string };
      if (at !== hop || exchange.port !== port) return;
      diagnostics.unsubscribe('hopwatch:exchange:hop', onHop);
      resolve();
    };
    diagnostics.subscribe('hopwatch:exchange:hop', onHop);
  });
}

describe('SOCKS5 garbage is closed without a reply and recorded as socks_malformed', () => {
  const cases: Array<{ name: string; bytes: Buffer; end?: boolean; reply?: number[]; detail: RegExp }> = [
    { name: 'a SOCKS4 request', bytes: Buffer.from([0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0x00]), detail: /SOCKS4/ },
    { name: 'an HTTP request', bytes: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), detail: /HTTP/ },
    { name: 'a greeting with zero methods', bytes: Buffer.from([0x05, 0x00]), detail: /no methods/ },
    { name: 'a truncated greeting', bytes: Buffer.from([0x05, 0x03, 0x00]), end: true, detail: /truncated greeting/ },
    {
      name: 'a truncated request',
      bytes: Buffer.from([...greeting(0x00), 0x05, 0x01, 0x00, 0x01, 127]),
      end: true,
      reply: NO_AUTH_OK,
      detail: /truncated request/,
    },
    {
      name: 'an oversized greeting (junk behind it)',
      bytes: Buffer.concat([Buffer.from(greeting(0x00)), Buffer.alloc(300, 0x41)]),
      reply: NO_AUTH_OK,
      detail: /request with version 0x41/,
    },
    { name: 'a request with the wrong version', bytes: Buffer.from([...greeting(0x00), 0x04, 0x01, 0x00, 0x01]), reply: NO_AUTH_OK, detail: /SOCKS4/ },
  ];
  for (const c of cases) {
    it(c.name, T, async (t) => {
      const client = await open(t);
      client.send(c.bytes);
      if (c.end) client.socket.end();
      assert.deepEqual([...(await client.closed())], c.reply ?? []);
      const log = await logOf(client);
      assert.equal(log.protocol, 'socks5');
      assert.equal(log.code, 'socks_malformed');
      assert.equal(log.hop, 'parse');
      assert.equal(log.status, undefined, 'no reply code was sent');
      assert.match(String(log.detail), c.detail);
    });
  }

  it('still serves a proper session afterwards', T, async (t) => {
    const echo = await tcpServer((s) => s.pipe(s));
    t.after(() => echo.close());
    const client = await open(t);
    client.send(Buffer.concat([Buffer.from(greeting(0x00)), requestIpv4('127.0.0.1', echo.port), Buffer.from('alive')]));
    assert.deepEqual([...(await client.read(2))], NO_AUTH_OK);
    assert.equal((await client.read(10))[1], 0x00);
    assert.equal((await client.read(5)).toString(), 'alive');
  });
});

describe('SOCKS5 clients that stall or leave', () => {
  for (const [name, bytes, reply] of [
    ['stalls in its greeting', [0x05, 0x02], []],
    ['stalls before its request', greeting(0x00), NO_AUTH_OK],
    ['sends nothing at all', [], []],
  ] as const) {
    it(`a client that ${name} is closed after timeouts.handshakeMs (socks_handshake_timeout)`, T, async (t) => {
      const started = performance.now();
      const client = await open(t);
      if (bytes.length) client.send([...bytes]);
      assert.deepEqual([...(await client.closed())], [...reply]);
      assert.ok(performance.now() - started >= HANDSHAKE_MS - 20, 'not before the handshake timeout');
      const log = await logOf(client);
      assert.equal(log.code, 'socks_handshake_timeout');
      assert.equal(log.hop, 'parse');
      assert.equal(log.status, undefined);
    });
  }

  it('a client that connects and leaves without a byte is a client_abort at parse', T, async (t) => {
    const client = await open(t);
    client.socket.end();
    await client.closed();
    const log = await logOf(client);
    assert.equal(log.code, 'client_abort');
    assert.equal(log.hop, 'parse');
  });

  it('a client that hangs up while the upstream connects: client_abort at connect, the connect abandoned', T, async (t) => {
    const hole = await blackholePort();
    t.after(() => hole.close());
    const client = await open(t);
    client.send(Buffer.concat([Buffer.from(greeting(0x00)), requestIpv4('127.0.0.1', hole.port)]));
    const waiting = proxy.logs.waitFor((l) => l.msg === 'exchange' && l.target === `127.0.0.1:${hole.port}`);
    await reached('connect', hole.port);
    client.socket.end();
    const log = await waiting;
    assert.equal(log.code, 'client_abort');
    assert.equal(log.hop, 'connect');
    assert.equal((log.attempts as Array<{ outcome: string }>)[0]?.outcome, 'abandoned');
  });
});

describe('SOCKS5 after all that', () => {
  it('leaves no client socket open (every session above has logged, so each has closed)', T, async () => {
    assert.equal(sample(await scrape(proxy.adminUrl), 'hopwatch_connections_active', { listener: 'socks' }), 0);
  });
});
