// The recurrence analysis inside a running proxy, driven by real faults: closed ports, an origin
// answering 503, a port that refuses then recovers, a name whose first address refuses, an
// origin that turns slow. Date is mocked (node:test mock.timers), so the analysis clock and the
// log's timestamps move together without sleeping, and `hopwatch report` on the captured log
// must reach the same findings.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import type { Finding } from '../../src/analysis/findings.ts';
import type { Report } from '../../src/report/aggregate.ts';
import { viaProxy } from '../helpers/client.ts';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { scrape, sample } from '../helpers/metrics.ts';
import { startProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { closedPort, httpOrigin, type Upstream } from '../helpers/upstreams.ts';

const T0 = Date.parse('2025-03-03T09:00:00.000Z');
const WINDOW = 60_000;
/** Long enough for every window-bound finding to age out and the slow destination to go quiet. */
const QUIET = 2 * WINDOW;
const KINDS = ['widespread', 'recurring', 'burst', 'unhealthy_address', 'latency_shift'];

interface Errors {
  window_ms: number;
  findings: Finding[];
  codes: Record<string, { count: number; destinations: number; last_seen: string }>;
}

describe('recurrence analysis in a live proxy', () => {
  let proxy: TestProxy;
  let dns: FakeDns;
  let failing: Upstream;
  let plain: Upstream;
  let slow: Upstream;
  let delayMs = 0;
  const tick = (ms: number) => mock.timers.tick(ms);
  const send = async (url: string): Promise<LogLine> => {
    const res = await viaProxy(proxy.port, url);
    return proxy.logs.exchange(res.headers['x-request-id']);
  };
  const errors = async (): Promise<Errors> => (await fetch(`${proxy.adminUrl}/errors`)).json() as Promise<Errors>;
  const open = (doc: Errors, kind: string) => doc.findings.filter((f) => f.kind === kind && f.state === 'open');

  before(async () => {
    mock.timers.enable({ apis: ['Date'], now: T0 });
    // Connection: close, so every request connects anew and reports each address it tried.
    plain = await httpOrigin((_req, res) => res.writeHead(200, { Connection: 'close' }).end('ok'));
    failing = await httpOrigin((_req, res) => res.writeHead(503).end('busy'));
    slow = await httpOrigin((_req, res) => setTimeout(() => res.end('late'), delayMs));
    dns = await startDnsServer({ 'pair.test': { a: ['127.0.0.2', '127.0.0.1'] } });
    proxy = await startProxy({ dns: { servers: [dns.address] }, analysis: { windowMs: WINDOW } });
  });
  after(async () => {
    await proxy.close();
    await Promise.all([dns.close(), plain.close(), failing.close(), slow.close()]);
    mock.timers.reset();
  });

  it('starts with every finding series at zero and nothing on /errors', async () => {
    const text = await scrape(proxy.adminUrl);
    for (const kind of KINDS) {
      assert.match(text, new RegExp(`hopwatch_findings_open\\{kind="${kind}"\\} 0`));
      assert.match(text, new RegExp(`hopwatch_findings_total\\{kind="${kind}"\\} 0`));
    }
    assert.deepEqual(await errors(), { window_ms: WINDOW, findings: [], codes: {} });
  });

  it('widespread: the same refusal on five destinations', async () => {
    const ports = [];
    for (let i = 0; i < 5; i++) ports.push(await closedPort());
    for (const port of ports) {
      const line = await send(`http://127.0.0.1:${port}/`);
      assert.equal(line.code, 'connect_refused');
      tick(1_000);
    }
    const doc = await errors();
    const [finding] = open(doc, 'widespread');
    assert.equal(finding?.code, 'connect_refused');
    assert.equal(finding.evidence.destinations, 5);
    assert.equal(finding.evidence.count, 5);
    assert.equal(finding.temporary, false);
    assert.match(finding.action, /Check firewall and port.*resolver, egress route/);
    assert.deepEqual(doc.codes.connect_refused, { count: 5, destinations: 5, last_seen: new Date(T0 + 4_000).toISOString() });
    const opened = await proxy.logs.waitFor((l) => l.msg === 'finding_opened' && l.kind === 'widespread');
    assert.equal(opened.level, 'warn');
    // Two windows later the destinations have left the window: it closes.
    tick(2 * WINDOW);
    assert.equal(open(await errors(), 'widespread').length, 0);
    await proxy.logs.waitFor((l) => l.msg === 'finding_closed' && l.finding_id === opened.finding_id);
  });

  it('recurring: an origin answering 503 again and again; temporary turns false on its log lines', async () => {
    const lines = [];
    for (let i = 0; i < 6; i++) {
      lines.push(await send(`${failing.origin}/busy`));
      tick(4_000);
    }
    assert.deepEqual(lines.map((l) => l.code), Array(6).fill('upstream_503'));
    // The catalogue calls a 503 temporary; from the fifth on, spread over 16 s, it recurs.
    assert.deepEqual(lines.map((l) => l.temporary), [true, true, true, true, false, false]);
    const [finding] = open(await errors(), 'recurring');
    assert.equal(finding?.target, `127.0.0.1:${failing.port}`);
    assert.equal(finding.code, 'upstream_503');
    assert.equal(finding.evidence.count, 6);
    assert.deepEqual(finding.evidence.examples, lines.slice(1).map((l) => l.id));
    assert.match(finding.action, /^Scale or queue requests.*Retries will not fix it/);
  });

  it('burst: a port that refuses for a moment, then serves; its next failure is called temporary', async () => {
    const port = await closedPort();
    const before = [];
    for (let i = 0; i < 3; i++) {
      before.push(await send(`http://127.0.0.1:${port}/`));
      tick(500);
    }
    assert.deepEqual(before.map((l) => [l.code, l.temporary]), Array(3).fill(['connect_refused', false]));
    const server = http.createServer((_req, res) => res.writeHead(200, { Connection: 'close' }).end('back'));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    for (let i = 0; i < 2; i++) {
      assert.equal((await send(`http://127.0.0.1:${port}/`)).code, 'ok');
      tick(500);
    }
    const [finding] = open(await errors(), 'burst');
    assert.equal(finding?.target, `127.0.0.1:${port}`);
    assert.equal(finding.evidence.count, 3);
    assert.equal(finding.evidence.successes_after, 2);
    assert.equal(finding.temporary, true);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const again = await send(`http://127.0.0.1:${port}/`);
    assert.equal(again.code, 'connect_refused');
    assert.equal(again.temporary, true, 'structural by default, temporary after a passing burst');
    assert.equal(open(await errors(), 'burst')[0]?.evidence.count, 4);
  });

  it('unhealthy_address: one of the two addresses of a name refuses while the other serves', async () => {
    for (let i = 0; i < 3; i++) {
      const line = await send(`http://pair.test:${plain.port}/`);
      assert.equal(line.code, 'ok');
      assert.deepEqual((line.attempts as Array<{ outcome: string }>).map((a) => a.outcome), ['connect_refused', 'connected']);
      tick(1_000);
    }
    const [finding] = open(await errors(), 'unhealthy_address');
    assert.equal(finding?.address, '127.0.0.2');
    assert.equal(finding.target, `pair.test:${plain.port}`);
    assert.equal(finding.code, 'connect_refused');
    assert.deepEqual(finding.evidence.healthy_siblings, ['127.0.0.1']);
    assert.match(finding.conclusion, /unhealthy node or a pinned DNS answer/);
  });

  it('latency_shift: an origin that turns slow after a fast baseline', async () => {
    for (let i = 0; i < 12; i++) {
      await send(`${slow.origin}/`);
      tick(1_000);
    }
    assert.equal(open(await errors(), 'latency_shift').length, 0);
    delayMs = 250;
    for (let i = 0; i < 4; i++) {
      await send(`${slow.origin}/`);
      tick(1_000);
    }
    const [finding] = open(await errors(), 'latency_shift');
    assert.equal(finding?.target, `127.0.0.1:${slow.port}`);
    assert.ok(Number(finding.evidence.recent_ttfb_ms) > 100, JSON.stringify(finding.evidence));
    assert.ok(Number(finding.evidence.baseline_ttfb_ms) < 50, JSON.stringify(finding.evidence));
  });

  it('counts findings in metrics, and logs each opening and closing exactly once', async () => {
    let text = await scrape(proxy.adminUrl);
    for (const kind of KINDS) assert.equal(sample(text, 'hopwatch_findings_total', { kind }), 1, kind);
    assert.equal(sample(text, 'hopwatch_findings_open', { kind: 'widespread' }), 0);
    for (const kind of KINDS.slice(1)) assert.equal(sample(text, 'hopwatch_findings_open', { kind }), 1, kind);
    tick(QUIET);
    text = await scrape(proxy.adminUrl); // a scrape alone closes what the window no longer supports
    for (const kind of KINDS) assert.equal(sample(text, 'hopwatch_findings_open', { kind }), 0, kind);
    const openedIds = proxy.logs.lines.filter((l) => l.msg === 'finding_opened').map((l) => l.finding_id);
    const closedIds = proxy.logs.lines.filter((l) => l.msg === 'finding_closed').map((l) => l.finding_id);
    assert.equal(openedIds.length, 5);
    assert.deepEqual([...closedIds].sort(), [...openedIds].sort());
    const doc = await errors();
    assert.deepEqual(doc.findings.map((f) => f.state), Array(5).fill('closed'));
  });

  it('`hopwatch report` on the captured log gives the exact counts and the same findings', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hopwatch-report-'));
    const file = join(dir, 'hopwatch.log');
    const text = proxy.logs.lines.map((l) => JSON.stringify(l)).join('\n');
    writeFileSync(file, `not json at all\n${text}\n{"truncated": \n`);
    const run = spawnSync(process.execPath, ['src/cli.ts', 'report', '--json', '--window-ms', String(WINDOW), file], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Report;
    // 5 + 6 + 6 + 3 + 16 exchanges, as sent above
    assert.equal(report.totals.exchanges, 36);
    assert.equal(report.lines.skipped_not_json, 2);
    assert.deepEqual(report.by_code.map((c) => [c.code, c.count, c.hop]), [['connect_refused', 9, 'connect'], ['upstream_503', 6, 'upstream']]);
    assert.equal(report.totals.ok, 21);
    assert.deepEqual(report.by_hop.map((h) => [h.hop, h.errors]), [['connect', 9], ['upstream', 6]]);
    assert.deepEqual(report.by_destination.top[0], { target: `127.0.0.1:${failing.port}`, total: 6, errors: 6, error_rate: 1, codes: { upstream_503: 6 } });
    const ttfb = report.latency_ms.ttfb!;
    assert.equal(ttfb.count, 27); // every answer from an origin: 21 ok and 6 × 503
    assert.ok(ttfb.p50 < 50 && ttfb.p95 >= 200 && ttfb.p99 >= 240 && ttfb.p99 <= ttfb.max, JSON.stringify(ttfb));
    assert.deepEqual(report.findings.opened, { widespread: 1, recurring: 1, burst: 1, unhealthy_address: 1, latency_shift: 1 });
    const live = proxy.logs.lines.filter((l) => l.msg === 'finding_opened').map((l) => `${String(l.kind)} ${String(l.target ?? l.code)}`);
    assert.deepEqual(report.findings.list.map((f) => `${f.kind} ${f.target ?? f.code}`), live);
  });
});
