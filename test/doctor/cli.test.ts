// The real `hopwatch doctor` process: progress lines, one JSON object with --json, and the exit
// code a script can act on (0 healthy, 1 a layer failed, 2 usage error).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DoctorReport } from '../../src/doctor/types.ts';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { httpOrigin, type Upstream } from '../helpers/upstreams.ts';
import { runCli } from './fixtures.ts';

let origin: Upstream;
let proxy: TestProxy;
let fake: FakeDns;

before(async () => {
  origin = await httpOrigin((_req, res) => res.end('hello'));
  fake = await startDnsServer({ 'two.test': { a: ['127.0.0.1', '127.0.0.2'] } });
  proxy = await startProxy({ dns: { servers: [fake.address] } });
});

after(async () => {
  await Promise.all([origin.close(), proxy.close(), fake.close()]);
});

describe('hopwatch doctor (spawned)', () => {
  it('healthy directly and through the proxy: ✓ lines as progress, exit 0', async () => {
    const run = await runCli([`${origin.origin}/`, '--proxy', proxy.url, '--admin', proxy.adminUrl]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const lines = run.stdout.split('\n');
    for (const title of ['TCP', 'HTTP direct', 'via proxy', 'proxy health']) {
      assert.ok(lines.some((l) => l.startsWith(`✓ ${title}`)), `a ✓ line for ${title} in:\n${run.stdout}`);
    }
    assert.match(run.stdout, /^Verdict: ✓ healthy/m);
    assert.match(run.stdout, /Latency: first byte direct [\d.]+ ms, via proxy [\d.]+ ms/);
  });

  it('--json: one object, no progress lines, the same verdict', async () => {
    const run = await runCli([`${origin.origin}/`, '--proxy', proxy.url, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as DoctorReport;
    assert.deepEqual(report.layers.map((l) => [l.layer, l.status]), [['dns', 'skipped'], ['tcp', 'ok'], ['http', 'ok'], ['proxy', 'ok']]);
    assert.equal(report.verdict.healthy, true);
    assert.equal(report.target.port, origin.port);
  });

  it('NXDOMAIN from the given resolver: DNS ✗ with its rcode, owned by the network, exit 1', async () => {
    const run = await runCli([`http://missing.test:${origin.port}/`, '--dns-server', fake.address, '--proxy', proxy.url, '--json']);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as DoctorReport;
    const dns = report.layers.find((l) => l.layer === 'dns');
    assert.deepEqual(dns && [dns.status, dns.code, dns.layer === 'dns' && dns.rcode], ['failed', 'dns_nxdomain', 'NXDOMAIN']);
    const via = report.layers.find((l) => l.layer === 'proxy');
    assert.deepEqual(via && [via.status, via.code], ['failed', 'dns_nxdomain'], 'the proxy, asking the same resolver, agrees');
    assert.deepEqual([report.verdict.layer, report.verdict.code, report.verdict.owner], ['dns', 'dns_nxdomain', 'network']);
  });

  it('one dead address behind a name: a ✓ and a ✗ connect_refused line under TCP, exit 1', async () => {
    const run = await runCli([`http://two.test:${origin.port}/`, '--dns-server', fake.address]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /^⚠ TCP .*1 of 2 addresses failed/m);
    assert.match(run.stdout, new RegExp(`^ {4}✓ 127\\.0\\.0\\.1:${origin.port} `, 'm'));
    assert.match(run.stdout, new RegExp(`^ {4}✗ 127\\.0\\.0\\.2:${origin.port} .*connect_refused`, 'm'));
    assert.match(run.stdout, /^Verdict: ✗ tcp degraded: connect_refused, owned by the network/m);
  });

  it('usage errors exit 2 before touching the network', async () => {
    for (const args of [[], ['ftp://example.com/'], [`${origin.origin}/`, '--timeout', 'soon'], [`${origin.origin}/`, '--proxy', 'socks5://127.0.0.1:1'], [`${origin.origin}/`, '--bogus']]) {
      const run = await runCli(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stdout}`);
      assert.match(run.stderr, /^hopwatch doctor: /);
      assert.equal(run.stdout, '');
    }
  });
});
