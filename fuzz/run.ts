// npm run fuzz: random and mutated inputs against a live hopwatch (a child process, as it runs
// in production) on its HTTP and SOCKS5 listeners, then proof that it survived: alive, healthy,
// still serving, memory and descriptors back near where they were, every log line one JSON
// object, nothing on stderr.
//
// Usage: node fuzz/run.ts [--inputs 2000] [--seconds 1800] [--seed 1] [--concurrency 32]
//        [--warmup auto|N]  inputs sent before the baseline (see harness/warmup.ts); auto:
//                           rounds of 5000 until RSS stops climbing
//        [--only N]         replay input N alone (prints it and the reply)
//        [--tolerate CODES] ruled-out codes (comma list) reported but not failed: known defects
//        [--verbose]        one line per input as it finishes
// Exits 1 when a check fails; the last line is a JSON summary.
import { parseArgs } from 'node:util';
import { atRest, type AtRest } from '../harness/at-rest.ts';
import { HopwatchChild } from '../harness/child.ts';
import { formatMemory, memory } from '../harness/memory.ts';
import { mb, rssBytes } from '../harness/proc.ts';
import { warmUntilFlat } from '../harness/warmup.ts';
import { startDnsServer } from '../test/helpers/dns-server.ts';
import { checkHealth, checkHttpForward, checkSocks, type Check } from './checks.ts';
import type { Targets } from './corpus.ts';
import { makeInput, makeWarmup, type Input } from './inputs.ts';
import { startOrigin } from './origin.ts';
import { printReport } from './report.ts';
import { deliver, type Timing } from './send.ts';
import { Tally } from './tally.ts';

const LIMITS = { rss: 30 * 1048576, heap: 10 * 1048576, fds: 20 };
const TIMING: Timing = { replyWaitMs: 400, quietMs: 60, capMs: 5_000 };
const CREDENTIALS = { username: 'fuzz', password: 'fuzz-password' };
/**
 * Every IPv4 destination but 127.0.0.0/8, and every IPv6 range that can route anywhere (global,
 * unique-local, link-local, multicast, NAT64): mutations turn 127.0.0.1 into real addresses,
 * and a fuzzer must not send its inputs to strangers. Not ::/0, which would also cover
 * IPv4-mapped loopback; what IPv6 is left is reserved space that routes nowhere.
 */
const EVERYWHERE_BUT_LOOPBACK = [
  '0.0.0.0/2', '64.0.0.0/3', '96.0.0.0/4', '112.0.0.0/5', '120.0.0.0/6', '124.0.0.0/7', '126.0.0.0/8', '128.0.0.0/1',
  '2000::/3', 'fc00::/7', 'fe80::/10', 'ff00::/8', '64:ff9b::/96', '100::/64',
];
/**
 * Codes no input can legitimately cause here: every client is loopback and allowed, the limits
 * are far above the concurrency, and nothing hostile input does is hopwatch's own defect.
 */
const RULED_OUT = ['internal_error', 'client_denied', 'connection_limit', 'client_connection_limit'];
const ORIGIN_NAME = 'origin.fuzz.test';
const WARMUP_ROUND = 5_000;
const WARMUP_MAX_ROUNDS = 20;

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '1800' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string', default: 'auto' },
    only: { type: 'string' },
    tolerate: { type: 'string', default: '' },
    verbose: { type: 'boolean', default: false },
  },
});
const seed = Number(values.seed) >>> 0;
const concurrency = Number(values.concurrency);

const origin = await startOrigin();
const dns = await startDnsServer({ [ORIGIN_NAME]: { a: ['127.0.0.1'] } });
// Short timeouts so inputs that leave the proxy waiting do not pile up; auth on (plain
// password: a mutated one must not cost an scrypt each) so the credential parsers are fuzzed too.
const child = await HopwatchChild.start({
  http: { host: '127.0.0.1', port: 0 },
  socks: { enabled: true, host: '127.0.0.1', port: 0 },
  admin: { host: '127.0.0.1', port: 0 },
  shutdownGraceMs: 2_000,
  auth: { users: [CREDENTIALS] },
  access: { denyDestinations: EVERYWHERE_BUT_LOOPBACK },
  dns: { servers: [dns.address] },
  timeouts: { requestHeadersMs: 1_500, handshakeMs: 1_500, dnsMs: 500, connectMs: 1_000, tlsMs: 1_000, responseMs: 1_500, idleMs: 2_000, keepAliveMs: 1_000 },
  log: { level: 'info', requests: true },
});
const targets: Targets = { originPort: origin.port, originName: ORIGIN_NAME, proxyPort: child.ports.http, ...CREDENTIALS };
const port = (input: Input) => (input.listener === 'http' ? child.ports.http : child.ports.socks);
const normalUse = async () => [
  await checkHealth(child.ports.admin),
  await checkHttpForward(child.ports.http, origin.port, CREDENTIALS),
  await checkSocks(child.ports.socks, origin.port, CREDENTIALS),
];

if (values.only !== undefined) {
  const input = makeInput(seed, Number(values.only), targets);
  console.log(`input ${input.index} (seed ${seed}): ${input.kind} → ${input.listener}, ${input.plan.mode}, ${input.bytes.length} bytes`);
  console.log(`latin1: ${JSON.stringify(input.bytes.subarray(0, 4096).toString('latin1'))}`);
  console.log(`hex:    ${input.bytes.subarray(0, 4096).toString('hex')}`);
  const outcome = await deliver(port(input), input.plan, TIMING);
  console.log(`reply: ${outcome.bytes} bytes, closed by ${outcome.closedBy}: ${JSON.stringify(outcome.head.toString('latin1'))}`);
  const after = await normalUse();
  for (const c of after) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  console.log(`child ${child.alive ? 'alive' : 'exited'}; stderr: ${child.stderr || 'empty'}`);
  await shutdown();
  process.exit(after.every((c) => c.ok) ? 0 : 1);
}

// Before: the setup works (else every later failure is meaningless), warm-up, then the baseline.
const before = await normalUse();
if (before.some((c) => !c.ok)) {
  for (const c of before) console.log(`FAIL before fuzzing: ${c.name}: ${c.detail}`);
  await shutdown();
  process.exit(1);
}
const cold = await memory(child.pid, child.ports.admin);
let warmed = 0;
const warmBy = async (n: number) => {
  const until = warmed + n;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (warmed < until) {
      const input = makeWarmup(seed, warmed++, targets);
      await deliver(port(input), input.plan, TIMING);
    }
  }));
  return warmed;
};
const warmup = values.warmup === 'auto'
  ? await warmUntilFlat(child.pid, () => warmBy(WARMUP_ROUND), WARMUP_MAX_ROUNDS)
  : [{ done: await warmBy(Number(values.warmup)), rss: rssBytes(child.pid) }];
const baseline = await atRest(child);
console.log(`cold: ${formatMemory(cold)}`);
console.log(`warm-up: ${warmup.map((s) => `${s.done} → ${mb(s.rss)} MB`).join(', ')}`);
console.log(`baseline at rest: ${formatMemory(baseline)}, ${baseline.fds} fds`);

// The run: workers take input numbers in order until the count or the time is up, or the child dies.
const count = Number(values.inputs);
const tally = new Tally();
const inFlight = new Map<number, Input>();
let died: Input[] = [];
child.process.once('exit', () => (died = [...inFlight.values()]));
const started = performance.now();
const deadline = started + Number(values.seconds) * 1000;
let next = 0;
let lastProgress = started;
async function worker(): Promise<void> {
  while (next < count && performance.now() < deadline && child.alive) {
    const input = makeInput(seed, next++, targets);
    inFlight.set(input.index, input);
    const outcome = await deliver(port(input), input.plan, TIMING);
    inFlight.delete(input.index);
    tally.record(input, outcome);
    if (values.verbose) console.log(`#${input.index} ${input.kind} ${input.plan.mode} ${outcome.bytes}`);
    if (performance.now() - lastProgress > 10_000) {
      lastProgress = performance.now();
      const m = await memory(child.pid, child.ports.admin).catch(() => undefined);
      console.log(`… ${tally.sent}/${count} inputs, ${((lastProgress - started) / 1000).toFixed(0)} s${m ? `, ${formatMemory(m)}` : ''}`);
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = (performance.now() - started) / 1000;

// After: alive, still serving, and at rest back near the baseline.
const checks: Check[] = [];
checks.push({ name: 'child alive', ok: child.alive, detail: child.alive ? `pid ${child.pid}` : `exited (${child.process.exitCode ?? child.process.signalCode})` });
let after: AtRest | undefined;
if (child.alive) {
  checks.push(...(await normalUse()));
  after = await atRest(child);
  const grew = (key: 'rss' | 'heap') => `${mb(baseline[key])} MB → ${mb(after![key])} MB`;
  checks.push({ name: `RSS within +${mb(LIMITS.rss)} MB of the baseline`, ok: after.rss - baseline.rss <= LIMITS.rss, detail: grew('rss') });
  checks.push({ name: `V8 heap in use within +${mb(LIMITS.heap)} MB of the baseline`, ok: after.heap - baseline.heap <= LIMITS.heap, detail: grew('heap') });
  checks.push({ name: `open fds within +${LIMITS.fds} of the baseline`, ok: after.fds - baseline.fds <= LIMITS.fds, detail: `${baseline.fds} → ${after.fds}` });
  checks.push({ name: 'no client connection left open', ok: after.connections === 0, detail: `${after.connections} open after ${after.settleMs} ms` });
}
const exit = await shutdown();
checks.push({ name: 'exits 0 on SIGTERM', ok: exit.code === 0, detail: `code ${exit.code}, signal ${exit.signal}` });
checks.push({
  name: 'stdout: one JSON object per line',
  ok: child.logs.bad === 0,
  detail: `${child.logs.lines} lines, ${child.logs.bad} not JSON objects${child.logs.badExamples.map((l) => `\n      ${JSON.stringify(l)}`).join('')}`,
});
checks.push({ name: 'nothing on stderr', ok: child.stderr === '', detail: child.stderr ? child.stderr.slice(0, 4000) : 'empty' });
const tolerated = new Set(values.tolerate.split(',').filter(Boolean));
const ruledOut = RULED_OUT.filter((c) => child.logs.codes.has(c));
const ruledOutDetail = ruledOut.map((c) => `${c} ${child.logs.codes.get(c)}${tolerated.has(c) ? ' (tolerated)' : ''}`).join(', ');
checks.push({ name: `no code the setup rules out (${RULED_OUT.join(', ')})`, ok: ruledOut.every((c) => tolerated.has(c)), detail: ruledOutDetail || 'none' });
checks.push({ name: 'no error-level log line', ok: child.logs.errors.length === 0, detail: child.logs.errors.join('\n      ') || 'none' });

printReport({ seed, concurrency, seconds, tally, originRequests: origin.requests, logs: child.logs, warmedInputs: warmed, baseline, after, died, checks });
process.exit(checks.every((c) => c.ok) ? 0 : 1);

async function shutdown(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const result = await child.stop();
  await origin.close();
  await dns.close();
  return result;
}
