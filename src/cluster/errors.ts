// GET /errors of a cluster. Each worker runs its own recurrence analysis over the connections
// it accepted; the primary lists every worker's findings, each marked with its `worker` (finding
// ids are per worker), and merges the per-code summaries: counts add up, `destinations` is the
// largest any one worker saw (the lists themselves stay in the workers), `last_seen` the latest.
import type { ErrorsReport } from '../analysis/engine.ts';
import type { CodeSummary } from '../analysis/destinations.ts';
import type { Finding } from '../analysis/findings.ts';

export interface ClusterErrorsReport {
  window_ms: number;
  workers: number;
  findings: Array<Finding & { worker: number }>;
  codes: Record<string, CodeSummary>;
}

export function mergeErrorReports(reports: ReadonlyArray<{ worker: number; report: ErrorsReport }>): ClusterErrorsReport {
  const findings = reports.flatMap(({ worker, report }) => report.findings.map((f) => ({ ...f, worker })));
  // Open ones first, as a single worker lists them; then the most recent first.
  const when = (f: Finding) => f.closed_at ?? f.opened_at;
  findings.sort((a, b) => (a.state === b.state ? when(b).localeCompare(when(a)) : a.state === 'open' ? -1 : 1));
  const codes: Record<string, CodeSummary> = {};
  for (const { report } of reports) {
    for (const [code, summary] of Object.entries(report.codes)) {
      const seen = codes[code];
      codes[code] = seen
        ? {
            count: seen.count + summary.count,
            destinations: Math.max(seen.destinations, summary.destinations),
            last_seen: seen.last_seen > summary.last_seen ? seen.last_seen : summary.last_seen,
          }
        : { ...summary };
    }
  }
  return { window_ms: reports[0]?.report.window_ms ?? 0, workers: reports.length, findings, codes };
}
