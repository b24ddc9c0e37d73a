// The two structures that keep the analysis' memory fixed whatever the traffic: a map with a
// maximum number of keys (least recently updated evicted first), and a sliding window made of a
// fixed number of slots per key.

/** A Map that keeps at most `max` keys; `touch` moves a key to the young end. */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  /** The key touched last (the end of the map's order), while it is still in the map. */
  private youngest: K | undefined;
  readonly max: number;
  /** Called with each evicted entry, so a finding that depended on it can close. */
  onEvict: ((key: K, value: V) => void) | undefined;

  constructor(max: number, onEvict?: (key: K, value: V) => void) {
    this.max = Math.max(1, Math.floor(max));
    this.onEvict = onEvict;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** The value for `key`, created by `make` when absent; either way it becomes the youngest. */
  touch(key: K, make: () => V): V {
    let value = this.map.get(key);
    // Traffic to one destination touches the same key over and over: already the youngest.
    if (value !== undefined && key === this.youngest) return value;
    if (value === undefined) value = make();
    else this.map.delete(key); // re-inserting moves it to the end of Map's insertion order
    this.map.set(key, value);
    this.youngest = key;
    while (this.map.size > this.max) {
      const [oldKey, oldValue] = this.map.entries().next().value as [K, V];
      this.map.delete(oldKey);
      this.onEvict?.(oldKey, oldValue);
    }
    return value;
  }

  delete(key: K): boolean {
    if (key === this.youngest) this.youngest = undefined;
    return this.map.delete(key);
  }

  entries(): MapIterator<[K, V]> {
    return this.map.entries();
  }

  values(): MapIterator<V> {
    return this.map.values();
  }
}

/**
 * Events in the last `windowMs`, kept as `slots` buckets of windowMs/slots each (count and
 * first/last time per bucket). Memory is fixed; the window edge is exact to one bucket.
 */
export class SlidingWindow {
  private readonly slotMs: number;
  private readonly ids: number[];
  private readonly counts: number[];
  private readonly firsts: number[];
  private readonly lasts: number[];
  readonly windowMs: number;

  constructor(windowMs: number, slots: number) {
    this.windowMs = windowMs;
    this.slotMs = windowMs / slots;
    this.ids = new Array<number>(slots).fill(-1);
    this.counts = new Array<number>(slots).fill(0);
    this.firsts = new Array<number>(slots).fill(0);
    this.lasts = new Array<number>(slots).fill(0);
  }

  add(time: number): void {
    const id = Math.floor(time / this.slotMs);
    const i = ((id % this.ids.length) + this.ids.length) % this.ids.length;
    if (this.ids[i] !== id) {
      this.ids[i] = id;
      this.counts[i] = 0;
      this.firsts[i] = time;
      this.lasts[i] = time;
    }
    this.counts[i]! += 1;
    if (time < this.firsts[i]!) this.firsts[i] = time;
    if (time > this.lasts[i]!) this.lasts[i] = time;
  }

  /** Events within the window ending at `now`: count, first and last time (0 when none). */
  stats(now: number): { count: number; first: number; last: number } {
    const since = now - this.windowMs;
    let count = 0;
    let first = Infinity;
    let last = 0;
    for (let i = 0; i < this.ids.length; i++) {
      // A bucket counts whole while its last event is inside the window: at most one bucket's
      // worth of events older than the edge are counted.
      if (this.counts[i] === 0 || this.lasts[i]! <= since) continue;
      count += this.counts[i]!;
      first = Math.min(first, this.firsts[i]!);
      last = Math.max(last, this.lasts[i]!);
    }
    return { count, first: count ? first : 0, last };
  }
}

/** The most recent `max` items (example request ids). */
export function pushRecent<T>(list: T[], item: T, max = 5): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}
