// Counting what a fuzz run sent and saw, and describing the replies briefly: the HTTP status of
// the first response line, or the SOCKS5 replies (method, auth, request) in order.
import type { Input } from './inputs.ts';
import type { Outcome } from './send.ts';

export class Counter {
  readonly counts = new Map<string, number>();

  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }

  /** "a 10, b 3, …" by count, the largest first; at most `limit` keys. */
  format(limit = 20): string {
    const sorted = [...this.counts].sort((x, y) => y[1] - x[1]);
    const shown = sorted.slice(0, limit).map(([k, n]) => `${k} ${n}`).join(', ');
    return sorted.length > limit ? `${shown}, … (${sorted.length - limit} more)` : shown || '-';
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

export class Tally {
  sent = 0;
  replied = 0;
  proxyClosed = 0;
  connectErrors = 0;
  readonly kinds = new Counter();
  readonly modes = new Counter();
  readonly httpReplies = new Counter();
  readonly socksReplies = new Counter();

  record(input: Input, outcome: Outcome): void {
    this.sent++;
    this.kinds.add(input.kind);
    this.modes.add(input.plan.mode);
    if (outcome.connectError) {
      this.connectErrors++;
      return;
    }
    if (outcome.closedBy === 'proxy') this.proxyClosed++;
    if (outcome.bytes === 0) return;
    this.replied++;
    if (input.listener === 'http') this.httpReplies.add(describeHttp(outcome.head));
    else this.socksReplies.add(describeSocks(outcome.head));
  }
}

function describeHttp(head: Buffer): string {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'));
  return match ? match[1]! : 'not HTTP';
}

/** The replies as the client saw them: method choice, auth status, request reply. */
function describeSocks(head: Buffer): string {
  const parts: string[] = [];
  let at = 0;
  if (head[at] === 0x05 && head.length >= 2) {
    parts.push(`method ${hex(head[1]!)}`);
    at = 2;
  }
  if (head[at] === 0x01 && head.length >= at + 2) {
    parts.push(`auth ${hex(head[at + 1]!)}`);
    at += 2;
  }
  if (head[at] === 0x05 && head.length >= at + 2) parts.push(`reply ${hex(head[at + 1]!)}`);
  return parts.join(' / ') || `other ${head.subarray(0, 4).toString('hex')}`;
}

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
