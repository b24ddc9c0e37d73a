// SOCKS5 method negotiation and RFC 1929 authentication byte by byte, sessions refused before
// their handshake (connection limit, client not allowed), and the socksv5 regression: many
// clients authenticating at once with fragmented, interleaved bytes each get their own verdict.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { sample, scrape } from '../../helpers/metrics.ts';
import { startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { failureReply, greeting, RawSocks, requestIpv4, userPass } from '../../helpers/socks.ts';
import { tcpServer, type Upstream } from '../../helpers/upstreams.ts';

const T = { timeout: 10_000 };
const CLIENTS = 50;
const users = Array.from({ length: CLIENTS }, (_, i) => ({ username: `user${i}`, password: `secret ${i}` }));

const socks = { enabled: true, port: 0 };
let authProxy: TestProxy;
let openProxy: TestProxy;
let limitProxy: TestProxy;
let deniedProxy: TestProxy;
let echo: Upstream;
before(async () => {
  echo = await tcpServer((s) => s.pipe(s));
  [authProxy, openProxy, limitProxy, deniedProxy] = await Promise.all([
    startProxy({ socks, auth: { users } }),
    startProxy({ socks }),
    startProxy({ socks, limits: { maxConnections: 1 } }),
    startProxy({ socks, auth: { users }, access: { allowClients: ['10.0.0.0/8'] } }),
  ]);
});
after(async () => {
  await Promise.all([authProxy, openProxy, limitProxy, deniedProxy].map((p) => p.close()));
  await echo.close();
});

async function open(t: TestContext, proxy: TestProxy): Promise<RawSocks> {
  const client = await RawSocks.open(proxy.socksPort!);
  t.after(() => client.destroy());
  return client;
}

const logOf = (proxy: TestProxy, client: RawSocks) => proxy.logs.nextExchange(0, (l) => l.client_port === client.localPort);
const bytes = async (client: RawSocks, n: number) => [...(await client.read(n))];

describe('SOCKS5 authentication', () => {
  it('a client offering only no-auth gets 05 FF: auth_missing, with its auth_failure event and metric', T, async (t) => {
    const before = await scrape(authProxy.adminUrl);
    const client = await open(t, authProxy);
    client.send(greeting(0x00, 0x01));
    assert.deepEqual(await bytes(client, 2), [0x05, 0xff]);
    assert.equal((await client.closed()).length, 0);
    const log = await logOf(authProxy, client);
    assert.equal(log.code, 'auth_missing');
    assert.equal(log.hop, 'auth');
    assert.equal(log.status, 0xff);
    const event = await authProxy.logs.waitFor((l) => l.msg === 'auth_failure' && l.id === log.id);
    assert.equal(event.reason, 'missing');
    const text = await scrape(authProxy.adminUrl);
    const delta = (name: string, labels: Record<string, string>) => sample(text, name, labels) - sample(before, name, labels);
    assert.equal(delta('hopwatch_auth_failures_total', { protocol: 'socks5', reason: 'missing' }), 1);
    assert.equal(delta('hopwatch_requests_total', { protocol: 'socks5', code: 'auth_missing', hop: 'auth' }), 1);
  });

  it('accepted credentials: 01 00, then the session opens with the user on the record', T, async (t) => {
    const client = await open(t, authProxy);
    client.send(Buffer.concat([Buffer.from(greeting(0x00, 0x02)), userPass('user3', 'secret 3')]));
    assert.deepEqual(await bytes(client, 4), [0x05, 0x02, 0x01, 0x00]);
    client.send(Buffer.concat([requestIpv4('127.0.0.1', echo.port), Buffer.from('hi')]));
    assert.equal((await client.read(10))[1], 0x00);
    assert.equal((await client.read(2)).toString(), 'hi');
    client.socket.end();
    const log = await logOf(authProxy, client);
    assert.equal(log.code, 'ok');
    assert.equal(log.user, 'user3');
  });

  for (const [name, username, password, reason] of [
    ['a wrong password', 'user1', 'guess', 'wrong_password'],
    ['an empty password', 'user1', '', 'wrong_password'],
    ['a non-UTF-8 username', Buffer.from([0xff, 0xfe, 0x41]), 'x', 'unknown_user'],
  ] as const) {
    it(`${name}: 01 01 and close, auth_invalid (${reason})`, T, async (t) => {
      const client = await open(t, authProxy);
      client.send(Buffer.concat([Buffer.from(greeting(0x02)), userPass(username, password)]));
      assert.deepEqual(await bytes(client, 4), [0x05, 0x02, 0x01, 0x01]);
      assert.equal((await client.closed()).length, 0);
      const log = await logOf(authProxy, client);
      assert.equal(log.code, 'auth_invalid');
      assert.equal(log.status, 0x01);
      const event = await authProxy.logs.waitFor((l) => l.msg === 'auth_failure' && l.id === log.id);
      assert.equal(event.reason, reason);
      assert.equal(event.username, typeof username === 'string' ? username : '\ufffd\ufffdA');
      assert.equal(event.password, undefined);
    });
  }

  for (const [name, message] of [
    ['a wrong sub-negotiation version', Buffer.from([0x05, 0x01, 0x41, 0x00])],
    ['an empty username', Buffer.from([0x01, 0x00, 0x00])],
  ] as const) {
    it(`${name} is closed without a status: socks_malformed`, T, async (t) => {
      const client = await open(t, authProxy);
      client.send(Buffer.concat([Buffer.from(greeting(0x02)), message]));
      assert.deepEqual([...(await client.closed())], [0x05, 0x02]);
      const log = await logOf(authProxy, client);
      assert.equal(log.code, 'socks_malformed');
      assert.equal(log.hop, 'parse');
    });
  }

  it(`${CLIENTS} clients sending fragmented, interleaved credentials at once each get their own verdict`, T, async (t) => {
    const before = await scrape(authProxy.adminUrl);
    const clients = await Promise.all(users.map(() => open(t, authProxy)));
    // Even clients know their password, odd ones send their neighbour's.
    const wire = clients.map((_, i) =>
      Buffer.concat([Buffer.from(greeting(0x02)), userPass(`user${i}`, users[i % 2 ? i - 1 : i]!.password)]),
    );
    for (const client of clients) client.socket.setNoDelay(true);
    const longest = Math.max(...wire.map((w) => w.length));
    for (let at = 0; at < longest; at++) {
      clients.forEach((client, i) => at < wire[i]!.length && client.send(wire[i]!.subarray(at, at + 1)));
      await new Promise(setImmediate); // each byte in its own segment, every client's mixed with the others'
    }
    await Promise.all(clients.map(async (client, i) => {
      assert.deepEqual(await bytes(client, 4), [0x05, 0x02, 0x01, i % 2 ? 0x01 : 0x00], `client ${i}`);
      if (i % 2) return;
      client.send(Buffer.concat([requestIpv4('127.0.0.1', echo.port), Buffer.from(`me=${i}`)]));
      assert.equal((await client.read(10))[1], 0x00);
      assert.equal((await client.read(`me=${i}`.length)).toString(), `me=${i}`);
      client.socket.end();
    }));
    const logs = await Promise.all(clients.map((client) => logOf(authProxy, client)));
    logs.forEach((log, i) => {
      assert.equal(log.code, i % 2 ? 'auth_invalid' : 'ok', `client ${i}`);
      assert.equal(log.user, i % 2 ? undefined : `user${i}`, `client ${i}`);
    });
    const failures = sample(await scrape(authProxy.adminUrl), 'hopwatch_auth_failures_total', { protocol: 'socks5', reason: 'wrong_password' });
    assert.equal(failures - sample(before, 'hopwatch_auth_failures_total', { protocol: 'socks5', reason: 'wrong_password' }), CLIENTS / 2);
  });
});

describe('SOCKS5 without configured users', () => {
  it('a client offering only username/password is let in, its name taken as the user', T, async (t) => {
    const client = await open(t, openProxy);
    client.send(Buffer.concat([Buffer.from(greeting(0x02)), userPass('whoever', 'anything'), requestIpv4('127.0.0.1', echo.port)]));
    assert.deepEqual(await bytes(client, 4), [0x05, 0x02, 0x01, 0x00]);
    assert.equal((await client.read(10))[1], 0x00);
    client.socket.end();
    const log = await logOf(openProxy, client);
    assert.equal(log.code, 'ok');
    assert.equal(log.user, 'whoever');
  });

  it('a client offering only methods hopwatch lacks (GSSAPI) gets 05 FF, with no auth_failure event', T, async (t) => {
    const client = await open(t, openProxy);
    client.send(greeting(0x01));
    assert.deepEqual([...(await client.closed())], [0x05, 0xff]);
    const log = await logOf(openProxy, client);
    assert.equal(log.code, 'auth_missing');
    assert.equal(log.status, 0xff);
    assert.match(String(log.detail), /offered 0x01/);
    assert.ok(!openProxy.logs.lines.some((l) => l.msg === 'auth_failure'));
  });
});

describe('SOCKS5 sessions refused before their handshake get the refusal as the request reply', () => {
  it('over limits.maxConnections: 0x01, connection_limit at hop client', T, async (t) => {
    const first = await open(t, limitProxy);
    first.send(greeting(0x00));
    await first.read(2); // admitted: it holds the only place
    const client = await open(t, limitProxy);
    client.send(Buffer.concat([Buffer.from(greeting(0x00)), requestIpv4('127.0.0.1', echo.port)]));
    assert.deepEqual(await bytes(client, 2), [0x05, 0x00]);
    assert.deepEqual(await client.read(10), failureReply(0x01));
    const log = await logOf(limitProxy, client);
    assert.equal(log.code, 'connection_limit');
    assert.equal(log.hop, 'client');
    assert.equal(log.status, 0x01);
  });

  it('a client outside access.allowClients: credentials not checked, 0x02, client_denied', T, async (t) => {
    const client = await open(t, deniedProxy);
    client.send(Buffer.concat([Buffer.from(greeting(0x02)), userPass('user0', 'wrong'), requestIpv4('127.0.0.1', echo.port)]));
    assert.deepEqual(await bytes(client, 4), [0x05, 0x02, 0x01, 0x00]);
    assert.deepEqual(await client.read(10), failureReply(0x02));
    const log = await logOf(deniedProxy, client);
    assert.equal(log.code, 'client_denied');
    assert.equal(log.hop, 'client');
    assert.equal(log.status, 0x02);
    assert.equal(log.user, undefined);
    assert.ok(!deniedProxy.logs.lines.some((l) => l.msg === 'auth_failure'), 'no credentials were judged');
  });
});
