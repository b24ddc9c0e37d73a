// The doctor through hopwatch itself (started by the tests): absolute-form and CONNECT, refusals
// read back from Proxy-Status, SOCKS5 sessions against the SOCKS listener, the admin listener's
// health and findings, and the latency comparison with the direct baseline.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testPki } from '../helpers/certs.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { closedPort, httpOrigin, type Upstream } from '../helpers/upstreams.ts';
import { doctor, httpsOrigin, layer } from './fixtures.ts';

const pki = testPki();
let origin: Upstream;
let secure: Upstream;
let proxy: TestProxy;
let locked: TestProxy;

before(async () => {
  origin = await httpOrigin((req, res) => (req.url === '/slow' ? setTimeout(() => res.end('late'), 300) : res.end('hello')));
  secure = await httpsOrigin(pki.valid);
  proxy = await startProxy({ socks: { enabled: true, port: 0 } });
  locked = await startProxy({ socks: { enabled: true, port: 0 }, auth: { users: [{ username: 'alice', password: 's3cret' }] } });
});

after(async () => {
  await Promise.all([origin.close(), secure.close(), proxy.close(), locked.close()]);
});

describe('doctor through the HTTP proxy', () => {
  it('a healthy http origin directly and through the proxy: every layer ✓', async () => {
    const report = await doctor([`${origin.origin}/`, '--proxy', proxy.url]);
    assert.ok(report.layers.every((l) => l.status === 'ok' || (l.layer === 'dns' && l.status === 'skipped')));
    const via = layer(report, 'proxy');
    assert.deepEqual([via.mode, via.httpStatus, via.stage], ['absolute-form', 200, 'request']);
    assert.equal(report.verdict.healthy, true);
    assert.equal(typeof report.verdict.latency.overheadMs, 'number');
  });

  it('https through CONNECT, then TLS inside the tunnel, then the GET', async () => {
    const report = await doctor([`${secure.origin}/`, '--proxy', proxy.url], { ca: pki.caPem });
    const via = layer(report, 'proxy');
    assert.deepEqual([via.status, via.mode, via.connectStatus, via.httpStatus], ['ok', 'connect', 200, 200]);
    assert.equal(report.verdict.healthy, true);
  });

  it('direct works, the proxy wants credentials: auth_missing read from Proxy-Status, owned by the proxy', async () => {
    for (const url of [`${origin.origin}/`, `${secure.origin}/`]) {
      const report = await doctor([url, '--proxy', locked.url], { ca: pki.caPem });
      assert.equal(layer(report, 'http').status, 'ok');
      const via = layer(report, 'proxy');
      assert.deepEqual([via.status, via.code, via.proxyError], ['failed', 'auth_missing', 'http_request_error']);
      assert.match(via.proxyStatus ?? '', /^hopwatch; error=http_request_error; status-code=407/);
      assert.match(via.requestId ?? '', /\S/);
      if (url.startsWith('https')) assert.equal(via.connectStatus, 407);
      else assert.equal(via.httpStatus, 407);
      assert.deepEqual([report.verdict.layer, report.verdict.code, report.verdict.owner], ['proxy', 'auth_missing', 'proxy']);
      assert.match(report.verdict.action ?? '', /user:password/);
    }
  });

  it('wrong credentials are auth_invalid; the right ones pass', async () => {
    const wrong = await doctor([`${origin.origin}/`, '--proxy', `http://alice:nope@127.0.0.1:${locked.port}`]);
    assert.equal(layer(wrong, 'proxy').code, 'auth_invalid');
    assert.equal(layer(wrong, 'proxy').proxy, `http://alice:***@127.0.0.1:${locked.port}`, 'no password in the output');
    const right = await doctor([`${origin.origin}/`, '--proxy', `http://alice:s3cret@127.0.0.1:${locked.port}`]);
    assert.equal(right.verdict.healthy, true);
  });

  it('a policy refusal (denied destination) is the proxy\'s', async () => {
    const strict = await startProxy({ access: { denyDestinations: ['127.0.0.1/32'] } });
    try {
      const report = await doctor([`${origin.origin}/`, '--proxy', strict.url]);
      const via = layer(report, 'proxy');
      assert.equal(via.httpStatus, 403);
      assert.match(via.code ?? '', /^destination_(ip_)?denied$/);
      assert.equal(report.verdict.owner, 'proxy');
    } finally {
      await strict.close();
    }
  });

  it('a proxy that cannot be reached is the proxy\'s, at stage proxy_connect', async () => {
    const report = await doctor([`${origin.origin}/`, '--proxy', `http://127.0.0.1:${await closedPort()}`]);
    const via = layer(report, 'proxy');
    assert.deepEqual([via.stage, via.code], ['proxy_connect', 'connect_refused']);
    assert.equal(report.verdict.owner, 'proxy');
    assert.match(report.verdict.cause ?? '', /proxy cannot be reached/);
  });

  it('a slow origin: first byte timed directly and through the proxy, and compared', async () => {
    const report = await doctor([`${origin.origin}/slow`, '--proxy', proxy.url]);
    const { directTtfbMs, proxyTtfbMs, overheadMs, ratio } = report.verdict.latency;
    assert.ok((directTtfbMs ?? 0) >= 290 && (proxyTtfbMs ?? 0) >= 290, `${directTtfbMs} / ${proxyTtfbMs}`);
    assert.equal(overheadMs, (proxyTtfbMs ?? 0) - (directTtfbMs ?? 0));
    assert.ok(ratio !== null && ratio > 0.5 && ratio < 3);
  });
});

describe('doctor through SOCKS5', () => {
  it('a session against the SOCKS listener: reply 0x00, then the request over it', async () => {
    for (const url of [`${origin.origin}/`, `${secure.origin}/`]) {
      const report = await doctor([url, '--socks', `socks5h://127.0.0.1:${proxy.socksPort}`], { ca: pki.caPem });
      const socks = layer(report, 'socks');
      assert.deepEqual([socks.status, socks.method, socks.reply, socks.replyMeaning, socks.httpStatus], ['ok', 0x00, 0x00, 'succeeded', 200]);
      assert.equal(report.verdict.healthy, true);
      assert.equal(typeof report.verdict.latency.socksTtfbMs, 'number');
    }
  });

  it('credentials: none offered is auth_missing (05 FF); the right ones pass with method 0x02', async () => {
    const refused = await doctor([`${origin.origin}/`, '--socks', `socks5h://127.0.0.1:${locked.socksPort}`]);
    assert.deepEqual([layer(refused, 'socks').method, layer(refused, 'socks').code], [0xff, 'auth_missing']);
    assert.equal(refused.verdict.owner, 'proxy');
    const wrong = await doctor([`${origin.origin}/`, '--socks', `socks5h://alice:nope@127.0.0.1:${locked.socksPort}`]);
    assert.equal(layer(wrong, 'socks').code, 'auth_invalid');
    const right = await doctor([`${origin.origin}/`, '--socks', `socks5://alice:s3cret@127.0.0.1:${locked.socksPort}`]);
    assert.deepEqual([layer(right, 'socks').method, layer(right, 'socks').status], [0x02, 'ok']);
  });

  it('a refused destination: reply 0x05 connection refused, named connect_refused', async () => {
    const report = await doctor([`http://127.0.0.1:${await closedPort()}/`, '--socks', `socks5h://127.0.0.1:${proxy.socksPort}`]);
    const socks = layer(report, 'socks');
    assert.deepEqual([socks.reply, socks.replyMeaning, socks.code], [0x05, 'connection refused', 'connect_refused']);
    assert.deepEqual([report.verdict.layer, report.verdict.owner], ['tcp', 'network'], 'the first failing layer is the direct one');
  });
});

describe('doctor: the proxy\'s health', () => {
  it('/healthz and /readyz from the admin listener', async () => {
    const report = await doctor([`${origin.origin}/`, '--admin', proxy.adminUrl]);
    const health = layer(report, 'health');
    assert.deepEqual([health.status, health.healthz, health.readyz], ['ok', 200, 200]);
    assert.ok(health.findings === null || Array.isArray(health.findings));
  });

  it('findings that mention this destination are kept; a 404 from /errors is "no findings available"', async () => {
    const authority = `127.0.0.1:${origin.port}`;
    const doc = { findings: [{ kind: 'structural', code: 'upstream_503', target: authority }, { kind: 'temporary', target: 'other:1' }], codes: {} };
    for (const [errors, expected] of [[doc, 1], [null, null]] as const) {
      const admin = await httpOrigin((req, res) => {
        if (req.url?.startsWith('/errors') && errors) res.end(JSON.stringify(errors));
        else if (req.url?.startsWith('/errors')) res.writeHead(404).end();
        else res.end('ok');
      });
      try {
        const health = layer(await doctor([`${origin.origin}/`, '--admin', admin.origin]), 'health');
        assert.equal(health.findings === null ? null : health.findings.length, expected);
        if (expected === null) assert.match(health.notes.join(' '), /no findings available/);
      } finally {
        await admin.close();
      }
    }
  });
});
