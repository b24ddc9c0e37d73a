// Everything `hopwatch report` says, accumulated one log record at a time in bounded memory:
// counts by code, hop and destination, per-hop percentiles (sketches), auth failures apart from
// other 4xx, and the recurrence findings from the same engine the proxy runs live.
import { RecurrenceEngine } from '../analysis/engine.ts';
import { FINDING_KINDS, type Finding, type FindingKind } from '../analysis/findings.ts';
import { observationFromLog } from '../analysis/from-log.ts';
import { entryOf } from '../analysis/observation.ts';
import type { AnalysisOptions } from '../analysis/options.ts';
import type { LineCounts, LogRecord } from './lines.ts';
import { QuantileSketch, type Percentiles } from './sketch.ts';
import { TopCounter } from './top.ts';

export const LATENCY_HOPS = ['dns', 'connect', 'tls', 'ttfb', 'total'] as const;
/** Destinations and usernames counted exactly up to this many distinct keys (~10 MB). */
const MAX_TRACKED = 50_000;
/** Findings listed in full; beyond that only counted by kind. */
const MAX_LISTED_FINDINGS = 100;
/** Keys of maps keyed by what a log line says (codes, hops, reasons): a defence against junk. */
const MAX_LABELS = 500;

interface DestinationCount {
  total: number;
  errors: number;
  codes: Map<string, number>;
}

export interface Report {
  lines: { read: number; exchanges: number; auth_failures: number; skipped_not_json: number; skipped_other: number };
  period: { from: string | null; to: string | null };
  totals: { exchanges: number; ok: number; errors: number; error_rate: number; by_protocol: Record<string, number> };
  by_code: Array<{ code: string; count: number; rate: number; hop: string; source: string }>;
  by_hop: Array<{ hop: string; errors: number; rate: number }>;
  by_destination: { top: Array<{ target: string; total: number; errors: number; error_rate: number; codes: Record<string, number> }>; distinct: number; truncated: boolean };
  latency_ms: Partial<Record<(typeof LATENCY_HOPS)[number], Percentiles>>;
  auth: { refused: number; by_reason: Record<string, number>; by_user: Array<{ user: string; count: number }>; origin_401: number; origin_407: number };
  other_4xx: { total: number; by_code: Record<string, number> };
  findings: { window_ms: number; opened: Record<FindingKind, number>; open_at_end: number; list: Finding[] };
}

const bump = (map: Map<string, number>, key: string, by = 1) => {
  if (map.has(key) || map.size < MAX_LABELS) map.set(key, (map.get(key) ?? 0) + by);
};
const rate = (n: number, of: number) => (of ? Math.round((n / of) * 10_000) / 10_000 : 0);
const sorted = (map: Map<string, number>) => Object.fromEntries([...map.entries()].sort((a, b) => b[1] - a[1]));

export class ReportBuilder {
  readonly counts: LineCounts = { read: 0, notJson: 0 };
  private readonly engine: RecurrenceEngine;
  private readonly findings: Finding[] = [];
  private exchanges = 0;
  private authLines = 0;
  private other = 0;
  private first = Infinity;
  private last = -Infinity;
  private readonly codes = new Map<string, { count: number; hop: string; source: string }>();
  private readonly hops = new Map<string, number>();
  private readonly protocols = new Map<string, number>();
  // Ranked by errors: a destination that fails survives pruning before one that only succeeds.
  private readonly destinations = new TopCounter<DestinationCount>(MAX_TRACKED, () => ({ total: 0, errors: 0, codes: new Map() }), (d) => d.errors);
  private readonly latency = Object.fromEntries(LATENCY_HOPS.map((h) => [h, new QuantileSketch()])) as Record<(typeof LATENCY_HOPS)[number], QuantileSketch>;
  private readonly reasons = new Map<string, number>();
  private readonly users = new TopCounter<{ total: number }>(MAX_TRACKED, () => ({ total: 0 }));
  private readonly fourxx = new Map<string, number>();

  constructor(analysis: Partial<AnalysisOptions> = {}) {
    this.engine = new RecurrenceEngine(analysis);
    this.engine.onFinding((event, finding) => {
      if (event === 'opened' && this.findings.length < MAX_LISTED_FINDINGS) this.findings.push(finding);
    });
  }

  add(record: LogRecord): void {
    if (record.msg === 'auth_failure') return this.addAuthFailure(record);
    const obs = observationFromLog(record);
    if (!obs) {
      this.other++;
      return;
    }
    this.exchanges++;
    this.first = Math.min(this.first, obs.time);
    this.last = Math.max(this.last, obs.time);
    bump(this.protocols, obs.protocol);
    const code = obs.code;
    const stats = this.codes.get(code) ?? { count: 0, hop: obs.hop, source: obs.source ?? '' };
    stats.count++;
    if (this.codes.has(code) || this.codes.size < MAX_LABELS) this.codes.set(code, stats);
    const error = code !== 'ok';
    if (error) bump(this.hops, obs.hop);
    if (obs.target) {
      const d = this.destinations.get(obs.target);
      d.total++;
      if (error) {
        d.errors++;
        if (d.codes.has(code) || d.codes.size < 8) d.codes.set(code, (d.codes.get(code) ?? 0) + 1);
      }
    }
    const durations = (record.durations_ms ?? {}) as Record<string, unknown>;
    for (const hop of LATENCY_HOPS) {
      const v = durations[hop];
      if (typeof v === 'number') this.latency[hop].add(v);
    }
    if (this.isOther4xx(code, record.status)) bump(this.fourxx, code);
    this.engine.observe(obs);
  }

  /** 4xx answers that are not the proxy's own login refusals (those are reported from auth_failure lines). */
  private isOther4xx(code: string, status: unknown): boolean {
    if (code.startsWith('auth_') || code === 'upstream_401' || code === 'upstream_407') return false;
    const entryStatus = entryOf(code)?.status;
    const s = typeof entryStatus === 'number' ? entryStatus : typeof status === 'number' ? status : 0;
    return (s >= 400 && s < 500) || /^upstream_4/.test(code);
  }

  private addAuthFailure(record: LogRecord): void {
    this.authLines++;
    bump(this.reasons, String(record.reason ?? 'unknown'));
    this.users.get(typeof record.username === 'string' ? record.username : '(none)').total++;
  }

  finish(top = 10): Report {
    const ex = this.exchanges;
    // What the window at the last line no longer supports is closed; the rest is open at the end.
    if (ex) this.engine.sweep(this.last);
    const ok = this.codes.get('ok')?.count ?? 0;
    const byCode = [...this.codes.entries()].filter(([c]) => c !== 'ok').sort((a, b) => b[1].count - a[1].count);
    const latency: Report['latency_ms'] = {};
    for (const hop of LATENCY_HOPS) {
      const s = this.latency[hop].summary();
      if (s) latency[hop] = s;
    }
    const opened = Object.fromEntries(FINDING_KINDS.map((k) => [k, this.engine.openedTotal(k)])) as Record<FindingKind, number>;
    return {
      lines: { read: this.counts.read, exchanges: ex, auth_failures: this.authLines, skipped_not_json: this.counts.notJson, skipped_other: this.other },
      period: { from: ex ? new Date(this.first).toISOString() : null, to: ex ? new Date(this.last).toISOString() : null },
      totals: { exchanges: ex, ok, errors: ex - ok, error_rate: rate(ex - ok, ex), by_protocol: sorted(this.protocols) },
      by_code: byCode.map(([code, s]) => ({ code, count: s.count, rate: rate(s.count, ex), hop: s.hop, source: s.source })),
      by_hop: [...this.hops.entries()].sort((a, b) => b[1] - a[1]).map(([hop, n]) => ({ hop, errors: n, rate: rate(n, ex) })),
      by_destination: {
        top: this.destinations.top(top).map(([target, d]) => ({ target, total: d.total, errors: d.errors, error_rate: rate(d.errors, d.total), codes: sorted(d.codes) })),
        distinct: this.destinations.distinct,
        truncated: this.destinations.truncated,
      },
      latency_ms: latency,
      auth: {
        refused: this.authLines,
        by_reason: sorted(this.reasons),
        by_user: this.users.top(top).map(([user, u]) => ({ user, count: u.total })),
        origin_401: this.codes.get('upstream_401')?.count ?? 0,
        origin_407: this.codes.get('upstream_407')?.count ?? 0,
      },
      other_4xx: { total: [...this.fourxx.values()].reduce((a, b) => a + b, 0), by_code: sorted(this.fourxx) },
      findings: { window_ms: this.engine.options.windowMs, opened, open_at_end: this.engine.book.openFindings().length, list: this.findings },
    };
  }
}
