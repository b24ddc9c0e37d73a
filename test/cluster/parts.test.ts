// The cluster primary's parts that need no processes: restart backoff, the merged /errors, and
// /metrics' sums across workers, including what a dead worker leaves in them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ErrorsReport } from '../../src/analysis/engine.ts';
import type { Finding } from '../../src/analysis/findings.ts';
import { RestartBackoff } from '../../src/cluster/backoff.ts';
import { mergeErrorReports } from '../../src/cluster/errors.ts';
import { ClusterMetrics, createPrimaryMetrics, type Family, type WorkerAnswer } from '../../src/cluster/metrics.ts';
import { sample } from '../helpers/metrics.ts';

describe('RestartBackoff', () => {
  it('replaces at once, doubles for each quick death in a row up to the ceiling, and starts over after a stable run', () => {
    const backoff = new RestartBackoff({ firstMs: 100, maxMs: 1_000, stableMs: 10_000 });
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map(() => backoff.next(50)), [0, 100, 200, 400, 800, 1_000, 1_000]);
    assert.equal(backoff.next(60_000), 0, 'a worker that had been up a while is replaced at once');
    assert.equal(backoff.next(50), 100);
  });
});

function finding(kind: Finding['kind'], state: Finding['state'], opened: string, closed?: string): Finding {
  return {
    id: 'f-1', kind, state, target: 'a.example:443', opened_at: opened, ...(closed ? { closed_at: closed } : {}),
    conclusion: '', temporary: false, action: '',
    evidence: { count: 3, window_ms: 1000, first_seen: opened, last_seen: opened, examples: [] },
  };
}

describe('mergeErrorReports', () => {
  it('lists every worker\'s findings with its worker, open first and newest first; adds up the codes', () => {
    const one: ErrorsReport = {
      window_ms: 300_000,
      findings: [finding('recurring', 'open', '2026-01-01T00:00:01Z'), finding('burst', 'closed', '2026-01-01T00:00:00Z', '2026-01-01T00:00:05Z')],
      codes: { connect_refused: { count: 3, destinations: 1, last_seen: '2026-01-01T00:00:01Z' } },
    };
    const two: ErrorsReport = {
      window_ms: 300_000,
      findings: [finding('recurring', 'open', '2026-01-01T00:00:02Z')],
      codes: {
        connect_refused: { count: 2, destinations: 2, last_seen: '2026-01-01T00:00:03Z' },
        dns_nxdomain: { count: 1, destinations: 1, last_seen: '2026-01-01T00:00:02Z' },
      },
    };
    const merged = mergeErrorReports([{ worker: 1, report: one }, { worker: 2, report: two }]);
    assert.equal(merged.workers, 2);
    assert.equal(merged.window_ms, 300_000);
    assert.deepEqual(merged.findings.map((f) => [f.worker, f.kind, f.state]), [[2, 'recurring', 'open'], [1, 'recurring', 'open'], [1, 'burst', 'closed']]);
    assert.deepEqual(merged.codes.connect_refused, { count: 5, destinations: 2, last_seen: '2026-01-01T00:00:03Z' });
    assert.deepEqual(merged.codes.dns_nxdomain, { count: 1, destinations: 1, last_seen: '2026-01-01T00:00:02Z' });
  });
});

/** A worker's registry: a counter, a histogram and two gauges, one of them aggregated by max. */
function workerRegistry(requests: number, open: number) {
  const registry = new Registry();
  new Counter({ name: 'x_requests_total', help: 'h', registers: [registry] }).inc(requests);
  new Histogram({ name: 'x_seconds', help: 'h', buckets: [1], registers: [registry] }).observe(0.5);
  new Gauge({ name: 'x_open', help: 'h', registers: [registry] }).set(open);
  new Gauge({ name: 'x_ratio', help: 'h', registers: [registry], aggregator: 'max' }).set(open / 10);
  return registry;
}

describe('ClusterMetrics', () => {
  it('sums the workers by each family\'s aggregator, with the primary\'s own families', async () => {
    const own = createPrimaryMetrics(() => 2);
    const workers = [workerRegistry(5, 1), workerRegistry(7, 4)];
    const metrics = new ClusterMetrics(own.registry, async () =>
      Promise.all(workers.map(async (r, i): Promise<WorkerAnswer> => ({ id: i + 1, families: (await r.getMetricsAsJSON()) as Family[] }))));
    own.countReload('success');
    const text = await metrics.metrics();
    assert.equal(sample(text, 'x_requests_total'), 12);
    assert.equal(sample(text, 'x_seconds_count'), 2);
    assert.equal(sample(text, 'x_seconds_bucket', { le: '1' }), 2);
    assert.equal(sample(text, 'x_open'), 5);
    assert.equal(sample(text, 'x_ratio'), 0.4, 'max, not sum');
    assert.equal(sample(text, 'hopwatch_workers'), 2);
    assert.equal(sample(text, 'hopwatch_config_reloads_total', { result: 'success' }), 1);
    assert.match(text, /^process_cpu_seconds_total /m, 'the primary\'s process metrics are in the sums');
    // The primary's own start time, once, whatever the workers' say (dashboards count restarts by it).
    const started = [...text.matchAll(/^process_start_time_seconds (\S+)$/gm)].map((m) => Number(m[1]));
    assert.equal(started.length, 1);
    assert.ok(Math.abs(started[0]! - (Date.now() - process.uptime() * 1000) / 1000) < 5, `${started[0]} is this process's start`);
  });

  it('keeps a dead worker\'s counters and histograms as last scraped, not its gauges', async () => {
    const own = new Registry();
    let workers = [workerRegistry(5, 1), workerRegistry(7, 4)];
    let ids = [1, 2];
    const metrics = new ClusterMetrics(own, async () =>
      Promise.all(workers.map(async (r, i): Promise<WorkerAnswer> => ({ id: ids[i]!, families: (await r.getMetricsAsJSON()) as Family[] }))));
    assert.equal(sample(await metrics.metrics(), 'x_requests_total'), 12);

    // Worker 2 dies; its replacement (id 3) starts from zero.
    metrics.retire(2);
    workers = [workers[0]!, workerRegistry(1, 2)];
    ids = [1, 3];
    let text = await metrics.metrics();
    assert.equal(sample(text, 'x_requests_total'), 5 + 7 + 1, 'the sum never goes down, which Prometheus would read as a reset');
    assert.equal(sample(text, 'x_seconds_count'), 3);
    assert.equal(sample(text, 'x_open'), 1 + 2, 'a dead worker has nothing open');

    // Two more deaths fold into the kept counts.
    metrics.retire(1);
    metrics.retire(3);
    workers = [workerRegistry(0, 0)];
    ids = [4];
    text = await metrics.metrics();
    assert.equal(sample(text, 'x_requests_total'), 13);
    assert.equal(sample(await metrics.metrics(), 'x_requests_total'), 13, 'folded once, counted once');
    metrics.retire(99); // never answered a scrape: nothing to keep
    assert.equal(sample(await metrics.metrics(), 'x_requests_total'), 13);
  });
});
