// npm run soak -- --minutes N: mixed traffic through every front-end of a child hopwatch
// (successes, each fault class, client aborts) while its RSS, heap, descriptors and handles are
// sampled. Fails when RSS grows more than 10 % after warm-up, descriptors do not come back to
// the baseline once traffic stops, or /metrics counts a code the traffic did not cause.
//
// Usage: node soak/run.ts [--minutes 1] [--concurrency 8] [--interval S] [--warmup auto|none]
//   --warmup auto (default): before the measured minutes, the same traffic from 32 clients in
//   rounds of 20 s until RSS stops climbing; none: start measuring at once (CI's short run).
// Prints the samples as a table, the growth, the checks; the last line is a JSON summary.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { adminGet, byLabel, scrapeMetrics } from '../harness/admin.ts';
import { HopwatchChild } from '../harness/child.ts';
import { formatMemory } from '../harness/memory.ts';
import { fdCount, mb } from '../harness/proc.ts';
import { atRest, type AtRest } from '../harness/at-rest.ts';
import { settle } from '../harness/settle.ts';
import { warmUntilFlat } from '../harness/warmup.ts';
import { startFixtures } from './fixtures.ts';
import { formatTable, rssGrowth, takeSample, type SoakSample } from './sampler.ts';
import { INTENDED, SCENARIOS, USER, type Ports, type Scenario } from './scenarios.ts';

const RSS_GROWTH_LIMIT = 10;
/** Live objects after full GC, at rest, against the baseline: a leak of objects shows here first. */
const HEAP_LIMIT = 10 * 1048576;
/**
 * Below this much traffic after warm-up, RSS is still climbing to its working size and a
 * percentage says nothing about leaks: the growth is printed but not judged (CI's 6 s run).
 */
const RSS_JUDGED_AFTER_S = 60;
const FD_RETURN_MS = 30_000;
const WARMUP_CLIENTS = 32;
const WARMUP_ROUND_MS = 20_000;
const WARMUP_MAX_ROUNDS = 12;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '8' },
    interval: { type: 'string' },
    warmup: { type: 'string', default: 'auto' },
  },
});
const trafficSeconds = Number(values.minutes) * 60;
const concurrency = Number(values.concurrency);
// About 40 samples whatever the length, at least one a second, at most one every five.
const intervalS = values.interval ? Number(values.interval) : Math.min(5, Math.max(1, trafficSeconds / 40));

const fixtures = await startFixtures();
const child = await HopwatchChild.start({
  http: { host: '127.0.0.1', port: 0 },
  socks: { enabled: true, host: '127.0.0.1', port: 0 },
  admin: { host: '127.0.0.1', port: 0 },
  shutdownGraceMs: 2_000,
  auth: { users: [USER] },
  dns: { servers: [fixtures.dns.address] },
  timeouts: { requestHeadersMs: 5_000, handshakeMs: 5_000, dnsMs: 1_000, connectMs: 1_000, tlsMs: 2_000, responseMs: 1_000, idleMs: 5_000, keepAliveMs: 2_000 },
  log: { level: 'info', requests: true },
});
const ports: Ports = { http: child.ports.http, socks: child.ports.socks };
const startupFds = fdCount(child.pid);

interface Tally {
  runs: number;
  mismatches: number;
  seen: Map<string, number>;
}
const tallies = new Map<Scenario, Tally>(SCENARIOS.map((s) => [s, { runs: 0, mismatches: 0, seen: new Map() }]));
function record(s: Scenario, outcome: string): boolean {
  const t = tallies.get(s)!;
  t.runs++;
  if (outcome === s.expect) return true;
  t.mismatches++;
  t.seen.set(outcome, (t.seen.get(outcome) ?? 0) + 1);
  return false;
}

// Preflight: every scenario once, in turn. A fixture that does not produce its fault would make
// the whole soak meaningless, so that stops here.
const preflightAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const preflight: string[] = [];
for (const s of SCENARIOS) {
  const outcome = await s.run(ports, fixtures, preflightAgent);
  if (!record(s, outcome)) preflight.push(`${s.name}: expected "${s.expect}", got "${outcome}"`);
}
preflightAgent.destroy();
if (preflight.length) {
  console.log(`preflight failed:\n  ${preflight.join('\n  ')}`);
  await stop();
  process.exit(1);
}

// One rotation holds each scenario `weight` times, interleaved (round-robin over what is left)
// so that every class runs within the first second, not after twenty keep-alive requests.
const rotation: Scenario[] = [];
for (let round = 0; rotation.length < SCENARIOS.reduce((n, s) => n + s.weight, 0); round++) {
  for (const s of SCENARIOS) if (s.weight > round) rotation.push(s);
}
let pick = 0;
/** Runs the rotation with `workers` clients until `until` (a performance.now() time). */
async function traffic(workers: number, until: number): Promise<void> {
  await Promise.all(Array.from({ length: workers }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (performance.now() < until && child.alive) {
      const s = rotation[pick++ % rotation.length]!;
      record(s, await s.run(ports, fixtures, agent));
    }
    agent.destroy();
  }));
}
const runs = () => [...tallies.values()].reduce((n, t) => n + t.runs, 0);

// Warm-up: the same mix, faster, until RSS stops climbing (harness/warmup.ts says why). The
// 20 % of the measured traffic excluded from the growth comes on top.
const warmup = values.warmup === 'auto'
  ? await warmUntilFlat(child.pid, () => traffic(WARMUP_CLIENTS, performance.now() + WARMUP_ROUND_MS).then(runs), WARMUP_MAX_ROUNDS)
  : [];
const warmupRuns = runs();

// The baseline: once the preflight's connections, pooled upstream sockets and lazily opened
// descriptors have settled (no descriptor closed for two seconds).
const base = await atRest(child, 15_000);
const baselineFds = base.fds;

// Traffic and sampling.
const startedAt = performance.now();
const deadline = startedAt + trafficSeconds * 1000;
const samples: SoakSample[] = [];
async function sampler(): Promise<void> {
  while (performance.now() < deadline && child.alive) {
    samples.push(await takeSample(child.pid, child.ports.admin, startedAt));
    fixtures.dns.queries.length = 0; // the fake DNS keeps every query; over a long run, that is memory
    await sleep(Math.max(0, Math.min(intervalS * 1000, deadline - performance.now())));
  }
}
await Promise.all([sampler(), traffic(concurrency, deadline)]);
const trafficEnded = performance.now();
if (child.alive) samples.push(await takeSample(child.pid, child.ports.admin, startedAt));

// After: descriptors back, codes, health.
const checks: Array<{ name: string; ok: boolean; detail: string }> = [];
checks.push({ name: 'child alive', ok: child.alive, detail: child.alive ? `pid ${child.pid}` : `exited (${child.process.exitCode ?? child.process.signalCode})` });
let fdsAfter = -1;
let fdReturnMs = 0;
let unexpected: string[] = [];
let codes = new Map<string, number>();
let rest: AtRest | undefined;
const growth = rssGrowth(samples, trafficSeconds);
if (child.alive) {
  const back = await settle(child.pid, child.ports.admin, (r) => r.fds <= baselineFds, FD_RETURN_MS);
  fdsAfter = back.last.fds;
  fdReturnMs = back.ms;
  checks.push({
    name: 'open fds back to the baseline after traffic',
    ok: back.settled,
    detail: `baseline ${baselineFds}, peak ${Math.max(...samples.map((s) => s.fds))}, ${fdsAfter} after ${(fdReturnMs / 1000).toFixed(1)} s`,
  });
  rest = await atRest(child);
  checks.push({
    name: `V8 heap in use at rest within +${mb(HEAP_LIMIT)} MB of the baseline`,
    ok: rest.heap - base.heap <= HEAP_LIMIT,
    detail: `${mb(base.heap)} MB → ${mb(rest.heap)} MB after full GC`,
  });
  codes = byLabel(await scrapeMetrics(child.ports.admin), 'hopwatch_requests_total', 'code');
  unexpected = [...codes.keys()].filter((c) => !INTENDED.has(c));
  checks.push({ name: 'only the codes the traffic caused', ok: unexpected.length === 0, detail: unexpected.length ? `unexpected: ${unexpected.map((c) => `${c} ${codes.get(c)}`).join(', ')}` : 'none unexpected' });
  const health = await adminGet(child.ports.admin, '/healthz');
  checks.push({ name: '/healthz answers 200', ok: health.status === 200, detail: String(health.status) });
}
const judged = trafficSeconds - growth.warmupSeconds >= RSS_JUDGED_AFTER_S;
checks.push({
  name: `RSS growth after warm-up under ${RSS_GROWTH_LIMIT} %`,
  ok: !judged || growth.percent < RSS_GROWTH_LIMIT,
  detail: `${mb(growth.from)} MB → ${mb(growth.to)} MB (${growth.percent.toFixed(1)} %)${judged ? '' : `; not judged: under ${RSS_JUDGED_AFTER_S} s of traffic after warm-up`}`,
});
const mismatched = [...tallies].filter(([, t]) => t.mismatches > 0);
checks.push({
  name: 'every client saw the outcome its scenario meant',
  ok: mismatched.length === 0,
  detail: mismatched.length
    ? mismatched.map(([s, t]) => `${s.name}: ${t.mismatches}/${t.runs} (${[...t.seen].map(([o, n]) => `"${o}" ${n}`).join(', ')})`).join('; ')
    : 'all',
});
const exit = await stop();
checks.push({ name: 'exits 0 on SIGTERM', ok: exit.code === 0, detail: `code ${exit.code}, signal ${exit.signal}` });
checks.push({ name: 'stdout: one JSON object per line', ok: child.logs.bad === 0, detail: `${child.logs.lines} lines, ${child.logs.bad} not JSON objects ${child.logs.badExamples.join(' | ')}` });
checks.push({ name: 'nothing on stderr', ok: child.stderr === '', detail: child.stderr.slice(0, 4000) || 'empty' });
checks.push({ name: 'no error-level log line', ok: child.logs.errors.length === 0, detail: child.logs.errors.join('\n      ') || 'none' });

report();
process.exit(checks.every((c) => c.ok) ? 0 : 1);

async function stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const exit = await child.stop();
  await fixtures.close();
  return exit;
}

function report(): void {
  const total = runs();
  const measured = total - warmupRuns;
  const seconds = (trafficEnded - startedAt) / 1000;
  if (warmup.length) console.log(`warm-up: ${warmup.map((w) => `${w.done} runs → ${mb(w.rss)} MB`).join(', ')}`);
  console.log(`hopwatch soak: ${seconds.toFixed(0)} s of traffic, concurrency ${concurrency}, ${measured} scenario runs (${(measured / seconds).toFixed(0)}/s) after ${warmupRuns} preflight and warm-up runs, a sample every ${intervalS} s`);
  console.log(formatTable(samples));
  console.log('scenarios:');
  for (const [s, t] of tallies) console.log(`  ${s.name.padEnd(26)} ${String(t.runs).padStart(7)} runs  ${t.mismatches ? `${t.mismatches} unexpected outcomes` : `all "${s.expect}"`}`);
  console.log(`codes in /metrics: ${[...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`);
  console.log(`RSS after warm-up (first ${growth.warmupSeconds.toFixed(0)} s excluded, means of ${growth.window} samples): ${mb(growth.from)} MB → ${mb(growth.to)} MB, ${growth.percent >= 0 ? '+' : ''}${growth.percent.toFixed(1)} %`);
  console.log(`open fds: ${startupFds} at start, baseline ${baselineFds}, ${fdsAfter} after traffic (${(fdReturnMs / 1000).toFixed(1)} s after it stopped)`);
  if (rest) console.log(`at rest (after full GC): before ${formatMemory(base)}; after ${formatMemory(rest)}`);
  console.log('checks:');
  for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  const first = samples[0];
  const last = samples.at(-1);
  console.log(JSON.stringify({
    ok: checks.every((c) => c.ok),
    trafficSeconds: Number(seconds.toFixed(1)),
    runs: measured,
    warmupRuns,
    samples: samples.length,
    rssGrowthPercent: Number(growth.percent.toFixed(2)),
    rssJudged: judged,
    rssFrom: Math.round(growth.from),
    rssTo: Math.round(growth.to),
    heapFirst: first?.heap,
    heapLast: last?.heap,
    handlesFirst: first?.handles,
    handlesLast: last?.handles,
    heapAtRestBefore: base.heap,
    heapAtRestAfter: rest?.heap,
    rssAtRestBefore: base.rss,
    rssAtRestAfter: rest?.rss,
    fdsBaseline: baselineFds,
    fdsAfter,
    codes: Object.fromEntries(codes),
    unexpectedCodes: unexpected,
    failed: checks.filter((c) => !c.ok).map((c) => c.name),
  }));
}
