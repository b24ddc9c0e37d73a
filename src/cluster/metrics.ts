// /metrics of a cluster. At every scrape the primary asks each serving worker for its registry
// (prom-client JSON) and merges them with prom-client's AggregatorRegistry.aggregate, each family
// by its own `aggregator` (a sum unless the family says otherwise), together with the primary's
// own families: reloads, worker restarts, its process metrics. One family per name comes out,
// so promtool sees no duplicate HELP or TYPE.
//
// A worker that dies takes its counters with it, and a sum that goes down reads to Prometheus
// as a counter reset: rate() would count the survivors' whole totals again. So the counters and
// histograms of each worker's last answer are kept when it dies and stay in the sums; what it
// counted after the last scrape is lost with it.
import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { registerProcessMetrics } from '../observe/metrics.ts';
import { reloadCounter } from '../reload.ts';

export type Family = MetricObjectWithValues<MetricValue<string>>;

export type RestartReason = 'crashed' | 'killed' | 'exited';
const REASONS: readonly RestartReason[] = ['crashed', 'killed', 'exited'];

/** The families only the primary has. */
export interface PrimaryMetrics {
  readonly registry: Registry;
  countReload: ReturnType<typeof reloadCounter>;
  countRestart(reason: RestartReason): void;
}

export function createPrimaryMetrics(serving: () => number): PrimaryMetrics {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const countReload = reloadCounter(registry);
  const restarts = new Counter({
    name: 'hopwatch_worker_restarts_total',
    help: 'Workers replaced after dying unasked, by how: crashed (non-zero exit), killed (a signal, e.g. the OOM killer), exited (exit 0).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of REASONS) restarts.inc({ reason }, 0);
  new Gauge({
    name: 'hopwatch_workers',
    help: 'Worker processes serving now (the config asks for `workers`).',
    registers: [registry],
    collect() {
      this.set(serving());
    },
  });
  return { registry, countReload, countRestart: (reason) => restarts.inc({ reason }) };
}

export interface WorkerAnswer {
  /** node:cluster's worker id: unique for the primary's life, unlike the slot number. */
  id: number;
  families: Family[];
}

const START_TIME = 'process_start_time_seconds';

export class ClusterMetrics {
  private readonly own: Registry;
  private readonly ask: () => Promise<WorkerAnswer[]>;
  private readonly last = new Map<number, Family[]>();
  /** Counters and histograms of dead workers, as last answered, summed into one set. */
  private retired: Family[] = [];

  constructor(own: Registry, ask: () => Promise<WorkerAnswer[]>) {
    this.own = own;
    this.ask = ask;
  }

  get contentType(): Registry['contentType'] {
    return this.own.contentType;
  }

  async metrics(): Promise<string> {
    const answers = await this.ask();
    for (const answer of answers) this.last.set(answer.id, answer.families);
    // Every process has its own start time, which no aggregate can merge (prom-client omits it):
    // the primary's stands for the service, so dashboards still see the service restart; a
    // worker's replacement is hopwatch_worker_restarts_total's to count.
    const own = ((await this.own.getMetricsAsJSON()) as Family[]).map((f) => (f.name === START_TIME ? { ...f, aggregator: 'first' as const } : f));
    const fromWorkers = answers.map((a) => a.families.filter((f) => f.name !== START_TIME));
    const merged = AggregatorRegistry.aggregate([...fromWorkers, this.retired, own]);
    return merged.metrics();
  }

  /** Worker `id` is gone: its last counters and histograms stay in the sums. */
  retire(id: number): void {
    const families = this.last.get(id);
    this.last.delete(id);
    if (!families) return;
    const monotonic = families.filter((f) => {
      const type = String(f.type);
      return (type === 'counter' || type === 'histogram') && (f.aggregator ?? 'sum') === 'sum';
    });
    this.retired = sumFamilies(this.retired, monotonic);
  }
}

/**
 * `a` plus `b`, series by series (a histogram's _bucket, _sum and _count series each). Done here,
 * synchronously, rather than by AggregatorRegistry (whose registry answers asynchronously), so a
 * death during a scrape cannot slip between reading and replacing the kept set.
 */
function sumFamilies(a: Family[], b: Family[]): Family[] {
  const byName = new Map(a.map((f) => [f.name, { ...f, values: f.values.map((v) => ({ ...v })) }]));
  const key = (v: MetricValue<string>) => `${(v as { metricName?: string }).metricName ?? ''}${JSON.stringify(v.labels)}`;
  for (const family of b) {
    const into = byName.get(family.name);
    if (!into) {
      byName.set(family.name, { ...family, values: family.values.map((v) => ({ ...v })) });
      continue;
    }
    const series = new Map(into.values.map((v) => [key(v), v]));
    for (const v of family.values) {
      const same = series.get(key(v));
      if (same) same.value += v.value;
      else into.values.push({ ...v });
    }
  }
  return [...byName.values()];
}
