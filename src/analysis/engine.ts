// The recurrence engine: normalized observations in, findings out. It keeps no clock of its own
// between calls: each observation carries its time (the live clock, or a log line's timestamp),
// so the proxy and `hopwatch report` reach the same findings from the same exchanges.
//
// Memory is bounded: at most `maxKeys` entries in each of its maps (code×destination, destination,
// destination×address, destination latency, name→addresses, codes, open findings), each entry a
// fixed-size sliding window of WINDOW_SLOTS slots plus at most five example ids; per code at
// most 64 destinations, per name at most 16 addresses. Measured with every map full: about 3 MB
// at the default 1,000 keys, 28 MB at 10,000.
import { AddressDetector } from './addresses.ts';
import { DestinationDetector, type CodeSummary } from './destinations.ts';
import { FindingBook, FINDING_KINDS, type Finding, type FindingKind, type FindingListener } from './findings.ts';
import { LatencyDetector } from './latency.ts';
import { entryOf, outcomeOf, type Observation } from './observation.ts';
import { resolveOptions, WINDOW_SLOTS, type AnalysisOptions } from './options.ts';

export interface ErrorsReport {
  window_ms: number;
  findings: Finding[];
  codes: Record<string, CodeSummary>;
}

export class RecurrenceEngine {
  readonly options: AnalysisOptions;
  readonly book: FindingBook;
  private readonly destinations: DestinationDetector;
  private readonly addresses: AddressDetector;
  private readonly latency: LatencyDetector;
  private lastSweep = -Infinity;
  private latest = 0;

  constructor(overrides: Partial<AnalysisOptions> = {}) {
    this.options = resolveOptions(overrides);
    this.book = new FindingBook(this.options.maxKeys, this.options.closedHistory);
    this.destinations = new DestinationDetector(this.options, this.book);
    this.addresses = new AddressDetector(this.options, this.book);
    this.latency = new LatencyDetector(this.options, this.book);
  }

  /** Called with every finding as it opens and as it closes. */
  onFinding(listener: FindingListener): void {
    this.book.listeners.push(listener);
  }

  observe(obs: Observation): void {
    const now = obs.time;
    this.latest = Math.max(this.latest, now);
    // Closing is a matter of time passing: checked at most once per slot, before the new facts.
    if (now - this.lastSweep >= this.options.windowMs / WINDOW_SLOTS) this.sweep(now);
    const outcome = outcomeOf(obs);
    this.destinations.observe(obs, outcome);
    this.addresses.observe(obs, outcome);
    this.latency.observe(obs, outcome);
  }

  /** Closes the findings the window at `now` no longer supports. */
  sweep(now: number): void {
    this.lastSweep = now;
    for (const finding of this.book.openFindings()) {
      if (!this.destinations.sweep(finding, now) && !this.addresses.sweep(finding, now)) this.latency.sweep(finding, now);
    }
  }

  /**
   * Whether a retry may help this failure, given what is known now: structural when it recurs
   * on its destination or spreads over many, temporary when its destination had a passing burst,
   * otherwise the catalogue's default. undefined for a success.
   */
  temporary(obs: Pick<Observation, 'code' | 'source' | 'target'>): boolean | undefined {
    if (obs.code === 'ok') return undefined;
    const fallback = entryOf(obs.code)?.temporary;
    if (outcomeOf(obs) !== 'failure') return fallback;
    return this.destinations.temporary(obs.code, obs.target) ?? fallback;
  }

  /** GET /errors: findings (optionally about one destination) and the codes failing now. */
  report(now: number = this.latest, target?: string): ErrorsReport {
    // A widespread finding is about every destination, so it stays in a per-destination view.
    const findings = this.book.recent().filter((f) => target === undefined || f.target === target || f.kind === 'widespread');
    return { window_ms: this.options.windowMs, findings, codes: this.destinations.summary(now) };
  }

  openCount(kind: FindingKind): number {
    return this.book.openCount(kind);
  }

  openedTotal(kind: FindingKind): number {
    return this.book.opened.get(kind) ?? 0;
  }

  static readonly kinds = FINDING_KINDS;
}
