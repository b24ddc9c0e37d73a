// Counting by an open-ended key (destinations, usernames) in fixed memory: at most `max` keys;
// when full, the half that ranks lowest is dropped (amortized O(log n) per new key). The heavy
// hitters a top-N list shows survive; `truncated` says when small ones were forgotten.

export class TopCounter<V extends { total: number }> {
  private readonly map = new Map<string, V>();
  private readonly max: number;
  private readonly make: () => V;
  private readonly rank: (v: V) => number;
  truncated = false;

  /** `rank` orders what survives pruning and what `top` lists first (default: total). */
  constructor(max: number, make: () => V, rank: (v: V) => number = (v) => v.total) {
    this.max = max;
    this.make = make;
    this.rank = rank;
  }

  /** Distinct keys: exact until truncated, a lower bound after. */
  get distinct(): number {
    return this.truncated ? this.max : this.map.size;
  }

  get(key: string): V {
    let value = this.map.get(key);
    if (!value) {
      if (this.map.size >= this.max) this.prune();
      value = this.make();
      this.map.set(key, value);
    }
    return value;
  }

  private prune(): void {
    const sorted = [...this.map.entries()].sort((a, b) => this.order(b, a));
    for (const [key] of sorted.slice(0, Math.ceil(sorted.length / 2))) this.map.delete(key);
    this.truncated = true;
  }

  private order(a: [string, V], b: [string, V]): number {
    return this.rank(b[1]) - this.rank(a[1]) || b[1].total - a[1].total || (a[0] < b[0] ? -1 : 1);
  }

  /** The top `n`, highest rank first. */
  top(n: number): Array<[string, V]> {
    return [...this.map.entries()].sort((a, b) => this.order(a, b)).slice(0, n);
  }

  get size(): number {
    return this.map.size;
  }
}
