// SOCKS5 with real clients over loopback: curl (--socks5, --socks5-hostname, --proxy-user) and
// the npm `socks` client, against origins, closed ports, NXDOMAIN names and blackholes. Each test
// checks what the client got, the log line (code, hop, status = the reply code, user) and metrics.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { SocksClient } from 'socks';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { failureReply, greeting, RawSocks, requestDomain, requestIpv4 } from '../helpers/socks.ts';
import { blackholePort, closedPort, httpOrigin, tcpServer, type Upstream } from '../helpers/upstreams.ts';

const CONNECT_MS = 400;
const T = { timeout: 10_000 };

let dns: FakeDns;
let proxy: TestProxy;
let authProxy: TestProxy;
before(async () => {
  dns = await startDnsServer({ 'origin.test': { a: ['127.0.0.1'] } });
  const socks = { enabled: true, port: 0 };
  proxy = await startProxy({ socks, dns: { servers: [dns.address] }, timeouts: { connectMs: CONNECT_MS } });
  authProxy = await startProxy({ socks, auth: { users: [{ username: 'alice', password: 'wonder land' }] } });
});
after(async () => {
  await Promise.all([proxy.close(), authProxy.close()]);
  await dns.close();
});

async function upstreamFor(t: TestContext, start: Promise<Upstream>): Promise<Upstream> {
  const upstream = await start;
  t.after(() => upstream.close());
  return upstream;
}

/** Counts `hopwatch_requests_total` (or another family) gained since `snapshot` was taken. */
async function metricsDelta(p: TestProxy) {
  const before = await scrape(p.adminUrl);
  return async (name: string, labels: Record<string, string>) => sample(await scrape(p.adminUrl), name, labels) - sample(before, name, labels);
}

const curlMissing = spawnSync('curl', ['--version']).error !== undefined;
const skipCurl = curlMissing && !process.env.REQUIRE_TEST_TOOLS ? 'curl is not installed (with REQUIRE_TEST_TOOLS set, that fails)' : false;

/** Runs curl without blocking the event loop: the proxy under test lives in this process. */
function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '5', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('SOCKS5 through curl', { skip: skipCurl }, () => {
  it('--socks5: an origin by IP; the log line is a socks5 exchange with status 0', T, async (t) => {
    const origin = await upstreamFor(t, httpOrigin((_req, res) => res.end('via socks')));
    const delta = await metricsDelta(proxy);
    const out = await curl(['--socks5', `127.0.0.1:${proxy.socksPort}`, `${origin.origin}/`]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, 'via socks');
    const log = await proxy.logs.nextExchange(0, (l) => l.target === `127.0.0.1:${origin.port}`);
    assert.equal(log.protocol, 'socks5');
    assert.equal(log.method, 'CONNECT');
    assert.equal(log.code, 'ok');
    assert.equal(log.hop, 'deliver');
    assert.equal(log.status, 0);
    assert.equal(log.user, undefined);
    assert.equal(log.upstream_ip, '127.0.0.1');
    assert.equal(log.end, 'client_closed');
    assert.ok(((log.bytes as Record<string, number>).to_client ?? 0) > 'via socks'.length);
    assert.equal(await delta('hopwatch_requests_total', { protocol: 'socks5', code: 'ok', hop: 'deliver' }), 1);
  });

  it('--socks5-hostname: the proxy resolves the name (socks5h)', T, async (t) => {
    const origin = await upstreamFor(t, httpOrigin((_req, res) => res.end('resolved by the proxy')));
    const out = await curl(['--socks5-hostname', `127.0.0.1:${proxy.socksPort}`, `http://origin.test:${origin.port}/`]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, 'resolved by the proxy');
    const log = await proxy.logs.nextExchange(0, (l) => l.target === `origin.test:${origin.port}`);
    assert.equal(log.code, 'ok');
    assert.equal(log.upstream_ip, '127.0.0.1');
    assert.equal(typeof (log.durations_ms as Record<string, number>).dns, 'number');
    assert.ok(dns.queries.some((q) => q.name === 'origin.test'), 'the proxy asked its DNS server');
  });

  it('a refused port: curl exits 97, the reply and the log status are 0x05', T, async () => {
    const port = await closedPort();
    const delta = await metricsDelta(proxy);
    const out = await curl(['--socks5', `127.0.0.1:${proxy.socksPort}`, `http://127.0.0.1:${port}/`]);
    assert.equal(out.code, 97, out.stderr);
    const log = await proxy.logs.nextExchange(0, (l) => l.target === `127.0.0.1:${port}`);
    assert.equal(log.code, 'connect_refused');
    assert.equal(log.hop, 'connect');
    assert.equal(log.status, 0x05);
    assert.equal(await delta('hopwatch_requests_total', { protocol: 'socks5', code: 'connect_refused', hop: 'connect' }), 1);
    assert.equal(await delta('hopwatch_errors_total', { protocol: 'socks5', code: 'connect_refused', proxy_status: 'connection_refused' }), 1);
  });

  it('NXDOMAIN: curl exits 97, the log status is 0x04 with the rcode', T, async () => {
    const out = await curl(['--socks5-hostname', `127.0.0.1:${proxy.socksPort}`, 'http://nosuch.test:8080/']);
    assert.equal(out.code, 97, out.stderr);
    const log = await proxy.logs.nextExchange(0, (l) => l.target === 'nosuch.test:8080');
    assert.equal(log.code, 'dns_nxdomain');
    assert.equal(log.hop, 'dns');
    assert.equal(log.status, 0x04);
    assert.equal(log.rcode, 'NXDOMAIN');
  });

  it('--proxy-user: accepted credentials name the user; wrong ones get exit 97 and an auth_failure event', T, async (t) => {
    const origin = await upstreamFor(t, httpOrigin((_req, res) => res.end('authenticated')));
    const url = `${origin.origin}/`;
    const ok = await curl(['--socks5', `127.0.0.1:${authProxy.socksPort}`, '--proxy-user', 'alice:wonder land', url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'authenticated');
    const good = await authProxy.logs.nextExchange(0, (l) => l.code === 'ok' && l.target === `127.0.0.1:${origin.port}`);
    assert.equal(good.user, 'alice');
    assert.equal(good.status, 0);

    const delta = await metricsDelta(authProxy);
    const since = authProxy.logs.lines.length;
    const bad = await curl(['--socks5', `127.0.0.1:${authProxy.socksPort}`, '--proxy-user', 'alice:guess', url]);
    assert.equal(bad.code, 97, bad.stderr);
    const refused = await authProxy.logs.nextExchange(since);
    assert.equal(refused.code, 'auth_invalid');
    assert.equal(refused.hop, 'auth');
    assert.equal(refused.status, 0x01, 'the RFC 1929 status byte sent');
    assert.equal(refused.user, undefined);
    const event = await authProxy.logs.waitFor((l) => l.msg === 'auth_failure' && l.id === refused.id);
    assert.equal(event.username, 'alice');
    assert.equal(event.reason, 'wrong_password');
    assert.ok(!authProxy.logs.lines.some((l) => JSON.stringify(l).includes('guess')), 'the password is never logged');
    assert.equal(await delta('hopwatch_auth_failures_total', { protocol: 'socks5', reason: 'wrong_password' }), 1);

    const none = await curl(['--socks5', `127.0.0.1:${authProxy.socksPort}`, url]);
    assert.equal(none.code, 97, none.stderr);
    const missing = await authProxy.logs.nextExchange(since, (l) => l.code === 'auth_missing');
    assert.equal(missing.status, 0xff, 'no acceptable method');
    assert.equal(await delta('hopwatch_auth_failures_total', { protocol: 'socks5', reason: 'missing' }), 1);
  });
});

describe('SOCKS5 through the npm socks client', () => {
  it('reaches an IPv6 destination ::1; BND is the upstream socket\'s local address', T, async (t) => {
    const port = await ipv6Echo(t);
    if (!port) return t.skip('no IPv6 loopback on this host');
    const { socket, remoteHost } = await SocksClient.createConnection({
      proxy: { host: '127.0.0.1', port: proxy.socksPort!, type: 5 },
      command: 'connect',
      destination: { host: '::1', port },
    });
    t.after(() => socket.destroy());
    assert.equal(remoteHost?.host, '0000:0000:0000:0000:0000:0000:0000:0001', 'the client prints ::1 unabbreviated');
    socket.write('over v6');
    const [echoed] = (await new Promise((resolve) => socket.once('data', (c: Buffer) => resolve([c])))) as [Buffer];
    assert.equal(echoed.toString(), 'over v6');
    socket.end();
    const log = await proxy.logs.nextExchange(0, (l) => l.target === `[::1]:${port}`);
    assert.equal(log.code, 'ok');
    assert.equal(log.upstream_ip, '::1');
  });

  it('authenticates with userId/password; a wrong password is rejected', T, async (t) => {
    const echo = await upstreamFor(t, tcpServer((s) => s.pipe(s)));
    const options = (password: string) => ({
      proxy: { host: '127.0.0.1', port: authProxy.socksPort!, type: 5 as const, userId: 'alice', password },
      command: 'connect' as const,
      destination: { host: '127.0.0.1', port: echo.port },
      timeout: 3_000,
    });
    const { socket } = await SocksClient.createConnection(options('wonder land'));
    socket.destroy();
    await assert.rejects(SocksClient.createConnection(options('nope')), /Authentication failed/);
  });
});

describe('SOCKS5 failure replies (raw bytes)', () => {
  it('NXDOMAIN: a full-length 0x04 reply', T, async (t) => {
    const client = await RawSocks.open(proxy.socksPort!);
    t.after(() => client.destroy());
    client.send(greeting(0x00));
    assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
    client.send(requestDomain('gone.test', 443));
    assert.deepEqual(await client.read(10), failureReply(0x04));
    assert.equal((await client.closed()).length, 0);
    const log = await proxy.logs.nextExchange(0, (l) => l.target === 'gone.test:443');
    assert.equal(log.status, 0x04);
  });

  it('a blackholed port: no reply before the upstream outcome, then 0x06', T, async (t) => {
    const hole = await blackholePort();
    t.after(() => hole.close());
    const client = await RawSocks.open(proxy.socksPort!);
    t.after(() => client.destroy());
    const started = performance.now();
    client.send(Buffer.concat([Buffer.from(greeting(0x00)), requestIpv4('127.0.0.1', hole.port)]));
    assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
    // The first reply byte to arrive is the failure: no success was sent ahead of the connect.
    assert.deepEqual(await client.read(10), failureReply(0x06));
    assert.ok(performance.now() - started >= CONNECT_MS - 50, 'the reply waited for the connect timeout');
    const log = await proxy.logs.nextExchange(0, (l) => l.target === `127.0.0.1:${hole.port}`);
    assert.equal(log.code, 'connect_timeout');
    assert.equal(log.hop, 'connect');
    assert.equal(log.status, 0x06);
  });
});

/** An echo server on ::1, closed when the test ends; 0 where the host has no IPv6 loopback. */
async function ipv6Echo(t: TestContext): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '::1', () => resolve((server.address() as { port: number }).port));
  }).catch(() => 0);
  t.after(() => server.close());
  return port;
}
