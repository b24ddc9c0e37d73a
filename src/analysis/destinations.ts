// Failures per code and per destination: the guide's "same error across multiple endpoints"
// (widespread), "recurring on the same endpoint" (recurring) and the burst that stops (burst).
import { BoundedMap, SlidingWindow, pushRecent } from './bounded.ts';
import type { Evidence, FindingBook, Finding } from './findings.ts';
import type { Observation, Outcome } from './observation.ts';
import { WINDOW_SLOTS, type AnalysisOptions } from './options.ts';

/** Destinations remembered per code: enough to count past any sensible widespread threshold (so
 * a count of 64 means "64 or more"). */
export const DESTINATIONS_PER_CODE = 64;
/** Failing codes remembered per destination. */
const CODES_PER_DESTINATION = 8;

interface CodeStats {
  window: SlidingWindow;
  /** target → time of its last failure with this code. */
  destinations: BoundedMap<string, { last: number }>;
  examples: string[];
}

interface PairStats {
  window: SlidingWindow;
  examples: string[];
}

interface TargetStats {
  failing: BoundedMap<string, true>;
  successesSinceFailure: number;
}

export interface CodeSummary {
  count: number;
  destinations: number;
  last_seen: string;
}

export function evidenceOf(stats: { count: number; first: number; last: number }, windowMs: number, examples: string[], extra: Record<string, unknown> = {}): Evidence {
  return {
    count: stats.count,
    window_ms: windowMs,
    first_seen: new Date(stats.first).toISOString(),
    last_seen: new Date(stats.last).toISOString(),
    examples: [...examples],
    ...extra,
  };
}

export class DestinationDetector {
  private readonly o: AnalysisOptions;
  private readonly book: FindingBook;
  // The per-code map is bounded by the catalogue's closed list of codes, and by maxKeys for codes
  // read from logs of other versions.
  private readonly codes: BoundedMap<string, CodeStats>;
  private readonly pairs: BoundedMap<string, PairStats>;
  private readonly targets: BoundedMap<string, TargetStats>;

  constructor(options: AnalysisOptions, book: FindingBook) {
    this.o = options;
    this.book = book;
    this.codes = new BoundedMap(options.maxKeys);
    this.pairs = new BoundedMap(options.maxKeys);
    this.targets = new BoundedMap(options.maxKeys);
  }

  observe(obs: Observation, outcome: Outcome): void {
    const { target, code, time } = obs;
    if (outcome === 'failure') {
      const stats = this.codes.touch(code, () => ({ window: this.window(), destinations: new BoundedMap(DESTINATIONS_PER_CODE), examples: [] }));
      stats.window.add(time);
      pushRecent(stats.examples, obs.id);
      if (!target) return;
      stats.destinations.touch(target, () => ({ last: time })).last = time;
      const pair = this.pairs.touch(`${code} ${target}`, () => ({ window: this.window(), examples: [] }));
      pair.window.add(time);
      pushRecent(pair.examples, obs.id);
      const t = this.targets.touch(target, () => ({ failing: new BoundedMap(CODES_PER_DESTINATION), successesSinceFailure: 0 }));
      t.failing.touch(code, () => true);
      t.successesSinceFailure = 0;
      this.checkRecurring(code, target, time);
      this.checkWidespread(code, time);
    } else if (outcome === 'success' && target) {
      const t = this.targets.get(target);
      if (!t) return;
      t.successesSinceFailure++;
      if (t.successesSinceFailure < this.o.burstRecoverySuccesses) return;
      for (const [failing] of t.failing.entries()) this.checkBurst(failing, target, time, t.successesSinceFailure);
    }
  }

  private window(): SlidingWindow {
    return new SlidingWindow(this.o.windowMs, WINDOW_SLOTS);
  }

  private checkRecurring(code: string, target: string, now: number): void {
    const pair = this.pairs.get(`${code} ${target}`)!;
    const s = pair.window.stats(now);
    const subject = { kind: 'recurring', code, target } as const;
    if (s.count >= this.o.recurringMinFailures && s.last - s.first >= this.o.recurringMinSpread * this.o.windowMs) {
      this.book.raise(subject, evidenceOf(s, this.o.windowMs, pair.examples), now);
      // The same failures can no longer be called a passing burst.
      this.book.resolve({ kind: 'burst', code, target }, now);
    } else if (this.book.isOpen(subject)) {
      this.book.raise(subject, evidenceOf(s, this.o.windowMs, pair.examples), now);
    }
    // A failure after a burst stays counted in its evidence until the window forgets it.
    const burst = this.book.get({ kind: 'burst', code, target });
    if (burst) burst.evidence = evidenceOf(s, this.o.windowMs, pair.examples, { successes_after: burst.evidence.successes_after });
  }

  private distinct(stats: CodeStats, now: number): string[] {
    const since = now - this.o.windowMs;
    const out: string[] = [];
    for (const [target, { last }] of stats.destinations.entries()) if (last > since) out.push(target);
    return out;
  }

  private checkWidespread(code: string, now: number): void {
    const stats = this.codes.get(code)!;
    const targets = this.distinct(stats, now);
    const subject = { kind: 'widespread', code } as const;
    if (targets.length >= this.o.widespreadMinDestinations || this.book.isOpen(subject)) {
      const extra = { destinations: targets.length, destination_examples: targets.slice(-5) };
      this.book.raise(subject, evidenceOf(stats.window.stats(now), this.o.windowMs, stats.examples, extra), now);
    }
  }

  private checkBurst(code: string, target: string, now: number, successes: number): void {
    const pair = this.pairs.get(`${code} ${target}`);
    if (!pair || this.book.isOpen({ kind: 'recurring', code, target })) return;
    const s = pair.window.stats(now);
    if (s.count >= this.o.burstMinFailures && s.last - s.first <= this.o.burstMaxSpread * this.o.windowMs) {
      this.book.raise({ kind: 'burst', code, target }, evidenceOf(s, this.o.windowMs, pair.examples, { successes_after: successes }), now);
    }
  }

  /** Closes what the window no longer supports; returns whether it handled the finding's kind. */
  sweep(finding: Finding, now: number): boolean {
    const { kind, code = '', target = '' } = finding;
    if (kind === 'widespread') {
      const stats = this.codes.get(code);
      if (!stats || this.distinct(stats, now).length < this.o.widespreadMinDestinations) this.book.resolve(finding, now);
    } else if (kind === 'recurring' || kind === 'burst') {
      const count = this.pairs.get(`${code} ${target}`)?.window.stats(now).count ?? 0;
      // A burst lasts until its failures leave the window; recurring until they drop below K.
      if (kind === 'burst' ? count === 0 : count < this.o.recurringMinFailures) this.book.resolve(finding, now);
    } else {
      return false;
    }
    return true;
  }

  /** recurring/widespread → structural (false), a burst → temporary (true), else no opinion. */
  temporary(code: string, target: string | undefined): boolean | undefined {
    if (this.book.isOpen({ kind: 'widespread', code })) return false;
    if (!target) return undefined;
    if (this.book.isOpen({ kind: 'recurring', code, target })) return false;
    const t = this.targets.get(target);
    if (t) for (const [failing] of t.failing.entries()) if (this.book.isOpen({ kind: 'burst', code: failing, target })) return true;
    return undefined;
  }

  summary(now: number): Record<string, CodeSummary> {
    const out: Record<string, CodeSummary> = {};
    for (const [code, stats] of this.codes.entries()) {
      const s = stats.window.stats(now);
      if (s.count) out[code] = { count: s.count, destinations: this.distinct(stats, now).length, last_seen: new Date(s.last).toISOString() };
    }
    return out;
  }
}
