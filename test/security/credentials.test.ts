// Credentials: with auth on, a password sent every way a client can send one (Proxy-Authorization,
// URL userinfo, SOCKS5 RFC 1929; right, wrong, malformed; forward, CONNECT, SOCKS5) never shows
// up in a log line, in /metrics or at the origin, in clear, base64 or percent-encoded, and the
// origin never receives a Proxy-Authorization field.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, beforeEach, describe, it, type TestContext } from 'node:test';
import { connectVia, rawExchange } from '../helpers/client.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { RawSocks, greeting, requestIpv4, userPass } from '../helpers/socks.ts';
import { readHead, readHeads, recordingOrigin, settle, tapRawLog, type RecordingOrigin } from './support.ts';

const T = { timeout: 10_000 };
const USER = 'alice';
const PASSWORD = 'Pr0xy-Secret-7731';
const WRONG = 'Wr0ng-Secret-4410';
const b64 = (text: string) => Buffer.from(text).toString('base64');
const basic = (user: string, password: string) => `Proxy-Authorization: Basic ${b64(`${user}:${password}`)}\r\n`;

/** Every form in which a password could leak: clear (whole or its start), in Basic credentials (whole or cut), URL-encoded. */
function secretForms(password: string): string[] {
  const credentials = b64(`${USER}:${password}`);
  return [password, password.slice(0, 8), password.toLowerCase(), credentials, credentials.slice(0, 16), encodeURIComponent(password)];
}
const SECRETS = [...secretForms(PASSWORD), ...secretForms(WRONG)];

let origin: RecordingOrigin;

/** Starts a proxy whose every log write is kept raw, for searching. */
async function proxyWithTap(config: Record<string, unknown>) {
  const proxy = await startProxy({ socks: { enabled: true, port: 0 }, ...config });
  return { proxy, tap: tapRawLog(proxy.logs) };
}

/** No secret in the log writes from `since`, in the origin's bytes, or in /metrics. */
async function assertNoSecrets(proxy: TestProxy, chunks: readonly string[], since: number): Promise<void> {
  await settle(50);
  const logText = chunks.slice(since).join('');
  const parsedText = proxy.logs.lines.map((l) => JSON.stringify(l)).join('\n');
  const upstream = origin.bytes().toString('latin1');
  const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  for (const secret of SECRETS) {
    assert.ok(!logText.includes(secret), `a log line holds ${JSON.stringify(secret)}: ${logText.split('\n').find((l) => l.includes(secret))}`);
    assert.ok(!parsedText.includes(secret), `a parsed log line holds ${JSON.stringify(secret)}`);
    assert.ok(!upstream.includes(secret), `the origin received ${JSON.stringify(secret)}`);
    assert.ok(!metrics.includes(secret), `/metrics holds ${JSON.stringify(secret)}`);
  }
  assert.ok(!/proxy-authorization/i.test(upstream), 'the origin received a Proxy-Authorization field');
  assert.ok(!/^authorization:/im.test(upstream), 'URL userinfo was turned into an Authorization field');
}

before(async () => {
  origin = await recordingOrigin();
});
after(() => origin.close());
beforeEach(() => origin.reset());

describe('credentials with auth on: never logged, never forwarded', () => {
  let proxy: TestProxy;
  let chunks: string[];
  let since = 0;
  before(async () => {
    ({ proxy, tap: { chunks } } = await proxyWithTap({ auth: { users: [{ username: USER, password: PASSWORD }] } }));
  });
  after(() => proxy.close());
  beforeEach(() => {
    since = chunks.length;
  });

  /** Sends a raw forward request; returns its status once its log line is written. */
  async function forward(target: string, fields: string, expected: number): Promise<void> {
    const head = readHead(await rawExchange(proxy.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${fields}Connection: close\r\n\r\n`));
    assert.equal(head.status, expected, head.body);
    await proxy.logs.exchange(head.headers['x-request-id']);
    await assertNoSecrets(proxy, chunks, since);
  }

  it('forward, right password in Proxy-Authorization: served, and the field stays at the proxy', T, async () => {
    await forward(`${origin.origin}/ok`, basic(USER, PASSWORD), 200);
    assert.equal(origin.requests[0]?.url, '/ok');
  });

  it('forward, wrong password / unknown user: 407, the auth_failure event names the user only', T, async () => {
    await forward(`${origin.origin}/x`, basic(USER, WRONG), 407);
    await forward(`${origin.origin}/x`, basic('mallory', PASSWORD), 407);
    const events = proxy.logs.lines.filter((l) => l.msg === 'auth_failure').map((l) => [l.username, l.reason]);
    assert.deepEqual(events.slice(-2), [[USER, 'wrong_password'], ['mallory', 'unknown_user']]);
  });

  it('forward, malformed credentials holding the password: 407 auth_malformed', T, async () => {
    await forward(`${origin.origin}/x`, `Proxy-Authorization: Basic !${PASSWORD}\r\n`, 407);
    await forward(`${origin.origin}/x`, `Proxy-Authorization: Basic ${b64(PASSWORD)}\r\n`, 407);
  });

  it('forward, Proxy-Authorization sent twice and nominated by Connection: served, neither copy forwarded', T, async () => {
    await forward(`${origin.origin}/twice`, `${basic(USER, PASSWORD)}${basic(USER, WRONG)}Connection: Proxy-Authorization\r\n`, 200);
  });

  it('forward, URL userinfo beside the right header: served; the origin gets the host without userinfo', T, async () => {
    await forward(`http://${USER}:${PASSWORD}@127.0.0.1:${origin.port}/ui`, basic(USER, PASSWORD), 200);
    const host = origin.requests[0]!.rawHeaders[1];
    assert.equal(host, `127.0.0.1:${origin.port}`);
  });

  it('forward, URL userinfo (right or wrong) is not a login: 407 auth_missing', T, async () => {
    await forward(`http://${USER}:${PASSWORD}@127.0.0.1:${origin.port}/ui`, '', 407);
    await forward(`http://${USER}:${WRONG}@127.0.0.1:${origin.port}/ui`, '', 407);
    await forward(`http://${encodeURIComponent(PASSWORD)}@127.0.0.1:${origin.port}/ui`, '', 407);
  });

  it('forward with a body and Expect: 100-continue: the body goes on, the credentials do not', T, async () => {
    const body = 'payload-bytes';
    const raw = await rawExchange(
      proxy.port,
      `POST ${origin.origin}/up HTTP/1.1\r\nHost: x\r\n${basic(USER, PASSWORD)}Expect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.deepEqual(readHeads(raw).map((h) => h.status), [100, 200]);
    assert.equal(origin.requests[0]?.body, body);
    await assertNoSecrets(proxy, chunks, since);
  });

  it('CONNECT, right password: the tunnel carries only what the client sends through it', T, async (t: TestContext) => {
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${origin.port}`, basic(USER, PASSWORD));
    t.after(() => tunnel.socket.destroy());
    assert.equal(tunnel.status, 200);
    tunnel.socket.write(`GET /in-tunnel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await once(tunnel.socket, 'end');
    assert.equal(origin.requests[0]?.url, '/in-tunnel');
    await proxy.logs.nextExchange(0, (l) => l.protocol === 'connect' && l.code === 'ok');
    await assertNoSecrets(proxy, chunks, since);
  });

  it('CONNECT, wrong password: 407', T, async (t: TestContext) => {
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${origin.port}`, basic(USER, WRONG));
    t.after(() => tunnel.socket.destroy());
    assert.equal(tunnel.status, 407);
    await proxy.logs.exchange(tunnel.headers['x-request-id']);
    await assertNoSecrets(proxy, chunks, since);
    assert.equal(origin.connections(), 0);
  });

  it('CONNECT with user:password@ in the authority: 400 invalid_target, nothing echoed', T, async () => {
    const head = readHead(await rawExchange(proxy.port, `CONNECT ${USER}:${PASSWORD}@127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n${basic(USER, PASSWORD)}\r\n`));
    assert.equal(head.status, 400);
    await proxy.logs.exchange(head.headers['x-request-id']);
    await assertNoSecrets(proxy, chunks, since);
  });

  /** A SOCKS5 login; resolves with the RFC 1929 status and the open client. */
  async function socksLogin(user: string, password: string): Promise<{ status: number; client: RawSocks }> {
    const client = await RawSocks.open(proxy.socksPort!);
    client.send(greeting(0x02));
    assert.deepEqual([...(await client.read(2))], [0x05, 0x02]);
    client.send(userPass(user, password));
    const reply = await client.read(2);
    return { status: reply[1]!, client };
  }

  it('SOCKS5, right password: the tunnel works and the password is nowhere', T, async () => {
    const { status, client } = await socksLogin(USER, PASSWORD);
    assert.equal(status, 0x00);
    client.send(requestIpv4('127.0.0.1', origin.port));
    assert.equal((await client.read(10))[1], 0x00);
    client.send(Buffer.from('GET /socks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    await client.closed();
    assert.equal(origin.requests[0]?.url, '/socks');
    await proxy.logs.nextExchange(since, (l) => l.protocol === 'socks5' && l.user === USER);
    await assertNoSecrets(proxy, chunks, since);
  });

  it('SOCKS5, wrong password and unknown user: status 0x01, the password is nowhere', T, async () => {
    for (const [user, password] of [[USER, WRONG], ['mallory', PASSWORD]] as const) {
      const { status, client } = await socksLogin(user, password);
      assert.equal(status, 0x01);
      await client.closed();
    }
    await proxy.logs.nextExchange(since, (l) => l.protocol === 'socks5');
    await assertNoSecrets(proxy, chunks, since);
  });
});

describe('credentials with auth off: still never forwarded or logged', () => {
  let proxy: TestProxy;
  let chunks: string[];
  before(async () => {
    ({ proxy, tap: { chunks } } = await proxyWithTap({}));
  });
  after(() => proxy.close());

  it('Proxy-Authorization and URL userinfo on a proxy without users: served, neither reaches the origin', T, async () => {
    const since = chunks.length;
    const raw = await rawExchange(proxy.port, `GET http://${USER}:${PASSWORD}@127.0.0.1:${origin.port}/open HTTP/1.1\r\nHost: x\r\n${basic(USER, PASSWORD)}Connection: close\r\n\r\n`);
    assert.equal(readHead(raw).status, 200);
    await assertNoSecrets(proxy, chunks, since);
  });

  it('SOCKS5 username/password on a proxy without users: the name labels the session, the password is nowhere', T, async () => {
    const since = chunks.length;
    const client = await RawSocks.open(proxy.socksPort!);
    client.send(greeting(0x02));
    await client.read(2);
    client.send(userPass(USER, PASSWORD));
    assert.deepEqual([...(await client.read(2))], [0x01, 0x00]);
    client.send(requestIpv4('127.0.0.1', origin.port));
    assert.equal((await client.read(10))[1], 0x00);
    client.destroy();
    const line = await proxy.logs.nextExchange(since, (l) => l.protocol === 'socks5');
    assert.equal(line.user, USER);
    await assertNoSecrets(proxy, chunks, since);
  });
});

describe('credentials: known leaks (bugs outside the front-end, reported)', () => {
  let proxy: TestProxy;
  let chunks: string[];
  before(async () => {
    ({ proxy, tap: { chunks } } = await proxyWithTap({ auth: { users: [{ username: USER, password: PASSWORD }] } }));
  });
  after(() => proxy.close());

  const leaks: Array<[string, string, string]> = [
    [
      'Proxy-Authorization: user:password with no scheme',
      `GET ORIGIN/x HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${USER}:${PASSWORD}\r\nConnection: close\r\n\r\n`,
      'src/policy/auth.ts parseProxyAuthorization echoes the first 20 characters of the value as the "scheme" into the detail (log, Proxy-Status, body)',
    ],
    [
      'Proxy-Authorization: base64 credentials with no scheme',
      `GET ORIGIN/x HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${b64(`${USER}:${PASSWORD}`)}\r\nConnection: close\r\n\r\n`,
      'the same: 20 characters of the base64 credentials reach the detail',
    ],
    [
      'CONNECT password@host:port (userinfo without a colon)',
      `CONNECT ${PASSWORD}@nx.invalid:443 HTTP/1.1\r\nHost: x\r\n${basic(USER, PASSWORD)}\r\n`,
      'src/front/target.ts parseConnectTarget takes "password@host" as the host: logged as target and detail, and looked up in DNS',
    ],
  ];
  for (const [what, request, bug] of leaks) {
    it(what, T, async () => {
      const since = chunks.length;
      const head = readHead(await rawExchange(proxy.port, request.replace('ORIGIN', origin.origin)));
      await proxy.logs.exchange(head.headers['x-request-id']);
      assert.ok(!SECRETS.some((s) => head.headers['proxy-status']?.includes(s) || head.body.includes(s)), 'the answer echoes the credentials');
      await assertNoSecrets(proxy, chunks, since);
    });
  }
});
