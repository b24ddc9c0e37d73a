// The fuzz run's summary: what was sent and seen, what the child recorded, resources before and
// after, the checks, and a last line of JSON for scripts and the CI test.
import type { AtRest } from '../harness/at-rest.ts';
import type { ChildLogStats } from '../harness/child.ts';
import { formatMemory } from '../harness/memory.ts';
import { mb } from '../harness/proc.ts';
import type { Check } from './checks.ts';
import type { Input } from './inputs.ts';
import type { Tally } from './tally.ts';

export interface FuzzReport {
  seed: number;
  concurrency: number;
  seconds: number;
  tally: Tally;
  originRequests: number;
  logs: ChildLogStats;
  warmedInputs: number;
  baseline: AtRest;
  after: AtRest | undefined;
  /** Inputs in flight when the child exited, if it did. */
  died: readonly Input[];
  checks: readonly Check[];
}

const signed = (n: number) => `${n >= 0 ? '+' : ''}${Number.isInteger(n) ? n : n.toFixed(1)}`;

export function printReport(r: FuzzReport): void {
  const { tally, baseline, after } = r;
  const codes = [...r.logs.codes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`\nhopwatch fuzz: seed ${r.seed}, ${tally.sent} inputs in ${r.seconds.toFixed(1)} s (${(tally.sent / r.seconds).toFixed(0)}/s), concurrency ${r.concurrency}, after ${r.warmedInputs} warm-up inputs`);
  console.log(`  inputs by kind:  ${tally.kinds.format()}`);
  console.log(`  inputs by mode:  ${tally.modes.format()}`);
  console.log(`  replies:         ${tally.replied} inputs got bytes back; the proxy closed first on ${tally.proxyClosed}; connect errors ${tally.connectErrors}`);
  console.log(`  HTTP statuses:   ${tally.httpReplies.format()}`);
  console.log(`  SOCKS replies:   ${tally.socksReplies.format(12)}`);
  console.log(`  origin requests: ${r.originRequests}`);
  console.log(`  child log codes: ${codes || '-'}`);
  if (after) {
    console.log(`  RSS at rest:     ${mb(baseline.rss)} MB before, ${mb(after.rss)} MB after (${signed((after.rss - baseline.rss) / 1048576)} MB)`);
    console.log(`  heap at rest:    ${mb(baseline.heap)} MB before, ${mb(after.heap)} MB after (${signed((after.heap - baseline.heap) / 1048576)} MB, after full GC)`);
    console.log(`  open fds:        ${baseline.fds} before, ${after.fds} after (${signed(after.fds - baseline.fds)}), quiet after ${after.settleMs} ms`);
    console.log(`  memory:          before ${formatMemory(baseline)}; after ${formatMemory(after)}`);
  }
  if (r.died.length) {
    console.log(`  the child exited with these inputs in flight (replay one: --seed ${r.seed} --only N):`);
    for (const input of r.died) console.log(`    #${input.index} ${input.kind} ${input.plan.mode} ${input.bytes.subarray(0, 200).toString('hex')}`);
  }
  console.log('checks:');
  for (const c of r.checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  console.log(JSON.stringify({
    ok: r.checks.every((c) => c.ok),
    seed: r.seed,
    inputs: tally.sent,
    seconds: Number(r.seconds.toFixed(1)),
    warmupInputs: r.warmedInputs,
    kinds: tally.kinds,
    modes: tally.modes,
    replied: tally.replied,
    connectErrors: tally.connectErrors,
    rssBefore: baseline.rss,
    rssAfter: after?.rss,
    heapBefore: baseline.heap,
    heapAfter: after?.heap,
    fdsBefore: baseline.fds,
    fdsAfter: after?.fds,
    logLines: r.logs.lines,
    logCodes: Object.fromEntries(r.logs.codes),
    failed: r.checks.filter((c) => !c.ok).map((c) => c.name),
  }));
}
