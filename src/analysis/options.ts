// The thresholds that turn the proxy error guide's rules into findings. Each is a named default
// that the config (windowMs, maxKeys) or a caller (tests, the report command) may override.

/** Sliding window over which failures are counted: the guide's "recent" (5 minutes). */
export const WINDOW_MS = 5 * 60_000;
/** Tracked keys per map (destinations, code×destination, addresses, open findings): oldest evicted. */
export const MAX_KEYS = 1_000;
/** The window is kept as this many slots, so memory per key is fixed whatever the traffic. */
export const WINDOW_SLOTS = 10;

/** widespread: the same code on at least this many distinct destinations in the window. */
export const WIDESPREAD_MIN_DESTINATIONS = 5;
/** recurring: at least this many failures with one code on one destination in the window… */
export const RECURRING_MIN_FAILURES = 5;
/** …spread over at least this share of the window (not one burst). */
export const RECURRING_MIN_SPREAD = 0.25;
/** burst: at least this many failures… */
export const BURST_MIN_FAILURES = 2;
/** …all within this share of the window… */
export const BURST_MAX_SPREAD = 0.1;
/** …then at least this many successes on the same destination. */
export const BURST_RECOVERY_SUCCESSES = 2;
/** unhealthy_address: failures of one resolved address in the window while a sibling succeeds. */
export const ADDRESS_MIN_FAILURES = 3;
/** latency_shift: the short average must exceed the baseline by this factor… */
export const LATENCY_RATIO = 2;
/** …and this many milliseconds in absolute terms (a 2 ms → 5 ms change is not news)… */
export const LATENCY_MIN_MS = 100;
/** …after this many consecutive slow samples (one outlier is not a shift)… */
export const LATENCY_MIN_SLOW_SAMPLES = 3;
/** …on a baseline of at least this many samples. */
export const LATENCY_MIN_BASELINE_SAMPLES = 10;
/** It closes once the short average is back under this factor of the baseline. */
export const LATENCY_RECOVERY_RATIO = 1.5;
/** Smoothing of the short (recent) and long (baseline) averages, per sample. */
export const LATENCY_SHORT_ALPHA = 0.3;
export const LATENCY_LONG_ALPHA = 0.05;
/** Closed findings kept for GET /errors. */
export const CLOSED_HISTORY = 20;

export interface AnalysisOptions {
  windowMs: number;
  maxKeys: number;
  widespreadMinDestinations: number;
  recurringMinFailures: number;
  recurringMinSpread: number;
  burstMinFailures: number;
  burstMaxSpread: number;
  burstRecoverySuccesses: number;
  addressMinFailures: number;
  latencyRatio: number;
  latencyMinMs: number;
  latencyMinSlowSamples: number;
  latencyMinBaselineSamples: number;
  latencyRecoveryRatio: number;
  closedHistory: number;
  /** The clock for live records (tests inject one); log records carry their own time. */
  now: () => number;
}

export const DEFAULT_OPTIONS: Readonly<AnalysisOptions> = {
  windowMs: WINDOW_MS,
  maxKeys: MAX_KEYS,
  widespreadMinDestinations: WIDESPREAD_MIN_DESTINATIONS,
  recurringMinFailures: RECURRING_MIN_FAILURES,
  recurringMinSpread: RECURRING_MIN_SPREAD,
  burstMinFailures: BURST_MIN_FAILURES,
  burstMaxSpread: BURST_MAX_SPREAD,
  burstRecoverySuccesses: BURST_RECOVERY_SUCCESSES,
  addressMinFailures: ADDRESS_MIN_FAILURES,
  latencyRatio: LATENCY_RATIO,
  latencyMinMs: LATENCY_MIN_MS,
  latencyMinSlowSamples: LATENCY_MIN_SLOW_SAMPLES,
  latencyMinBaselineSamples: LATENCY_MIN_BASELINE_SAMPLES,
  latencyRecoveryRatio: LATENCY_RECOVERY_RATIO,
  closedHistory: CLOSED_HISTORY,
  // Looked up at each call, so a mocked Date (node:test mock.timers) is seen.
  now: () => Date.now(),
};

export function resolveOptions(overrides: Partial<AnalysisOptions> = {}): AnalysisOptions {
  const options = { ...DEFAULT_OPTIONS, ...overrides };
  if (!(options.windowMs > 0) || !(options.maxKeys >= 1)) throw new Error('analysis: windowMs and maxKeys must be positive');
  return options;
}
