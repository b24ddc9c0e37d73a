// Percentiles in fixed memory: a log-bucketed sketch (the DDSketch idea). Each value lands in
// the bucket ceil(log_gamma(v)); every value of a bucket is within `relativeError` of the
// bucket's representative, so a percentile is off by at most that much, however many values.
// Buckets from 1 µs to a day at 1 % take about 1,200 entries; `maxBuckets` caps it anyway by
// merging the lowest buckets (the high percentiles, the ones that matter, stay exact to 1 %).

/** Below this (ms) a value counts as zero: durations are logged to 0.01 ms. */
const MIN_VALUE = 0.001;

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export class QuantileSketch {
  private readonly logGamma: number;
  private readonly gamma: number;
  private readonly maxBuckets: number;
  private readonly buckets = new Map<number, number>();
  private zeros = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;

  constructor(relativeError = 0.01, maxBuckets = 2048) {
    this.gamma = (1 + relativeError) / (1 - relativeError);
    this.logGamma = Math.log(this.gamma);
    this.maxBuckets = maxBuckets;
  }

  add(value: number): void {
    if (!(value >= 0) || !Number.isFinite(value)) return;
    this.count++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (value < MIN_VALUE) {
      this.zeros++;
      return;
    }
    const index = Math.ceil(Math.log(value) / this.logGamma);
    this.buckets.set(index, (this.buckets.get(index) ?? 0) + 1);
    if (this.buckets.size > this.maxBuckets) this.collapseLowest();
  }

  private collapseLowest(): void {
    const [a, b] = [...this.buckets.keys()].sort((x, y) => x - y);
    this.buckets.set(b!, this.buckets.get(b!)! + this.buckets.get(a!)!);
    this.buckets.delete(a!);
  }

  /** The value at quantile q (0–1), within the relative error; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = q * (this.count - 1);
    if (rank < this.zeros) return this.min;
    let seen = this.zeros;
    for (const index of [...this.buckets.keys()].sort((x, y) => x - y)) {
      seen += this.buckets.get(index)!;
      if (seen > rank) {
        const estimate = (2 * this.gamma ** index) / (this.gamma + 1);
        return Math.min(this.max, Math.max(this.min, estimate));
      }
    }
    return this.max;
  }

  summary(): Percentiles | undefined {
    if (this.count === 0) return undefined;
    const r = (v: number) => Math.round(v * 100) / 100;
    return { count: this.count, p50: r(this.quantile(0.5)), p95: r(this.quantile(0.95)), p99: r(this.quantile(0.99)), max: r(this.max) };
  }
}
