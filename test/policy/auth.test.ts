// Proxy authentication on the HTTP forward and CONNECT front-ends, over real loopback sockets
// with real clients (node:http, raw sockets, undici's ProxyAgent, curl): each kind of refusal
// gets its own code, the same 407 challenge and its own auth_failure event and metric; good
// credentials (plain or scrypt-hashed) pass, and never travel past the proxy or into a log.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, describe, it, mock } from 'node:test';
import { ProxyAgent, fetch } from 'undici';
import { Authenticator, parseProxyAuthorization } from '../../src/policy/auth.ts';
import { hashPassword, isHashed, parseHash, verifyPassword } from '../../src/policy/passwords.ts';
import { connectVia, viaProxy, type ProxiedResponse } from '../helpers/client.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { httpOrigin, type Upstream } from '../helpers/upstreams.ts';

const T = { timeout: 15_000 };

const ALICE = { username: 'alice', password: 'plain-secret' };
/** Stored as an scrypt hash in the config. */
const BOB = { username: 'bob', password: 'bob-hashed-secret' };
/** Characters a proxy URL must percent-encode. */
const CAROL = { username: 'carol', password: 'p@ss:w/rd' };
const DORA = { username: 'dora', password: 'pässwörd-🔑' };
const WRONG = 'not-the-password';
/** Every password the tests send, right or wrong: none may appear in any log line. */
const SECRETS = [ALICE.password, BOB.password, CAROL.password, DORA.password, WRONG];

const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let proxy: TestProxy;
let origin: Upstream;
/** Every request the origin received, with its headers: proof of what got past the proxy. */
const seen: Seen[] = [];

before(async () => {
  origin = await httpOrigin((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      res.end(`origin saw ${req.url}${body ? ` with ${body}` : ''}`);
    });
  });
  proxy = await startProxy({
    auth: {
      users: [
        ALICE,
        { username: BOB.username, password: await hashPassword(BOB.password) },
        CAROL,
        DORA,
      ],
    },
  });
});
after(async () => {
  await proxy.close();
  await origin.close();
});

/** Runs `action` and returns the change of hopwatch_auth_failures_total{protocol,reason}. */
async function authFailureDelta<R>(protocol: string, reason: string, action: () => Promise<R>): Promise<{ result: R; delta: number }> {
  const metric = 'hopwatch_auth_failures_total';
  const before = sample(await scrape(proxy.adminUrl), metric, { protocol, reason });
  const result = await action();
  const after = sample(await scrape(proxy.adminUrl), metric, { protocol, reason });
  return { result, delta: after - before };
}

/**
 * The first access line written from index `since` on that matches. (LogCapture.nextExchange
 * falls back to waitFor, which also looks at lines before `since`.)
 */
function exchangeSince(since: number, predicate: (l: LogLine) => boolean): Promise<LogLine> {
  return proxy.logs.waitFor((l) => l.msg === 'exchange' && proxy.logs.lines.indexOf(l) >= since && predicate(l), 'a new matching exchange line');
}

const authEvent = (id: unknown) => proxy.logs.waitFor((l) => l.msg === 'auth_failure' && l.id === id, `auth_failure event for ${String(id)}`);

/** Every refusal, by the header sent: the code the client and the access line see, and the event's reason and username. */
const REFUSALS: Array<{ name: string; header: string | undefined; code: string; reason: string; username: string | undefined }> = [
  { name: 'no credentials', header: undefined, code: 'auth_missing', reason: 'missing', username: undefined },
  { name: 'Basic with bad base64', header: 'Basic !!!', code: 'auth_malformed', reason: 'malformed', username: undefined },
  { name: 'Basic without a colon', header: `Basic ${Buffer.from('alice').toString('base64')}`, code: 'auth_malformed', reason: 'malformed', username: undefined },
  { name: 'Basic with nothing after it', header: 'Basic', code: 'auth_malformed', reason: 'malformed', username: undefined },
  { name: 'a Bearer token', header: 'Bearer xyz', code: 'auth_scheme_unsupported', reason: 'unsupported_scheme', username: undefined },
  { name: 'a wrong plain password', header: basic(ALICE.username, WRONG), code: 'auth_invalid', reason: 'wrong_password', username: 'alice' },
  { name: 'a wrong hashed password', header: basic(BOB.username, WRONG), code: 'auth_invalid', reason: 'wrong_password', username: 'bob' },
  { name: 'an unknown user', header: basic('mallory', WRONG), code: 'auth_invalid', reason: 'unknown_user', username: 'mallory' },
  { name: 'another user\'s password', header: basic(ALICE.username, BOB.password), code: 'auth_invalid', reason: 'wrong_password', username: 'alice' },
];

const PROXY_STATUS_407 = /^hopwatch; error=http_request_error; status-code=407; details="[^"]+"$/;

/** What every 407 must carry, whatever the front-end. */
function assertChallenge(status: number, headers: Record<string, string | string[] | undefined>, code: string, body: string): void {
  assert.equal(status, 407, body);
  assert.equal(headers['proxy-authenticate'], 'Basic realm="hopwatch", charset="UTF-8"');
  assert.match(String(headers['proxy-status']), PROXY_STATUS_407);
  assert.match(body, new RegExp(`^407 Proxy Authentication Required: ${code} at hop auth\n`));
}

async function assertEvent(id: unknown, refusal: (typeof REFUSALS)[number], protocol: string): Promise<void> {
  const access = await proxy.logs.exchange(typeof id === 'string' ? id : undefined);
  assert.equal(access.code, refusal.code);
  assert.equal(access.hop, 'auth');
  assert.equal(access.status, 407);
  assert.equal(access.protocol, protocol);
  assert.equal(access.user, undefined, 'a refused login names no user on the access line');
  const event = await authEvent(id);
  assert.equal(event.level, 'warn');
  assert.equal(event.protocol, protocol);
  assert.equal(event.reason, refusal.reason);
  assert.equal(event.username, refusal.username);
  assert.equal(event.code, refusal.code);
}

describe('HTTP forward: every refusal is a 407 with its own code, event and metric', () => {
  for (const refusal of REFUSALS) {
    it(`${refusal.name} → ${refusal.code} (${refusal.reason})`, T, async () => {
      const reached = seen.length;
      const headers = refusal.header === undefined ? {} : { 'Proxy-Authorization': refusal.header };
      const { result: res, delta } = await authFailureDelta('http', refusal.reason, () =>
        viaProxy(proxy.port, `${origin.origin}/refused`, { headers }),
      );
      assertChallenge(res.status, res.headers, refusal.code, res.body);
      await assertEvent(res.headers['x-request-id'], refusal, 'http');
      assert.equal(delta, 1);
      assert.equal(seen.length, reached, 'a refused request never reaches the origin');
    });
  }

  it('answers a wrong password and an unknown user identically', T, async () => {
    const wrong = await viaProxy(proxy.port, `${origin.origin}/same`, { headers: { 'Proxy-Authorization': basic('alice', WRONG) } });
    const unknown = await viaProxy(proxy.port, `${origin.origin}/same`, { headers: { 'Proxy-Authorization': basic('mallory', WRONG) } });
    // Only the request id may differ; the log tells them apart.
    const strip = (res: ProxiedResponse) => ({
      status: res.status,
      body: res.body.replaceAll(String(res.headers['x-request-id']), 'ID'),
      headers: { ...res.headers, 'x-request-id': 'ID', date: 'DATE' },
    });
    assert.deepEqual(strip(wrong), strip(unknown));
    assert.equal((await authEvent(wrong.headers['x-request-id'])).reason, 'wrong_password');
    assert.equal((await authEvent(unknown.headers['x-request-id'])).reason, 'unknown_user');
  });

  it('a JSON client gets the 407 fields as JSON, with the same challenge', T, async () => {
    const res = await viaProxy(proxy.port, `${origin.origin}/json`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 407);
    assert.equal(res.headers['proxy-authenticate'], 'Basic realm="hopwatch", charset="UTF-8"');
    const body = JSON.parse(res.body) as Record<string, unknown>;
    assert.equal(body.code, 'auth_missing');
    assert.equal(body.proxy_status, 'http_request_error');
    assert.equal(body.hop, 'auth');
  });
});

describe('HTTP forward: accepted credentials', () => {
  for (const [kind, user] of [['plain', ALICE], ['scrypt-hashed', BOB], ['unicode', DORA]] as const) {
    it(`forwards with ${kind} credentials, names the user, and strips Proxy-Authorization`, T, async () => {
      const path = `/ok-${user.username}`;
      const res = await viaProxy(proxy.port, `${origin.origin}${path}`, { headers: { 'Proxy-Authorization': basic(user.username, user.password) } });
      assert.equal(res.status, 200, res.body);
      assert.equal(res.body, `origin saw ${path}`);
      const log = await proxy.logs.exchange(res.headers['x-request-id']);
      assert.equal(log.code, 'ok');
      assert.equal(log.user, user.username);
      const got = seen.find((s) => s.url === path);
      assert.ok(got, 'the origin received the request');
      assert.equal(got.headers['proxy-authorization'], undefined);
    });
  }

  it('a second request with the same credentials passes too (the cached login)', T, async () => {
    const header = basic(BOB.username, BOB.password);
    for (const n of [1, 2]) {
      const res = await viaProxy(proxy.port, `${origin.origin}/again-${n}`, { headers: { 'Proxy-Authorization': header } });
      assert.equal(res.status, 200);
      assert.equal((await proxy.logs.exchange(res.headers['x-request-id'])).user, 'bob');
    }
  });

  it('takes the scheme name in any case and extra spaces (RFC 9110 §11.1)', T, async () => {
    const value = `bAsIc   ${Buffer.from('alice:plain-secret').toString('base64')}`;
    const res = await viaProxy(proxy.port, `${origin.origin}/case`, { headers: { 'Proxy-Authorization': value } });
    assert.equal(res.status, 200, res.body);
  });

  it('Proxy-Authorization does not reach the origin with Expect: 100-continue either', T, async () => {
    const body = 'payload after the 100';
    const { status, continued } = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request({
        host: '127.0.0.1',
        port: proxy.port,
        method: 'POST',
        path: `${origin.origin}/expect`,
        agent: false,
        headers: {
          'Proxy-Authorization': basic(ALICE.username, ALICE.password),
          Expect: '100-continue',
          'Content-Length': Buffer.byteLength(body),
        },
      });
      // The body goes only once the proxy says so, as a careful client would send it.
      req.once('continue', () => {
        continued = true;
        req.end(body);
      });
      req.once('response', (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0, continued }));
      });
      req.once('error', reject);
      req.flushHeaders();
    });
    assert.equal(status, 200);
    assert.ok(continued);
    const got = seen.find((s) => s.url === '/expect');
    assert.ok(got);
    assert.equal(got.body, body);
    assert.equal(got.headers['proxy-authorization'], undefined);
    assert.equal(got.headers.expect, undefined);
  });

  it('a 407 keeps a kept-alive client connection usable: 407, then 200 on the same socket', T, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const sockets = new Set<unknown>();
      agent.on('free', (socket) => sockets.add(socket));
      const first = await viaProxy(proxy.port, `${origin.origin}/ka-1`, { agent });
      assert.equal(first.status, 407);
      assert.notEqual(first.headers.connection, 'close');
      const second = await viaProxy(proxy.port, `${origin.origin}/ka-2`, { agent, headers: { 'Proxy-Authorization': basic(ALICE.username, ALICE.password) } });
      assert.equal(second.status, 200, second.body);
      assert.equal(sockets.size, 1, 'both requests went over one client connection');
      const [a, b] = await Promise.all([proxy.logs.exchange(first.headers['x-request-id']), proxy.logs.exchange(second.headers['x-request-id'])]);
      assert.equal(a.client_port, b.client_port);
      assert.equal(b.user, 'alice');
    } finally {
      agent.destroy();
    }
  });
});

/** Sends an HTTP/1.1 GET through an open tunnel and returns the raw response once the origin closes it. */
async function getThroughTunnel(socket: import('node:net').Socket, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('utf8');
}

describe('CONNECT: every refusal is a 407 on the socket, then a retry with credentials opens the tunnel', () => {
  const authority = () => `127.0.0.1:${origin.port}`;

  for (const refusal of REFUSALS) {
    it(`${refusal.name} → ${refusal.code} (${refusal.reason})`, T, async () => {
      const reached = seen.length;
      const extra = refusal.header === undefined ? '' : `Proxy-Authorization: ${refusal.header}\r\n`;
      // The record ends when the client's socket closes, so the metric is read after that.
      const { result: res, delta } = await authFailureDelta('connect', refusal.reason, async () => {
        const answer = await connectVia(proxy.port, authority(), extra);
        if (!answer.socket.destroyed) await once(answer.socket, 'close');
        return answer;
      });
      assertChallenge(res.status, res.headers, refusal.code, res.body);
      assert.equal(res.headers.connection, 'close', 'the proxy closes the tunnel request it refused');
      await assertEvent(res.headers['x-request-id'], refusal, 'connect');
      assert.equal(delta, 1);
      assert.equal(seen.length, reached);
    });
  }

  for (const [kind, user] of [['plain', ALICE], ['scrypt-hashed', BOB]] as const) {
    it(`refused without credentials, then opened with ${kind} ones`, T, async () => {
      const refused = await connectVia(proxy.port, authority());
      assert.equal(refused.status, 407);
      refused.socket.destroy();
      const opened = await connectVia(proxy.port, authority(), `Proxy-Authorization: ${basic(user.username, user.password)}\r\n`);
      assert.equal(opened.status, 200);
      const path = `/tunnel-${user.username}`;
      const response = await getThroughTunnel(opened.socket, path);
      assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(response.endsWith(`origin saw ${path}`), response);
      const log = await proxy.logs.exchange(opened.headers['x-request-id']);
      assert.equal(log.code, 'ok');
      assert.equal(log.user, user.username);
      // Inside a tunnel the proxy sees only bytes: the origin got what the client wrote, no more.
      assert.equal(seen.find((s) => s.url === path)?.headers['proxy-authorization'], undefined);
    });
  }
});

describe('undici ProxyAgent with credentials in the proxy URL', () => {
  const proxyUri = (user: { username: string; password: string }) =>
    `http://${encodeURIComponent(user.username)}:${encodeURIComponent(user.password)}@127.0.0.1:${proxy.port}`;

  for (const tunnel of [true, false]) {
    const mode = tunnel ? 'CONNECT tunnel' : 'forward request';
    for (const [kind, user] of [['plain', ALICE], ['percent-encoded special characters', CAROL], ['percent-encoded unicode', DORA]] as const) {
      it(`${mode}: ${kind} in the userinfo`, T, async () => {
        const agent = new ProxyAgent({ uri: proxyUri(user), proxyTunnel: tunnel });
        const since = proxy.logs.lines.length;
        const path = `/undici-${tunnel ? 'tunnel' : 'forward'}-${user.username}`;
        try {
          const res = await fetch(`${origin.origin}${path}`, { dispatcher: agent });
          assert.equal(res.status, 200);
          assert.equal(await res.text(), `origin saw ${path}`);
        } finally {
          // Closing ends a kept-alive tunnel, and with it the tunnel's record and log line.
          await agent.close();
        }
        const log = await exchangeSince(since, (l) => l.user === user.username);
        assert.equal(log.code, 'ok');
        assert.equal(log.protocol, tunnel ? 'connect' : 'http');
        assert.equal(seen.find((s) => s.url === path)?.headers['proxy-authorization'], undefined);
      });
    }

    it(`${mode}: a wrong password in the userinfo is refused`, T, async () => {
      const agent = new ProxyAgent({ uri: proxyUri({ username: 'carol', password: WRONG }), proxyTunnel: tunnel });
      try {
        const since = proxy.logs.lines.length;
        // undici gives up on a 407 in either mode (it does not retry with other credentials);
        // the error's cause names the status.
        await assert.rejects(fetch(`${origin.origin}/undici-wrong`, { dispatcher: agent }), (err: Error) => {
          const chain: string[] = [];
          for (let e: unknown = err; e instanceof Error; e = e.cause) chain.push(e.message);
          assert.match(chain.join(' <- '), /407/);
          return true;
        });
        const log = await exchangeSince(since, (l) => l.code === 'auth_invalid');
        assert.equal(log.protocol, tunnel ? 'connect' : 'http');
        const event = await authEvent(log.id);
        assert.deepEqual([event.username, event.reason], ['carol', 'wrong_password']);
      } finally {
        await agent.close();
      }
    });
  }
});

const curlMissing = spawnSync('curl', ['--version']).error !== undefined;
const requireTools = !!process.env.REQUIRE_TEST_TOOLS;
const skipCurl = curlMissing && !requireTools ? 'curl is not installed (with REQUIRE_TEST_TOOLS set, that fails)' : false;

/** Runs curl without blocking the event loop: the proxy under test lives in this process. */
function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', args, { timeout: 5_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('curl --proxy-user', { skip: skipCurl }, () => {
  for (const tunnel of [false, true]) {
    const mode = tunnel ? '-p (proxytunnel)' : '-x (forward)';
    const flags = tunnel ? ['-p', '-x', ''] : ['-x', ''];

    it(`${mode}: right credentials fetch the origin`, T, async () => {
      assert.ok(!curlMissing, 'curl is required: REQUIRE_TEST_TOOLS is set');
      const path = `/curl-${tunnel ? 'tunnel' : 'forward'}`;
      const since = proxy.logs.lines.length;
      const out = await curl(['-sS', ...flags.map((f) => f || proxy.url), '--proxy-user', `${ALICE.username}:${ALICE.password}`, `${origin.origin}${path}`]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, `origin saw ${path}`);
      const log = await exchangeSince(since, (l) => l.user === 'alice');
      assert.equal(log.protocol, tunnel ? 'connect' : 'http');
      assert.equal(log.code, 'ok');
      assert.equal(seen.find((s) => s.url === path)?.headers['proxy-authorization'], undefined);
    });

    it(`${mode}: a wrong password gets the 407`, T, async () => {
      assert.ok(!curlMissing, 'curl is required: REQUIRE_TEST_TOOLS is set');
      const since = proxy.logs.lines.length;
      const url = `${origin.origin}/curl-wrong`;
      const out = await curl(['-sS', ...flags.map((f) => f || proxy.url), '--proxy-user', `${ALICE.username}:${WRONG}`, '-o', '/dev/null', '-w', '%{http_code}', url]);
      if (tunnel) {
        assert.equal(out.code, 56, `curl fails the transfer as a CONNECT refusal; ${out.stderr}`);
        assert.match(out.stderr, /407/);
      } else {
        assert.equal(out.code, 0, out.stderr);
        assert.equal(out.stdout, '407');
      }
      const log = await exchangeSince(since, (l) => l.code === 'auth_invalid');
      assert.equal((await authEvent(log.id)).username, 'alice');
    });
  }
});

describe('Authenticator: an unknown user costs what a wrong password costs', () => {
  it('checks an unknown user against a decoy hash with the configured parameters', async () => {
    const bobHash = await hashPassword(BOB.password);
    const verify = mock.fn(verifyPassword);
    const auth = new Authenticator([ALICE, { username: 'bob', password: bobHash }], verify);
    assert.equal(await auth.check('mallory', BOB.password), 'unknown_user');
    assert.equal(verify.mock.callCount(), 1, 'the password was checked although the user does not exist');
    const [decoy, given] = verify.mock.calls[0]!.arguments;
    assert.equal(given, BOB.password);
    assert.ok(isHashed(decoy), 'the scrypt path, not a cheap plain comparison');
    const real = parseHash(bobHash)!;
    const fake = parseHash(decoy);
    assert.ok(fake, 'a hash verifyPassword really runs scrypt on');
    assert.deepEqual([fake.N, fake.r, fake.p, fake.key.length], [real.N, real.r, real.p, real.key.length]);

    assert.equal(await auth.check('bob', WRONG), 'wrong_password');
    assert.equal(verify.mock.calls[1]!.arguments[0], bobHash);
  });

  it('with hashed and plain users mixed, a plain user\'s check also pays for the scrypt decoy', async () => {
    const bobHash = await hashPassword(BOB.password);
    const verify = mock.fn(verifyPassword);
    const auth = new Authenticator([ALICE, { username: 'bob', password: bobHash }], verify);
    assert.equal(await auth.check('alice', WRONG), 'wrong_password');
    assert.equal(verify.mock.callCount(), 2);
    assert.equal(verify.mock.calls[0]!.arguments[0], ALICE.password);
    assert.ok(isHashed(verify.mock.calls[1]!.arguments[0]), 'the second check is the scrypt decoy');
  });

  it('with plain passwords only, an unknown user gets the plain comparison', async () => {
    const verify = mock.fn(verifyPassword);
    const auth = new Authenticator([ALICE], verify);
    assert.equal(await auth.check('mallory', ALICE.password), 'unknown_user');
    assert.equal(verify.mock.callCount(), 1);
    assert.ok(!isHashed(verify.mock.calls[0]!.arguments[0]));
    // Even the decoy's own text is no way in.
    assert.equal(await auth.check('mallory', 'no such user'), 'unknown_user');
  });

  it('caches a success, never a failure', async () => {
    const verify = mock.fn(verifyPassword);
    const auth = new Authenticator([ALICE], verify);
    assert.equal(await auth.check('alice', ALICE.password), 'ok');
    assert.equal(await auth.check('alice', ALICE.password), 'ok');
    assert.equal(verify.mock.callCount(), 1);
    assert.equal(await auth.check('alice', WRONG), 'wrong_password');
    assert.equal(await auth.check('alice', WRONG), 'wrong_password');
    assert.equal(verify.mock.callCount(), 3);
  });
});

describe('parseProxyAuthorization', () => {
  it('reads Basic credentials; the password may hold colons, the user may not', () => {
    assert.deepEqual(parseProxyAuthorization(basic('alice', 'a:b:c')), { kind: 'basic', username: 'alice', password: 'a:b:c' });
    assert.deepEqual(parseProxyAuthorization(basic('alice', '')), { kind: 'basic', username: 'alice', password: '' });
    assert.deepEqual(parseProxyAuthorization(basic('dora', DORA.password)), { kind: 'basic', username: 'dora', password: DORA.password });
    assert.equal(parseProxyAuthorization(undefined), undefined);
  });

  it('tells malformed Basic from other schemes', () => {
    for (const value of ['Basic', 'Basic ', 'Basic !!!', 'Basic YWxpY2U=', `Basic ${Buffer.from(':pw').toString('base64')}`, 'Basic a b']) {
      assert.deepEqual(parseProxyAuthorization(value), { kind: 'malformed', scheme: 'Basic' }, value);
    }
    assert.deepEqual(parseProxyAuthorization('Bearer xyz'), { kind: 'unsupported', scheme: 'Bearer' });
    assert.deepEqual(parseProxyAuthorization('Digest username="a"'), { kind: 'unsupported', scheme: 'Digest' });
  });
});

describe('no log line ever holds a password', () => {
  it('scans every line this file produced', () => {
    const lines: LogLine[] = proxy.logs.lines;
    assert.ok(lines.some((l) => l.msg === 'auth_failure'), 'the scan saw auth failures');
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    for (const secret of SECRETS) {
      assert.ok(!text.includes(secret), `a log line holds ${JSON.stringify(secret)}`);
      assert.ok(!text.includes(JSON.stringify(secret).slice(1, -1)), `a log line holds ${JSON.stringify(secret)} escaped`);
      assert.ok(!text.includes(Buffer.from(secret).toString('base64')), `a log line holds ${JSON.stringify(secret)} in base64`);
    }
    for (const user of [ALICE, BOB, CAROL]) {
      assert.ok(!text.includes(basic(user.username, user.password).slice(6)), 'no Proxy-Authorization value is logged');
    }
  });
});

describe('Expect: 100-continue and authentication', () => {
  it('a client without credentials gets its 407 before uploading, and no 100 Continue', async () => {
    const proxy = await startProxy({ auth: { users: [{ username: 'alice', password: 'plain-secret' }] } });
    try {
      const net = await import('node:net');
      const socket = net.connect(proxy.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('POST http://127.0.0.1:9/upload HTTP/1.1\r\nHost: 127.0.0.1:9\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n');
      const [first] = (await once(socket, 'data')) as [Buffer];
      const text = first.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 407 /, 'the final answer comes first');
      assert.doesNotMatch(text, /100 Continue/);
      socket.destroy();
    } finally {
      await proxy.close();
    }
  });
});
