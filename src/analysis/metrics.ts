// Findings as Prometheus series: open now and opened so far, by kind (a closed list of five),
// created at zero so a dashboard can graph them before the first finding.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RecurrenceEngine } from './engine.ts';
import { FINDING_KINDS } from './findings.ts';

export function registerFindingMetrics(registry: Registry, engine: RecurrenceEngine, sweep: () => void): void {
  const opened = new Counter({
    name: 'hopwatch_findings_total',
    help: 'Findings opened by the recurrence analysis, by kind (widespread, recurring, burst, unhealthy_address, latency_shift).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'hopwatch_findings_open',
    help: 'Findings of the recurrence analysis open now, by kind (GET /errors on the admin listener lists them).',
    labelNames: ['kind'] as const,
    registers: [registry],
    // Cluster workers each analyse their own connections and open the same finding for a
    // problem they all see: the largest count, not the sum, is the one to believe.
    aggregator: 'max',
    collect() {
      sweep(); // a scrape sees what the window supports now, even on a quiet proxy
      for (const kind of FINDING_KINDS) this.set({ kind }, engine.openCount(kind));
    },
  });
  for (const kind of FINDING_KINDS) opened.inc({ kind }, 0);
  engine.onFinding((event, finding) => {
    if (event === 'opened') opened.inc({ kind: finding.kind });
  });
}
