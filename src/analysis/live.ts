// The analysis inside the proxy: an observer that feeds finished exchanges to the engine, the
// `temporary` judgement the access log asks for, GET /errors, metrics, and a log line when a
// finding opens and when it closes.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Observer } from '../exchange/lifecycle.ts';
import type { Exchange } from '../exchange/record.ts';
import { RecurrenceEngine, type ErrorsReport } from './engine.ts';
import type { Finding } from './findings.ts';
import { observationFromExchange, targetOf } from './from-exchange.ts';
import { registerFindingMetrics } from './metrics.ts';
import { WINDOW_SLOTS, type AnalysisOptions } from './options.ts';

export interface LiveAnalysis {
  readonly engine: RecurrenceEngine;
  readonly observer: Observer;
  /** The `temporary` field of this exchange's log line; undefined for a success. */
  temporary(ex: Exchange): boolean | undefined;
  /** GET /errors, optionally about one "host:port". */
  errors(target?: string): ErrorsReport;
  registerMetrics(registry: Registry): void;
  stop(): void;
}

export function findingFields(f: Finding): Record<string, unknown> {
  const { id, ...rest } = f;
  return { finding_id: id, ...rest };
}

export function createLiveAnalysis(logger: Logger, options: Partial<AnalysisOptions> = {}): LiveAnalysis {
  const engine = new RecurrenceEngine(options);
  const now = engine.options.now;
  // The exchange ingested last: the observer and the access log's question come in the same
  // lifecycle.end(), one after the other, so this is enough to feed each exchange once, without
  // a WeakSet entry per exchange (weak tables cost every young-generation GC).
  let last: Exchange | undefined;
  engine.onFinding((event, finding) => {
    if (event === 'opened') logger.warn(findingFields(finding), 'finding_opened');
    else logger.info(findingFields(finding), 'finding_closed');
  });

  // Whichever runs first, the analysis observer or the access log asking `temporary`, feeds the
  // exchange once: the log line then reflects this exchange too, whatever the registration order.
  const ingest = (ex: Exchange) => {
    if (!ex.finished || ex === last) return;
    last = ex;
    engine.observe(observationFromExchange(ex, now()));
  };
  const sweep = () => engine.sweep(now());
  // Findings close as time passes, even when no traffic comes to notice it.
  const timer = setInterval(sweep, Math.max(1_000, engine.options.windowMs / WINDOW_SLOTS));
  timer.unref();

  return {
    engine,
    observer: { name: 'analysis', onEnd: ingest },
    temporary(ex) {
      ingest(ex);
      return engine.temporary({ code: ex.code, source: ex.failure ? ex.failure.source : ex.entry.source, target: targetOf(ex) });
    },
    errors(target) {
      sweep();
      return engine.report(now(), target);
    },
    registerMetrics: (registry) => registerFindingMetrics(registry, engine, sweep),
    stop: () => clearInterval(timer),
  };
}
