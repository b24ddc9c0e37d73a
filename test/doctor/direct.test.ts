// The doctor's direct layers against real faults: a name with a dead address behind it, DNS
// failures from a fake resolver, TLS servers with broken certificates, origins that answer 503,
// stall, or are slow. The runner is called in-process with the CLI's own argument parser.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testPki } from '../helpers/certs.ts';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { closedPort, httpOrigin, silentServer, type Upstream } from '../helpers/upstreams.ts';
import { doctor, httpsOrigin, layer } from './fixtures.ts';

const pki = testPki();
let fake: FakeDns;
let origin: Upstream;

before(async () => {
  // 127.0.0.2 is loopback too, but nothing listens there: a refused node behind the name.
  fake = await startDnsServer({ 'two.test': { a: ['127.0.0.1', '127.0.0.2'] }, 'servfail.test': 'servfail', 'nodata.test': 'nodata' });
  origin = await httpOrigin((req, res) => {
    if (req.url === '/503') res.writeHead(503).end('overloaded');
    else if (req.url === '/slow') setTimeout(() => res.end('late'), 300);
    else res.end('hello');
  });
});

after(async () => {
  await fake.close();
  await origin.close();
});

describe('doctor: DNS and TCP', () => {
  it('shows one refusing address of two behind a name: TCP degraded, the other address still serves', async () => {
    const report = await doctor([`http://two.test:${origin.port}/`, '--dns-server', fake.address]);
    assert.deepEqual(report.progress, ['dns', 'tcp', 'http'], 'each layer reported as it finished, in order');
    assert.deepEqual(layer(report, 'dns').answers.map((a) => a.address), ['127.0.0.1', '127.0.0.2']);
    const tcp = layer(report, 'tcp');
    assert.equal(tcp.status, 'degraded');
    assert.deepEqual(tcp.attempts.map((a) => [a.address, a.outcome]), [['127.0.0.1', 'connected'], ['127.0.0.2', 'connect_refused']]);
    assert.ok(tcp.attempts.every((a) => a.ms >= 0 && a.port === origin.port));
    assert.equal(layer(report, 'http').status, 'ok');
    assert.equal(layer(report, 'http').address, '127.0.0.1', 'the request goes to the address that connected');
    assert.equal(report.verdict.healthy, false, 'clients given the dead address fail: not healthy');
    assert.deepEqual([report.verdict.layer, report.verdict.code, report.verdict.owner], ['tcp', 'connect_refused', 'network']);
    assert.match(report.verdict.action ?? '', /listening/);
  });

  it('reports SERVFAIL and NODATA with their rcode, and skips what needs an address', async () => {
    for (const [name, code, rcode] of [['servfail.test', 'dns_server_failure', 'SERVFAIL'], ['nodata.test', 'dns_nodata', 'NODATA']] as const) {
      const report = await doctor([`http://${name}/`, '--dns-server', fake.address]);
      const dns = layer(report, 'dns');
      assert.deepEqual([dns.status, dns.code, dns.rcode], ['failed', code, rcode]);
      assert.equal(layer(report, 'tcp').status, 'skipped');
      assert.equal(layer(report, 'http').status, 'skipped');
      assert.deepEqual([report.verdict.layer, report.verdict.owner], ['dns', 'network']);
    }
  });

  it('skips DNS for an IP literal and reports a closed port as connect_refused, owned by the network', async () => {
    const report = await doctor([`http://127.0.0.1:${await closedPort()}/`]);
    assert.equal(layer(report, 'dns').status, 'skipped');
    const tcp = layer(report, 'tcp');
    assert.deepEqual([tcp.status, tcp.code, tcp.attempts.length], ['failed', 'connect_refused', 1]);
    assert.equal(layer(report, 'http').status, 'skipped');
    assert.deepEqual([report.verdict.layer, report.verdict.owner], ['tcp', 'network']);
  });
});

describe('doctor: TLS', () => {
  const cases = [
    { pair: 'expired', code: 'tls_cert_expired', validity: 'expired', covers: true },
    { pair: 'notYetValid', code: 'tls_cert_not_yet_valid', validity: 'not_yet_valid', covers: true },
    { pair: 'wrongName', code: 'tls_cert_hostname_mismatch', validity: 'valid', covers: false },
    { pair: 'selfSigned', code: 'tls_cert_untrusted', validity: 'valid', covers: true },
  ] as const;
  for (const c of cases) {
    it(`${c.pair}: TLS ✗ ${c.code}, the certificate still shown, owned by the upstream`, async () => {
      const server = await httpsOrigin(pki[c.pair]);
      try {
        const report = await doctor([`https://127.0.0.1:${server.port}/`], { ca: pki.caPem });
        const tls = layer(report, 'tls');
        assert.deepEqual([tls.status, tls.code], ['failed', c.code]);
        assert.equal(tls.certificate?.validity, c.validity);
        assert.equal(tls.certificate?.coversHost, c.covers);
        assert.match(tls.certificate?.subject ?? '', /CN=localhost/);
        assert.match(tls.version ?? '', /^TLSv1\.[23]$/, 'read from the second, non-verifying handshake');
        assert.equal(layer(report, 'http').status, 'skipped', 'a client would stop at the handshake');
        // The handshake works; the certificate is the origin's to fix, whatever the path.
        assert.deepEqual([report.verdict.layer, report.verdict.code, report.verdict.owner], ['tls', c.code, 'upstream']);
      } finally {
        await server.close();
      }
    });
  }

  it('a valid certificate: version, issuer, days left, names covering the host, then HTTP over it', async () => {
    const server = await httpsOrigin(pki.valid);
    try {
      const report = await doctor([`https://127.0.0.1:${server.port}/`], { ca: pki.caPem });
      const tls = layer(report, 'tls');
      assert.equal(tls.status, 'ok');
      assert.equal(tls.sni, undefined, 'no SNI for an IP address');
      assert.match(tls.certificate?.issuer ?? '', /hopwatch test CA/);
      assert.ok((tls.certificate?.daysLeft ?? 0) >= 28);
      assert.ok(tls.certificate?.names.includes('IP Address:127.0.0.1'));
      assert.equal(layer(report, 'http').httpStatus, 200);
      assert.equal(report.verdict.healthy, true);
    } finally {
      await server.close();
    }
  });
});

describe('doctor: the origin directly', () => {
  it('an origin answering 503: HTTP ✗ upstream_503, owned by the upstream', async () => {
    const report = await doctor([`${origin.origin}/503`]);
    const http = layer(report, 'http');
    assert.deepEqual([http.status, http.code, http.httpStatus], ['failed', 'upstream_503', 503]);
    assert.deepEqual([report.verdict.layer, report.verdict.owner], ['http', 'upstream']);
    assert.match(report.verdict.cause ?? '', /overload/i);
  });

  it('a slow origin: time to first byte measured', async () => {
    const report = await doctor([`${origin.origin}/slow`]);
    const http = layer(report, 'http');
    assert.equal(http.status, 'ok');
    assert.ok((http.ttfbMs ?? 0) >= 290, `ttfb ${http.ttfbMs}`);
    assert.ok((http.totalMs ?? 0) >= (http.ttfbMs ?? 0));
    assert.equal(report.verdict.latency.directTtfbMs, http.ttfbMs);
  });

  it('an origin that never answers, with --timeout: response_timeout within the step budget', async () => {
    const silent = await silentServer();
    try {
      const started = performance.now();
      const report = await doctor([`${silent.origin}/`, '--timeout', '300']);
      assert.ok(performance.now() - started < 2_000);
      const http = layer(report, 'http');
      assert.deepEqual([http.status, http.code], ['failed', 'response_timeout']);
      assert.deepEqual([report.verdict.layer, report.verdict.owner], ['http', 'upstream']);
    } finally {
      await silent.close();
    }
  });
});
