// What the analysis concludes, and the book of open and recently closed conclusions. Each kind
// is one of the proxy error guide's rules; its advice is the guide's, added to the catalogue's
// action for the code.
import { BoundedMap } from './bounded.ts';
import { entryOf } from './observation.ts';

export const FINDING_KINDS = ['widespread', 'recurring', 'burst', 'unhealthy_address', 'latency_shift'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Evidence {
  /** Failures (or slow samples) counted in the window. */
  count: number;
  window_ms: number;
  first_seen: string;
  last_seen: string;
  /** Up to five request ids to look up in the access log. */
  examples: string[];
  /** Kind-specific numbers: destinations, successes, sibling addresses, latencies. */
  [detail: string]: unknown;
}

export interface Finding {
  /** "f-<n>": pairs the finding_opened and finding_closed log lines. */
  id: string;
  kind: FindingKind;
  state: 'open' | 'closed';
  code?: string;
  target?: string;
  address?: string;
  opened_at: string;
  closed_at?: string;
  /** What the finding means, in the guide's words. */
  conclusion: string;
  /** Whether a retry is likely to help, as this finding judges it. */
  temporary: boolean;
  evidence: Evidence;
  action: string;
}

const MEANING: Record<FindingKind, { conclusion: string; temporary: boolean; advice: string }> = {
  widespread: {
    conclusion: 'The same failure on many destinations: likely configuration or routing, not the destinations',
    temporary: false,
    advice: 'Check what these destinations share: the proxy\'s resolver, egress route, firewall, proxy settings and credentials',
  },
  recurring: {
    conclusion: 'The same failure keeps recurring on one destination: structural at that destination',
    temporary: false,
    advice: 'Retries will not fix it; fix the cause at this destination',
  },
  burst: {
    conclusion: 'Failures came in a short burst, then stopped and successes resumed: temporary',
    temporary: true,
    advice: 'A retry with backoff is enough; look further only if bursts repeat',
  },
  unhealthy_address: {
    conclusion: 'One address of this name fails while its sibling addresses succeed: an unhealthy node or a pinned DNS answer',
    temporary: false,
    advice: 'Take the node out of rotation (load balancer health checks) and check DNS TTLs so clients are not pinned to it',
  },
  latency_shift: {
    conclusion: 'This destination has become much slower than its own baseline',
    temporary: false,
    advice: 'Compare response times at baseline and now between proxy and upstream; check upstream load, a slow node or network congestion before raising timeouts',
  },
};

export function meaningOf(kind: FindingKind, code: string | undefined): Pick<Finding, 'conclusion' | 'temporary' | 'action'> {
  const meaning = MEANING[kind];
  const catalogue = code ? entryOf(code)?.action : undefined;
  const joined = catalogue ? `${catalogue}${/[.?!]$/.test(catalogue) ? '' : '.'} ${meaning.advice}` : meaning.advice;
  return { conclusion: meaning.conclusion, temporary: meaning.temporary, action: joined };
}

export interface FindingSubject {
  kind: FindingKind;
  code?: string;
  target?: string;
  address?: string;
}

// An address or a latency shift is one finding whatever codes its failures carry.
export const findingKey = (s: FindingSubject) =>
  `${s.kind}|${s.kind === 'unhealthy_address' || s.kind === 'latency_shift' ? '' : (s.code ?? '')}|${s.target ?? ''}|${s.address ?? ''}`;

export type FindingListener = (event: 'opened' | 'closed', finding: Finding) => void;

/** Open findings (at most maxKeys; the oldest is closed to make room) and the last closed ones. */
export class FindingBook {
  private readonly open: BoundedMap<string, Finding>;
  private readonly closed: Finding[] = [];
  private readonly closedHistory: number;
  private counter = 0;
  readonly opened = new Map<FindingKind, number>(FINDING_KINDS.map((k) => [k, 0]));
  readonly listeners: FindingListener[] = [];

  constructor(maxKeys: number, closedHistory: number) {
    this.closedHistory = closedHistory;
    this.open = new BoundedMap(maxKeys, (_key, finding) => this.finish(finding, finding.evidence.last_seen));
  }

  // Asked for every exchange, while findings are rare: with none open, no key is built.
  get(subject: FindingSubject): Finding | undefined {
    return this.open.size === 0 ? undefined : this.open.get(findingKey(subject));
  }

  isOpen(subject: FindingSubject): boolean {
    return this.get(subject) !== undefined;
  }

  /** Opens the finding, or refreshes the evidence of the one already open. */
  raise(subject: FindingSubject, evidence: Evidence, at: number): Finding {
    const key = findingKey(subject);
    const existing = this.open.get(key);
    if (existing) {
      existing.evidence = evidence;
      return existing;
    }
    const finding: Finding = {
      id: `f-${++this.counter}`,
      kind: subject.kind,
      state: 'open',
      ...(subject.code ? { code: subject.code } : {}),
      ...(subject.target ? { target: subject.target } : {}),
      ...(subject.address ? { address: subject.address } : {}),
      opened_at: new Date(at).toISOString(),
      ...meaningOf(subject.kind, subject.code),
      evidence,
    };
    this.open.touch(key, () => finding);
    this.opened.set(subject.kind, (this.opened.get(subject.kind) ?? 0) + 1);
    for (const listener of this.listeners) listener('opened', finding);
    return finding;
  }

  /** Closes the finding if it is open. */
  resolve(subject: FindingSubject, at: number): void {
    if (this.open.size === 0) return;
    const key = findingKey(subject);
    const finding = this.open.get(key);
    if (!finding) return;
    this.open.delete(key);
    this.finish(finding, new Date(at).toISOString());
  }

  private finish(finding: Finding, closedAt: string): void {
    finding.state = 'closed';
    finding.closed_at = closedAt;
    this.closed.push(finding);
    if (this.closed.length > this.closedHistory) this.closed.shift();
    for (const listener of this.listeners) listener('closed', finding);
  }

  openFindings(): Finding[] {
    return [...this.open.values()];
  }

  /** Open findings first, then the most recently closed. */
  recent(): Finding[] {
    return [...this.openFindings(), ...this.closed.toReversed()];
  }

  openCount(kind: FindingKind): number {
    let n = 0;
    for (const f of this.open.values()) if (f.kind === kind) n++;
    return n;
  }
}
