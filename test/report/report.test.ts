// `hopwatch report`: the quantile sketch's accuracy, the report's sections on a small known log,
// the command line (stdin, files, text and JSON), and 200k lines in a stream in bounded memory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, it } from 'node:test';
import { buildReport } from '../../src/report/command.ts';
import { QuantileSketch } from '../../src/report/sketch.ts';
import { TopCounter } from '../../src/report/top.ts';

const T0 = Date.parse('2025-03-03T09:00:00.000Z');

function exchangeLine(i: number, code: string, target: string, ms: { ttfb?: number; total: number; connect?: number }, extra: Record<string, unknown> = {}): string {
  const failure = code !== 'ok' && !code.startsWith('upstream_');
  return JSON.stringify({
    level: failure ? 'warn' : 'info', time: new Date(T0 + i * 10).toISOString(), service: 'hopwatch', id: `gen-${i.toString(36)}`,
    protocol: 'http', client_ip: '127.0.0.1', client_port: 40000 + (i % 20000), method: 'GET', target, scheme: 'http', path: '/v1/items',
    upstream_ip: failure ? undefined : '10.0.0.8', upstream_port: 443, status: code === 'ok' ? 200 : code === 'upstream_503' ? 503 : 502, code,
    hop: code === 'ok' ? 'deliver' : code === 'dns_nxdomain' ? 'dns' : code === 'upstream_503' ? 'upstream' : 'connect',
    category: 'network', source: failure ? 'proxy' : 'upstream', temporary: code === 'ok' ? undefined : false,
    response_started: !failure, durations_ms: { dns: 0.8, connect: ms.connect, ttfb: ms.ttfb, total: ms.total },
    bytes: { from_client: 0, to_upstream: 120, from_upstream: 512, to_client: 512 }, ...extra,
  });
}

describe('quantile sketch', () => {
  it('stays within 1 % of the exact percentiles, in a bounded number of buckets', () => {
    const sketch = new QuantileSketch();
    const values: number[] = [];
    let seed = 7;
    for (let i = 0; i < 100_000; i++) {
      seed = (seed * 48271) % 2147483647;
      const v = -Math.log(seed / 2147483647) * 40; // exponential, mean 40 ms
      values.push(v);
      sketch.add(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = values[Math.floor(q * (values.length - 1))]!;
      const got = sketch.quantile(q);
      assert.ok(Math.abs(got - exact) / exact <= 0.011, `p${q * 100}: ${got} vs ${exact}`);
    }
    const buckets = (sketch as unknown as { buckets: Map<number, number> }).buckets.size;
    assert.ok(buckets < 1_500, `${buckets} buckets`);
  });
});

describe('top counter', () => {
  it('keeps at most max keys; the failing ones survive pruning', () => {
    const top = new TopCounter<{ total: number; errors: number }>(100, () => ({ total: 0, errors: 0 }), (v) => v.errors);
    for (let i = 0; i < 10; i++) top.get('bad.test:443').errors += 5;
    for (let i = 0; i < 1_000; i++) top.get(`ok${i}.test:443`).total++;
    assert.ok(top.size <= 100);
    assert.equal(top.truncated, true);
    assert.equal(top.distinct, 100, 'a lower bound once truncated');
    assert.deepEqual(top.top(1).map(([k, v]) => [k, v.errors]), [['bad.test:443', 50]]);
  });
});

describe('hopwatch report', () => {
  it('reports codes, hops, destinations, auth failures apart from other 4xx, and skipped lines', async () => {
    const lines = [
      exchangeLine(0, 'ok', 'a.test:80', { ttfb: 10, total: 12 }),
      exchangeLine(1, 'connect_refused', 'b.test:80', { total: 1 }),
      exchangeLine(2, 'upstream_404', 'a.test:80', { ttfb: 5, total: 6 }, { status: 404 }),
      exchangeLine(3, 'destination_denied', 'c.test:80', { total: 1 }, { status: 403, hop: 'policy' }),
      exchangeLine(4, 'auth_invalid', 'a.test:80', { total: 1 }, { status: 407, hop: 'auth' }),
      JSON.stringify({ level: 'warn', msg: 'auth_failure', username: 'alice', reason: 'wrong_password', client_ip: '127.0.0.1' }),
      JSON.stringify({ level: 'info', msg: 'hopwatch listening' }),
      'garbage',
    ].map((l) => (l.startsWith('{"level"') && !l.includes('"msg"') ? l.replace('"service":"hopwatch"', '"service":"hopwatch","msg":"exchange"') : l));
    const report = await buildReport([Readable.from(lines.join('\n'))]);
    assert.deepEqual(report.lines, { read: 8, exchanges: 5, auth_failures: 1, skipped_not_json: 1, skipped_other: 1 });
    assert.deepEqual(report.totals, { exchanges: 5, ok: 1, errors: 4, error_rate: 0.8, by_protocol: { http: 5 } });
    assert.deepEqual(report.auth, { refused: 1, by_reason: { wrong_password: 1 }, by_user: [{ user: 'alice', count: 1 }], origin_401: 0, origin_407: 0 });
    assert.deepEqual(report.other_4xx, { total: 2, by_code: { upstream_404: 1, destination_denied: 1 } });
    assert.deepEqual(report.by_destination.top.map((d) => [d.target, d.total, d.errors]), [['a.test:80', 3, 2], ['b.test:80', 1, 1], ['c.test:80', 1, 1]]);
    assert.equal(report.latency_ms.ttfb?.count, 2);
  });

  it('reads stdin or files, prints text or --json, and exits 0', () => {
    const log = [0, 1, 2].map((i) => exchangeLine(i, 'connect_refused', `h${i}.test:443`, { total: 2 }, { msg: 'exchange' })).join('\n');
    const text = spawnSync(process.execPath, ['src/cli.ts', 'report'], { input: log, encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^hopwatch report: 3 exchanges from 2025-03-03T09:00:00.000Z/);
    assert.match(text.stdout, /connect_refused\s+3\s+100\.00 %\s+connect\s+proxy/);
    assert.match(text.stdout, /Findings \(window 300 s\): 0 opened/);
    const json = spawnSync(process.execPath, ['src/cli.ts', 'report', '--json', '-'], { input: log, encoding: 'utf8' });
    assert.equal(JSON.parse(json.stdout).totals.errors, 3);
    const missing = spawnSync(process.execPath, ['src/cli.ts', 'report', '/nonexistent/hopwatch.log'], { encoding: 'utf8' });
    assert.equal(missing.status, 66);
    assert.match(missing.stderr, /ENOENT/);
  });

  it('streams 200k lines with the heap bounded and the numbers exact', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const TOTAL = 200_000;
    const heap: number[] = [];
    gc();
    const baseline = process.memoryUsage().heapUsed;
    function* generate(): Generator<string> {
      for (let i = 0; i < TOTAL; i++) {
        if (i % 50_000 === 0) {
          gc();
          heap.push(process.memoryUsage().heapUsed - baseline);
        }
        const r = i % 100;
        const code = r < 5 ? 'connect_refused' : r < 8 ? 'upstream_503' : r === 8 ? 'dns_nxdomain' : 'ok';
        // 20,000 destinations: more than every bound, so eviction and pruning run.
        const target = `host${i % 20_000}.example:443`;
        const ttfb = code === 'ok' || code === 'upstream_503' ? (i % 1000) + 1 : undefined;
        yield `${exchangeLine(i, code, target, { ttfb, total: (ttfb ?? 0) + 2, connect: 1.5 }, { msg: 'exchange' })}\n`;
        if (i % 1000 === 999) yield `${JSON.stringify({ msg: 'auth_failure', username: `user${i % 7}`, reason: 'wrong_password' })}\n`;
        if (i % 5000 === 4999) yield 'not json\n';
      }
    }
    const started = performance.now();
    const report = await buildReport([Readable.from(generate())]);
    gc();
    heap.push(process.memoryUsage().heapUsed - baseline);
    const mb = heap.map((h) => Math.round(h / 1e5) / 10);
    assert.ok(Math.max(...heap) < 50e6, `heap growth in MB at each 50k lines: ${mb.join(', ')}`);
    assert.equal(report.totals.exchanges, TOTAL);
    assert.deepEqual(report.by_code.map((c) => [c.code, c.count]), [['connect_refused', 10_000], ['upstream_503', 6_000], ['dns_nxdomain', 2_000]]);
    assert.deepEqual(report.lines, { read: TOTAL + 200 + 40, exchanges: TOTAL, auth_failures: 200, skipped_not_json: 40, skipped_other: 0 });
    assert.equal(report.by_destination.distinct >= 20_000, true);
    const ttfb = report.latency_ms.ttfb!;
    assert.equal(ttfb.count, 188_000); // ok and 503 answers: 94 %
    for (const [p, exact] of [[ttfb.p50, 500], [ttfb.p95, 950], [ttfb.p99, 990]] as const) {
      assert.ok(Math.abs(p - exact) / exact < 0.015, `${p} vs ${exact}`);
    }
    assert.equal(report.latency_ms.connect?.p99, 1.5);
    // connect_refused on 1 % of many destinations: the widespread rule sees it.
    assert.ok(report.findings.opened.widespread >= 1);
    process.stdout.write(`# 200k lines in ${Math.round(performance.now() - started)} ms; heap growth MB: ${mb.join(', ')}\n`);
  });
});
