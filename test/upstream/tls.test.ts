// TLS classification against real TLS upstreams started by the tests, with certificates made
// at test time: hopwatch speaking TLS itself (https:// absolute-form), and hopwatch watching a
// handshake pass through a CONNECT tunnel without decrypting it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Lifecycle } from '../../src/exchange/lifecycle.ts';
import { Exchange } from '../../src/exchange/record.ts';
import { readSni, TlsWatcher } from '../../src/front/tls-watch.ts';
import type { HopFailure } from '../../src/classify/failure.ts';
import { classify } from '../../src/classify/rules.ts';
import { testPki, type KeyPair } from '../helpers/certs.ts';
import { connectVia, viaProxy } from '../helpers/client.ts';
import { sample, scrape } from '../helpers/metrics.ts';
import { startProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { httpOrigin, silentServer, tcpServer, type Upstream } from '../helpers/upstreams.ts';

const TLS_MS = 300;
const pki = testPki();

/** A TLS server on an ephemeral loopback port that greets each established connection and closes. */
async function tlsUpstream(pair: KeyPair, options: tls.TlsOptions = {}): Promise<Upstream> {
  const sockets: net.Socket[] = [];
  const server = tls.createServer({ key: pair.key, cert: pair.cert, ...options }, (s) => s.end('hello over tls\n'));
  server.on('connection', (s: net.Socket) => sockets.push(s));
  server.on('tlsClientError', () => {}); // the refusals are the point of these servers
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return serverHandle(server, sockets);
}

/** An HTTPS origin answering every request with 200 "secure hello". */
async function httpsOrigin(pair: KeyPair): Promise<Upstream> {
  const sockets: net.Socket[] = [];
  const server = https.createServer({ key: pair.key, cert: pair.cert }, (_req, res) => res.end('secure hello'));
  server.on('connection', (s: net.Socket) => sockets.push(s));
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return serverHandle(server, sockets);
}

function serverHandle(server: net.Server, sockets: net.Socket[]): Upstream {
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    origin: `https://localhost:${port}`,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The access-log line of the exchange that targeted `target`. */
function logFor(proxy: TestProxy, target: string): Promise<LogLine> {
  return proxy.logs.waitFor((l) => l.msg === 'exchange' && l.target === target);
}

function field<T>(line: LogLine, ...path: string[]): T {
  let v: unknown = line;
  for (const key of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return v as T;
}

describe('hopwatch speaks TLS to an https:// upstream', () => {
  let proxy: TestProxy;
  const upstreams: Upstream[] = [];
  const start = async (u: Promise<Upstream>) => {
    const up = await u;
    upstreams.push(up);
    return up;
  };

  before(async () => {
    proxy = await startProxy({ timeouts: { tlsMs: TLS_MS } }, { upstreamCa: pki.caPem });
  });
  after(async () => {
    await proxy.close();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  /** Sends GET https://localhost:PORT/ through the proxy and returns the answer and its log line. */
  async function get(port: number, host = 'localhost') {
    const res = await viaProxy(proxy.port, `https://${host}:${port}/`);
    const line = await logFor(proxy, `${host}:${port}`);
    return { res, line, proxyStatus: String(res.headers['proxy-status'] ?? '') };
  }

  it('a trusted certificate: 200, the TLS version and hop duration logged, the tls histogram grows', async () => {
    const up = await start(httpsOrigin(pki.valid));
    const countBefore = sample(await scrape(proxy.adminUrl), 'hopwatch_hop_duration_seconds_count', { protocol: 'http', hop: 'tls' });
    const { res, line } = await get(up.port);
    assert.equal(res.status, 200);
    assert.equal(res.body, 'secure hello');
    assert.equal(line.code, 'ok');
    assert.match(field<string>(line, 'tls', 'version'), /^TLSv1\.[23]$/);
    assert.equal(field<string>(line, 'tls', 'mode'), 'originated');
    assert.equal(field<string>(line, 'tls', 'sni'), 'localhost');
    assert.ok(field<number>(line, 'durations_ms', 'tls') > 0, 'durations_ms.tls is logged');
    const countAfter = sample(await scrape(proxy.adminUrl), 'hopwatch_hop_duration_seconds_count', { protocol: 'http', hop: 'tls' });
    assert.equal(countAfter, countBefore + 1);
  });

  it('an IP-literal target is verified against the certificate\'s IP SAN', async () => {
    const up = await start(httpsOrigin(pki.valid));
    const { res, line } = await get(up.port, '127.0.0.1');
    assert.equal(res.status, 200, res.body);
    assert.equal(line.code, 'ok');
  });

  it('an upstream that accepts TCP and never answers the ClientHello: 504 tls_timeout', async () => {
    const up = await start(silentServer());
    const t0 = performance.now();
    const { res, line, proxyStatus } = await get(up.port);
    const ms = performance.now() - t0;
    assert.equal(res.status, 504);
    assert.match(proxyStatus, /; error=connection_timeout/);
    assert.equal(line.code, 'tls_timeout');
    assert.equal(line.hop, 'tls');
    assert.ok(ms >= TLS_MS - 20 && ms < TLS_MS + 1500, `answered after ${ms} ms`);
    assert.ok(field<number>(line, 'durations_ms', 'tls') >= TLS_MS - 20);
  });

  it('an upstream that refuses the handshake with an alert: 502 tls_alert with alert-id and alert-message', async () => {
    // hopwatch offers ALPN http/1.1 only; a server that speaks only h2 answers alert 120.
    const up = await start(tlsUpstream(pki.valid, { ALPNProtocols: ['h2'] }));
    const { res, line, proxyStatus } = await get(up.port);
    assert.equal(res.status, 502);
    assert.match(proxyStatus, /; error=tls_alert_received; alert-id=120; alert-message="?no_application_protocol"?(;|$)/);
    assert.equal(line.code, 'tls_alert');
    assert.equal(line.hop, 'tls');
    assert.equal(line.alert_id, 120);
    assert.equal(line.alert_message, 'no_application_protocol');
  });

  it('an upstream demanding a client certificate over TLS 1.2: tls_alert handshake_failure (40)', async () => {
    // OpenSSL 3 reports this alert as "ssl/tls alert handshake failure", not "sslv3 alert …".
    const up = await start(tlsUpstream(pki.valid, { maxVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: true, ca: pki.caPem }));
    const { res, line, proxyStatus } = await get(up.port);
    assert.equal(res.status, 502);
    assert.match(proxyStatus, /; error=tls_alert_received; alert-id=40; alert-message="?handshake_failure"?(;|$)/);
    assert.equal(line.code, 'tls_alert');
    assert.equal(line.alert_id, 40);
  });

  it('an upstream demanding a client certificate over TLS 1.3: tls_alert certificate_required (116), not an internal error', async () => {
    // In TLS 1.3 the client's handshake is complete before the server judges its certificate:
    // the alert arrives after the connector handed over the socket, while the request is sent.
    const up = await start(tlsUpstream(pki.valid, { minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true, ca: pki.caPem }));
    const { res, line, proxyStatus } = await get(up.port);
    assert.equal(res.status, 502);
    assert.match(proxyStatus, /; error=tls_alert_received; alert-id=116; alert-message="?certificate_required"?(;|$)/);
    assert.equal(line.code, 'tls_alert');
    assert.equal(line.hop, 'tls');
    assert.equal(line.alert_id, 116);
  });

  it('a server that only speaks TLS 1.3 to a client limited to TLS 1.2 would send protocol_version (70)', async () => {
    // Not hopwatch's case (it offers 1.3), but the alert parsing path is the same: check the
    // OpenSSL error code for it maps to id 70.
    const up = await start(tlsUpstream(pki.valid, { minVersion: 'TLSv1.3' }));
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const s = tls.connect({ port: up.port, host: '127.0.0.1', servername: 'localhost', ca: pki.caPem, maxVersion: 'TLSv1.2' });
      s.on('error', resolve);
    });
    const failure = classify('tls', err);
    assert.equal(failure.code, 'tls_alert');
    assert.equal(failure.params['alert-id'], 70);
    assert.equal(failure.params['alert-message'], 'protocol_version');
  });

  const certCases: Array<[string, () => KeyPair, string]> = [
    ['an expired certificate', () => pki.expired, 'tls_cert_expired'],
    ['a certificate not valid yet', () => pki.notYetValid, 'tls_cert_not_yet_valid'],
    ['a certificate for another name', () => pki.wrongName, 'tls_cert_hostname_mismatch'],
    ['a self-signed certificate', () => pki.selfSigned, 'tls_cert_untrusted'],
  ];
  for (const [name, pair, code] of certCases) {
    it(`${name}: 502 ${code}, Proxy-Status tls_certificate_error`, async () => {
      const up = await start(httpsOrigin(pair()));
      const { res, line, proxyStatus } = await get(up.port);
      assert.equal(res.status, 502);
      assert.match(proxyStatus, /; error=tls_certificate_error(;|$)/);
      assert.equal(line.code, code);
      assert.equal(line.hop, 'tls');
      assert.equal(res.headers['x-request-id'], line.id);
    });
  }

  it('an upstream that closes on the ClientHello: 502 tls_protocol_error', async () => {
    const up = await start(tcpServer((s) => s.once('data', () => s.destroy())));
    const { res, line } = await get(up.port);
    assert.equal(res.status, 502);
    assert.equal(line.code, 'tls_protocol_error');
    assert.equal(line.hop, 'tls');
  });

  it('plain HTTP on the port: 502 tls_protocol_error', async () => {
    const up = await start(httpOrigin((_req, res) => res.end('plain')));
    const { res, line, proxyStatus } = await get(up.port);
    assert.equal(res.status, 502);
    assert.match(proxyStatus, /; error=tls_protocol_error(;|$)/);
    assert.equal(line.code, 'tls_protocol_error');
    assert.equal(line.hop, 'tls');
  });

  it('failures count in hopwatch_errors_total by code and hop', async () => {
    const text = await scrape(proxy.adminUrl);
    for (const code of ['tls_timeout', 'tls_alert', 'tls_cert_expired', 'tls_cert_untrusted', 'tls_protocol_error']) {
      assert.ok(sample(text, 'hopwatch_errors_total', { protocol: 'http', code, hop: 'tls' }) >= 1, code);
    }
  });
});

describe('hopwatch watches TLS inside CONNECT tunnels', () => {
  let proxy: TestProxy;
  const upstreams: Upstream[] = [];
  const start = async (u: Promise<Upstream>) => {
    const up = await u;
    upstreams.push(up);
    return up;
  };

  before(async () => {
    proxy = await startProxy({ timeouts: { tlsMs: TLS_MS } });
  });
  after(async () => {
    await proxy.close();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  /** CONNECT to the upstream, then a TLS handshake through the tunnel; settles on connect or error. */
  async function handshake(port: number, options: tls.ConnectionOptions) {
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${port}`);
    assert.equal(tunnel.status, 200);
    const secure = tls.connect({ socket: tunnel.socket, servername: 'localhost', ...options });
    const outcome = await new Promise<{ ok: true } | { ok: false; err: Error }>((resolve) => {
      secure.once('secureConnect', () => resolve({ ok: true }));
      secure.once('error', (err) => resolve({ ok: false, err }));
    });
    return { secure, outcome, line: logFor(proxy, `127.0.0.1:${port}`) };
  }

  it('a stalled upstream: the tunnel is cut after tlsMs, logged as tls_timeout', async () => {
    const up = await start(silentServer());
    const t0 = performance.now();
    const { outcome, line: pending } = await handshake(up.port, { ca: pki.caPem });
    const ms = performance.now() - t0;
    assert.equal(outcome.ok, false);
    assert.ok(ms >= TLS_MS - 20 && ms < TLS_MS + 1500, `cut after ${ms} ms`);
    const line = await pending;
    assert.equal(line.code, 'tls_timeout');
    assert.equal(line.hop, 'tls');
    assert.equal(line.status, 200);
    assert.equal(line.end, 'tls_failure');
    assert.equal(field<boolean>(line, 'tls', 'clientHello'), true);
    assert.equal(field<boolean | undefined>(line, 'tls', 'serverHello'), undefined);
  });

  it('an upstream that hangs up on the ClientHello without an alert: tls_protocol_error', async () => {
    const up = await start(tcpServer((s) => s.once('data', () => s.end())));
    const { outcome, line: pending } = await handshake(up.port, { ca: pki.caPem });
    assert.equal(outcome.ok, false);
    const line = await pending;
    assert.equal(line.code, 'tls_protocol_error');
    assert.equal(line.hop, 'tls');
    assert.equal(line.source, 'upstream');
    assert.match(String(line.detail), /closed the connection after the ClientHello/);
    assert.equal(line.end, 'upstream_closed');
  });

  it('an upstream refusing the handshake with protocol_version: tls_alert from the upstream', async () => {
    const up = await start(tlsUpstream(pki.valid, { minVersion: 'TLSv1.3' }));
    const { outcome, line: pending } = await handshake(up.port, { ca: pki.caPem, maxVersion: 'TLSv1.2' });
    assert.equal(outcome.ok, false);
    const line = await pending;
    assert.equal(line.code, 'tls_alert');
    assert.equal(line.hop, 'tls');
    assert.equal(line.alert_id, 70);
    assert.equal(line.alert_message, 'protocol_version');
    assert.equal(line.source, 'upstream');
    assert.deepEqual(field<unknown>(line, 'tls', 'alert'), { id: 70, from: 'upstream' });
    assert.equal(line.status, 200);
  });

  it('a successful handshake: ok, with the SNI and the ServerHello seen', async () => {
    const up = await start(tlsUpstream(pki.valid));
    const { secure, outcome, line: pending } = await handshake(up.port, { ca: pki.caPem });
    assert.deepEqual(outcome, { ok: true });
    const [greeting] = (await once(secure, 'data')) as [Buffer];
    assert.equal(greeting.toString(), 'hello over tls\n');
    secure.end();
    const line = await pending;
    assert.equal(line.code, 'ok');
    assert.equal(field<string>(line, 'tls', 'mode'), 'observed');
    assert.equal(field<string>(line, 'tls', 'sni'), 'localhost');
    assert.equal(field<boolean>(line, 'tls', 'clientHello'), true);
    assert.equal(field<boolean>(line, 'tls', 'serverHello'), true);
    assert.equal(field<unknown>(line, 'tls', 'alert'), undefined);
  });

  it('a TLS 1.2 handshake that completes is not mistaken for an alert later', async () => {
    const up = await start(tlsUpstream(pki.valid, { maxVersion: 'TLSv1.2' }));
    const { secure, outcome, line: pending } = await handshake(up.port, { ca: pki.caPem });
    assert.deepEqual(outcome, { ok: true });
    await once(secure, 'data');
    secure.end(); // close_notify: an encrypted alert record in TLS 1.2
    const line = await pending;
    assert.equal(line.code, 'ok');
    assert.equal(field<unknown>(line, 'tls', 'alert'), undefined);
  });

  it('a client that rejects the upstream\'s certificate: tls_alert from the client', async () => {
    // Node's client checks certificates after the handshake and closes without an alert, so
    // the rejecting client is openssl s_client, which aborts the TLS 1.2 handshake with a
    // plaintext unknown_ca alert, as curl and most OpenSSL-based clients do.
    const up = await start(tlsUpstream(pki.selfSigned, { maxVersion: 'TLSv1.2' }));
    const client = spawn('openssl', [
      's_client', '-proxy', `127.0.0.1:${proxy.port}`, '-connect', `127.0.0.1:${up.port}`,
      '-servername', 'localhost', '-tls1_2', '-verify_return_error', '-CAfile', pki.caFile,
    ], { stdio: ['pipe', 'ignore', 'ignore'] });
    const [exitCode] = (await once(client, 'exit')) as [number | null];
    assert.notEqual(exitCode, 0, 's_client must refuse the self-signed certificate');
    const line = await logFor(proxy, `127.0.0.1:${up.port}`);
    assert.equal(line.code, 'tls_alert');
    assert.equal(line.source, 'client');
    assert.equal(field<string>(line, 'tls', 'alert', 'from'), 'client');
    assert.ok([42, 48].includes(line.alert_id as number), `alert ${String(line.alert_id)}`);
  });

  it('a tunnel that does not carry TLS is not watched', async () => {
    const up = await start(tcpServer((s) => s.on('data', (d: Buffer) => s.end(d))));
    const tunnel = await connectVia(proxy.port, `127.0.0.1:${up.port}`);
    tunnel.socket.end('ping\n');
    const [echo] = (await once(tunnel.socket, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'ping\n');
    const line = await logFor(proxy, `127.0.0.1:${up.port}`);
    assert.equal(line.code, 'ok');
    assert.equal(line.tls, undefined);
  });
});

describe('the passive TLS watcher, unit', () => {
  let hello: Buffer;
  before(async () => {
    hello = await captureClientHello('example.test');
  });

  it('readSni finds the server_name of a real ClientHello', () => {
    assert.equal(readSni(hello), 'example.test');
  });

  it('readSni gives nothing for a ClientHello without SNI, a truncated one, or garbage', async () => {
    const bare = await captureClientHello(undefined);
    assert.equal(readSni(bare), undefined);
    const sniAt = hello.indexOf('example.test');
    assert.ok(sniAt > 0);
    assert.equal(readSni(hello.subarray(0, sniAt + 4)), undefined, 'a name cut short is not reported');
    assert.equal(readSni(Buffer.from('GET / HTTP/1.1\r\n\r\n')), undefined);
    assert.equal(readSni(Buffer.alloc(0)), undefined);
  });

  it('follows records fed one byte at a time: SNI, ServerHello, an upstream alert', () => {
    const { ex, failures } = watched();
    const watcher = new TlsWatcher(ex, 60_000, (f) => failures.push(f));
    for (const byte of hello) watcher.client(Buffer.from([byte]));
    assert.equal(watcher.active, true, 'still watching after the ClientHello');
    assert.equal(ex.tls?.sni, 'example.test');
    assert.equal(ex.tls?.clientHello, true);
    // A ServerHello-shaped record, then a fatal handshake_failure alert, split everywhere.
    const serverBytes = Buffer.concat([record(0x16, Buffer.from([0x02, 0, 0, 2, 3, 3])), record(0x15, Buffer.from([2, 40]))]);
    for (const byte of serverBytes) watcher.upstream(Buffer.from([byte]));
    watcher.stop();
    assert.equal(ex.tls?.serverHello, true);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.code, 'tls_alert');
    assert.equal(failures[0]!.params['alert-id'], 40);
    assert.equal(failures[0]!.source, 'upstream');
    assert.deepEqual(ex.tls?.alert, { id: 40, from: 'upstream' });
  });

  it('several records in one chunk are each followed', () => {
    const { ex, failures } = watched();
    const watcher = new TlsWatcher(ex, 60_000, (f) => failures.push(f));
    watcher.client(hello);
    watcher.upstream(Buffer.concat([record(0x16, Buffer.from([0x02, 0, 0, 0])), record(0x15, Buffer.from([2, 70]))]));
    watcher.stop();
    assert.equal(ex.tls?.serverHello, true);
    assert.equal(failures[0]?.params['alert-id'], 70);
  });

  it('close_notify is not a failure, and an alert after a side\'s ChangeCipherSpec is encrypted, not read', () => {
    const { ex, failures } = watched();
    const watcher = new TlsWatcher(ex, 60_000, (f) => failures.push(f));
    watcher.client(hello);
    watcher.upstream(record(0x16, Buffer.from([0x02, 0, 0, 0])));
    watcher.upstream(record(0x15, Buffer.from([1, 0])));
    // TLS 1.2: the client switches to encryption first; its next alert's bytes are ciphertext.
    watcher.client(record(0x14, Buffer.from([1])));
    watcher.client(record(0x15, Buffer.from([0x8a, 0x31, 0x07, 0x99])));
    watcher.stop();
    assert.deepEqual(failures, []);
    assert.equal(ex.tls?.alert, undefined);
  });

  it('a warning unrecognized_name is not a refusal: the handshake goes on (RFC 6066 §3)', () => {
    const { ex, failures } = watched();
    const watcher = new TlsWatcher(ex, 60_000, (f) => failures.push(f));
    watcher.client(hello);
    watcher.upstream(record(0x15, Buffer.from([1, 112])));
    watcher.upstream(record(0x16, Buffer.from([0x02, 0, 0, 0])));
    assert.equal(watcher.active, true);
    assert.equal(failures.length, 0);
    watcher.upstream(record(0x15, Buffer.from([2, 112]))); // the same alert, fatal, is a refusal
    watcher.stop();
    assert.equal(failures[0]?.params['alert-id'], 112);
  });

  it('only the first refusal is recorded: later alerts do not rewrite the story', () => {
    const { ex, failures } = watched();
    const watcher = new TlsWatcher(ex, 60_000, (f) => failures.push(f));
    watcher.client(hello);
    watcher.upstream(record(0x15, Buffer.from([2, 70])));
    watcher.client(record(0x15, Buffer.from([2, 80])));
    assert.equal(failures.length, 1);
    assert.deepEqual(ex.tls?.alert, { id: 70, from: 'upstream' });
  });

  it('a stalled upstream fires the timeout with cut=true; a ServerHello disarms it', (t) => {
    // Mocked clocks: "nothing fires after the deadline" is checked without waiting for it.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const stalled = watched();
    const cuts: boolean[] = [];
    new TlsWatcher(stalled.ex, 300, (f, cut) => {
      stalled.failures.push(f);
      cuts.push(cut);
    }).client(hello);
    t.mock.timers.tick(299);
    assert.equal(stalled.failures.length, 0, 'not before tlsMs');
    t.mock.timers.tick(1);
    assert.equal(stalled.failures[0]?.code, 'tls_timeout');
    assert.deepEqual(cuts, [true]);

    const answered = watched();
    const watcher = new TlsWatcher(answered.ex, 300, (f) => answered.failures.push(f));
    watcher.client(hello);
    watcher.upstream(record(0x16, Buffer.from([0x02, 0, 0, 0])));
    t.mock.timers.tick(1_000);
    assert.deepEqual(answered.failures, []);
  });

  it('an upstream that speaks first is another protocol: nothing is watched or reported', () => {
    const { ex, failures } = watched();
    const watcher = new TlsWatcher(ex, 60_000, (f) => failures.push(f));
    watcher.upstream(Buffer.from('220 smtp.example ESMTP\r\n'));
    watcher.client(hello);
    assert.equal(watcher.active, false);
    assert.equal(ex.tls, undefined);
    assert.deepEqual(failures, []);
  });

  it('a tunnel whose first bytes are not a ClientHello is left alone, even when they arrive one by one', () => {
    const { ex, failures } = watched();
    const watcher = new TlsWatcher(ex, 60_000, (f) => failures.push(f));
    for (const byte of Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')) watcher.client(Buffer.from([byte]));
    assert.equal(watcher.active, false);
    assert.equal(ex.tls, undefined);
    assert.deepEqual(failures, []);
  });
});

function watched(): { ex: Exchange; failures: HopFailure[] } {
  return { ex: new Exchange(new Lifecycle(), 'connect', '127.0.0.1', 1), failures: [] };
}

function record(type: number, body: Buffer): Buffer {
  const header = Buffer.from([type, 3, 3, 0, 0]);
  header.writeUInt16BE(body.length, 3);
  return Buffer.concat([header, body]);
}

/** The first bytes a real Node TLS client sends: a ClientHello, with `servername` as its SNI. */
async function captureClientHello(servername: string | undefined): Promise<Buffer> {
  let resolveHello: (b: Buffer) => void = () => {};
  const captured = new Promise<Buffer>((resolve) => (resolveHello = resolve));
  const up = await tcpServer((s) => {
    let got = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
        resolveHello(got);
        s.destroy();
      }
    });
  });
  const client = tls.connect({ port: up.port, host: '127.0.0.1', ...(servername ? { servername } : {}) });
  client.on('error', () => {});
  const hello = await captured;
  client.destroy();
  await up.close();
  return hello;
}
