// Each destination against its own baseline: the guide's "compare current response times to your
// baseline; a latency spike with no code change points to upstream or network issues". Two
// exponentially weighted averages of time to first byte per destination: a short one (recent)
// and a long one (the baseline), which slow samples do not feed so a shift cannot hide itself.
import { BoundedMap, pushRecent } from './bounded.ts';
import type { Finding, FindingBook } from './findings.ts';
import type { Observation, Outcome } from './observation.ts';
import { LATENCY_LONG_ALPHA, LATENCY_SHORT_ALPHA, type AnalysisOptions } from './options.ts';

/** A shift that lasts this many windows becomes the new baseline (a deliberate change). */
export const LATENCY_REBASE_WINDOWS = 6;

interface LatencyStats {
  short: number;
  long: number;
  samples: number;
  slowStreak: number;
  streakStart: number;
  last: number;
  openedAt: number;
  examples: string[];
}

const round = (ms: number) => Math.round(ms * 10) / 10;

export class LatencyDetector {
  private readonly o: AnalysisOptions;
  private readonly book: FindingBook;
  private readonly stats: BoundedMap<string, LatencyStats>;

  constructor(options: AnalysisOptions, book: FindingBook) {
    this.o = options;
    this.book = book;
    this.stats = new BoundedMap(options.maxKeys);
  }

  observe(obs: Observation, outcome: Outcome): void {
    const { target, ttfbMs: sample, time } = obs;
    if (!target || sample === undefined || outcome === 'neutral') return;
    const st = this.stats.touch(target, () => ({ short: sample, long: sample, samples: 0, slowStreak: 0, streakStart: time, last: time, openedAt: 0, examples: [] }));
    const subject = { kind: 'latency_shift', target } as const;
    const open = this.book.isOpen(subject);
    st.short = LATENCY_SHORT_ALPHA * sample + (1 - LATENCY_SHORT_ALPHA) * st.short;
    const slow = st.samples >= this.o.latencyMinBaselineSamples && sample > this.o.latencyRatio * st.long && sample > this.o.latencyMinMs;
    if (slow) {
      if (st.slowStreak === 0) {
        st.streakStart = time;
        st.examples = [];
      }
      st.slowStreak++;
      pushRecent(st.examples, obs.id);
    } else {
      st.slowStreak = 0;
      if (!open) st.long = LATENCY_LONG_ALPHA * sample + (1 - LATENCY_LONG_ALPHA) * st.long;
    }
    st.samples++;
    st.last = time;
    const shifted = st.short > this.o.latencyRatio * st.long && st.short > this.o.latencyMinMs;
    if (!open && shifted && st.slowStreak >= this.o.latencyMinSlowSamples) {
      st.openedAt = time;
      this.book.raise(subject, this.evidence(st), time);
    } else if (open) {
      if (st.short < this.o.latencyRecoveryRatio * st.long) this.book.resolve(subject, time);
      else this.book.raise(subject, this.evidence(st), time);
    }
  }

  private evidence(st: LatencyStats) {
    return {
      count: st.slowStreak,
      window_ms: this.o.windowMs,
      first_seen: new Date(st.streakStart).toISOString(),
      last_seen: new Date(st.last).toISOString(),
      examples: [...st.examples],
      recent_ttfb_ms: round(st.short),
      baseline_ttfb_ms: round(st.long),
      baseline_samples: st.samples,
    };
  }

  sweep(finding: Finding, now: number): boolean {
    if (finding.kind !== 'latency_shift') return false;
    const st = this.stats.get(finding.target ?? '');
    // No traffic for a window: nothing left to judge. A shift that lasted long enough is the
    // destination's new normal, so it becomes the baseline.
    if (!st || now - st.last > this.o.windowMs) {
      this.book.resolve(finding, now);
    } else if (now - st.openedAt >= LATENCY_REBASE_WINDOWS * this.o.windowMs) {
      st.long = st.short;
      this.book.resolve(finding, now);
    }
    return true;
  }
}
