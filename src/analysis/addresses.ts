// Per resolved address of a name: one address failing while its siblings succeed is an unhealthy
// node, or a DNS answer that pins clients to it (the guide's case study). The connect attempts
// give each address its own outcome, even when the exchange itself succeeded on a sibling.
import { BoundedMap, SlidingWindow, pushRecent } from './bounded.ts';
import { evidenceOf } from './destinations.ts';
import type { Finding, FindingBook } from './findings.ts';
import { AFTER_CONNECT, attemptFailed, type Observation, type Outcome } from './observation.ts';
import { WINDOW_SLOTS, type AnalysisOptions } from './options.ts';

/** Addresses remembered per name: a name with more rarely matters beyond its first few. */
const ADDRESSES_PER_TARGET = 16;

interface AddressStats {
  fails: SlidingWindow;
  lastFail: number;
  lastOk: number;
  code: string;
  examples: string[];
}

export class AddressDetector {
  private readonly o: AnalysisOptions;
  private readonly book: FindingBook;
  /** "target address" → its failures. */
  private readonly stats: BoundedMap<string, AddressStats>;
  /** target → address → last success: the siblings. */
  private readonly successes: BoundedMap<string, BoundedMap<string, { last: number }>>;

  constructor(options: AnalysisOptions, book: FindingBook) {
    this.o = options;
    this.book = book;
    this.stats = new BoundedMap(options.maxKeys);
    this.successes = new BoundedMap(options.maxKeys);
  }

  observe(obs: Observation, outcome: Outcome): void {
    const { target, time } = obs;
    if (!target) return;
    let failed: Set<string> | undefined; // most exchanges have no failed address: no Set for them
    for (const attempt of obs.attempts ?? []) {
      if (!attemptFailed(attempt.outcome)) continue;
      this.fail(target, attempt.address, attempt.outcome, obs);
      (failed ??= new Set()).add(attempt.address);
    }
    if (obs.upstreamIp) {
      if (outcome === 'failure' && AFTER_CONNECT.has(obs.hop)) {
        this.fail(target, obs.upstreamIp, obs.code, obs);
        (failed ??= new Set()).add(obs.upstreamIp);
      } else if (outcome === 'success') {
        this.succeed(target, obs.upstreamIp, time);
      }
    }
    if (failed) for (const address of failed) this.check(target, address, time);
  }

  private fail(target: string, address: string, code: string, obs: Observation): void {
    const stats = this.stats.touch(`${target} ${address}`, () => ({
      fails: new SlidingWindow(this.o.windowMs, WINDOW_SLOTS), lastFail: 0, lastOk: 0, code, examples: [],
    }));
    stats.fails.add(obs.time);
    stats.lastFail = Math.max(stats.lastFail, obs.time);
    stats.code = code;
    pushRecent(stats.examples, obs.id);
  }

  private succeed(target: string, address: string, time: number): void {
    this.successes.touch(target, () => new BoundedMap(ADDRESSES_PER_TARGET)).touch(address, () => ({ last: time })).last = time;
    const stats = this.stats.size === 0 ? undefined : this.stats.get(`${target} ${address}`);
    if (!stats) return;
    stats.lastOk = Math.max(stats.lastOk, time);
    // The address works again: whatever was open about it is over.
    if (stats.lastOk >= stats.lastFail) this.book.resolve({ kind: 'unhealthy_address', target, address }, time);
  }

  private siblings(target: string, address: string, now: number): string[] {
    const since = now - this.o.windowMs;
    const out: string[] = [];
    const known = this.successes.get(target);
    if (known) for (const [other, { last }] of known.entries()) if (other !== address && last > since) out.push(other);
    return out;
  }

  private check(target: string, address: string, now: number): void {
    const stats = this.stats.get(`${target} ${address}`)!;
    const s = stats.fails.stats(now);
    const siblings = this.siblings(target, address, now);
    const subject = { kind: 'unhealthy_address', code: stats.code, target, address } as const;
    const unhealthy = s.count >= this.o.addressMinFailures && stats.lastOk < stats.lastFail && siblings.length > 0;
    if (unhealthy || this.book.isOpen(subject)) {
      this.book.raise(subject, evidenceOf(s, this.o.windowMs, stats.examples, { healthy_siblings: siblings }), now);
    }
  }

  sweep(finding: Finding, now: number): boolean {
    if (finding.kind !== 'unhealthy_address') return false;
    const stats = this.stats.get(`${finding.target} ${finding.address}`);
    if (!stats || stats.fails.stats(now).count < this.o.addressMinFailures) this.book.resolve(finding, now);
    return true;
  }
}
