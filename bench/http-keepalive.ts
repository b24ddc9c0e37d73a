// HTTP keep-alive throughput through hopwatch, against a bare node:http forwarder and a direct
// connection to the same origin, all measured in one run so the ratios compare like with like
// (same machine, same moment, same origin, same load generator).
//
// Every component is its own process, pinned to its own cores when taskset exists, so the
// proxy under test never competes with the load generator for a core. hopwatch runs from
// src/main.js with its default logging (one JSON line per request, to a file) and metrics on:
// that work is part of what a user pays for, so it is part of the measurement.
//
// Usage: node bench/http-keepalive.ts [--duration 10] [--warmup 2] [--connections 50] [--quick]
//        [--rounds 1] [--origin auto|node|nginx]
// With --rounds R every target is measured R times, interleaved (direct, bare, hopwatch, direct,
// …) so a burst of background load hits all of them; the table shows each target's median round.
// BENCH_PROF=1 adds one more hopwatch run under --cpu-prof and prints its top self time.
// Raw results: bench/results/keepalive.json. `npm run bench` (bench/run.ts) measures this and more.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadMode, LoadResult } from './load.ts';
import { formatSummary, newestProfile, summarise, type CpuProfile, type ProfileSummary } from './profile-top.ts';
import {
  ROOT, freePorts, memory, onPath, placement, runClient, startHttpOrigin, startNode, stop, waitForPort, withHopwatch, withProxy,
  type OriginKind, type Placement, type Started,
} from './procs.ts';

const RESULTS = join(ROOT, 'bench/results');

interface Options extends LoadSettings {
  rounds: number;
  origin: OriginKind;
  profile: boolean;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      origin: { type: 'string', default: 'auto' },
    },
  });
  const durationS = Number(values.duration ?? (values.quick ? 2 : 10));
  const warmupS = Number(values.warmup ?? (values.quick ? 1 : 2));
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  if (!(durationS > 0) || !(warmupS >= 0) || !(connections >= 1) || !(rounds >= 1)) {
    throw new Error('--duration, --warmup, --connections and --rounds take positive numbers');
  }
  const origin = values.origin === 'auto' ? (onPath('nginx') ? 'nginx' : 'node') : values.origin;
  if (origin !== 'node' && origin !== 'nginx') throw new Error('--origin is auto, node or nginx');
  return { durationS, warmupS, connections, mode: 'keepalive', rounds, origin, profile: process.env.BENCH_PROF === '1' };
}

// ---- one measurement --------------------------------------------------------------------------

/** What bench/load.ts is asked to do. */
export interface LoadSettings {
  durationS: number;
  warmupS: number;
  connections: number;
  mode: LoadMode;
}

export interface Measurement extends LoadResult {
  target: string;
  /** CPU of the proxy (undefined for direct), origin and load generator over the window, % of one core. */
  proxyCpuPercent: number | undefined;
  originCpuPercent: number | undefined;
  /**
   * Everything else the machine ran meanwhile (% of one core): other work on a shared machine
   * competes with the proxy, so a large value means the round is noisy.
   */
  otherCpuPercent: number | undefined;
  /**
   * Proxy CPU time per request (origin's for direct), in µs. Contention from other work lowers
   * req/s a lot but this little, so it is the steadier number on a shared machine.
   */
  cpuUsPerRequest: number | undefined;
  /** The proxy's peak RSS (VmHWM) after the run, MiB; undefined for direct. */
  proxyPeakRssMiB: number | undefined;
}

/**
 * Runs bench/load.ts against `port` and samples the proxy's and origin's CPU over the window
 * it measures. `proxy` is undefined for direct (then `port` is the origin's).
 */
export async function measure(
  target: string,
  proxy: Started | undefined,
  origin: Started,
  port: number,
  requestTarget: string,
  originPort: number,
  loadCpu: string | undefined,
  settings: LoadSettings,
): Promise<Measurement> {
  const args = [
    '--port', String(port),
    '--target', requestTarget,
    '--host-header', `127.0.0.1:${originPort}`,
    '--connections', String(settings.connections),
    '--duration', String(settings.durationS),
    '--warmup', String(settings.warmupS),
    '--mode', settings.mode,
  ];
  const run = await runClient<LoadResult>('load generator', loadCpu, 'bench/load.ts', args, [proxy?.child.pid, origin.child.pid]);
  const { result } = run;
  const [proxyCpuPercent, originCpuPercent] = run.cpuPercent;
  const ours = (proxyCpuPercent ?? 0) + (originCpuPercent ?? 0) + result.cpuPercent;
  const otherCpuPercent = run.machinePercent === undefined ? undefined : Math.max(0, run.machinePercent - ours);
  const server = proxy ? proxyCpuPercent : originCpuPercent;
  const cpuUsPerRequest = server === undefined || !result.rps ? undefined : (server / 100) * 1e6 / result.rps;
  const proxyPeakRssMiB = proxy ? memory(proxy.child.pid)?.peakMiB : undefined;
  return { target, ...result, proxyCpuPercent, originCpuPercent, otherCpuPercent, cpuUsPerRequest, proxyPeakRssMiB };
}

/** The ok-request count hopwatch's own /metrics reports: proves metrics were on and counting. */
export async function scrapeOkRequests(adminPort: number): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('hopwatch_requests_total{') && line.includes('code="ok"')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  } catch {
    return undefined;
  }
}

// ---- output -----------------------------------------------------------------------------------

function table(rows: Measurement[]): string {
  const direct = rows.find((r) => r.target === 'direct');
  const bare = rows.find((r) => r.target === 'bare forwarder');
  const ratio = (r: Measurement, base: Measurement | undefined) => (base && base.rps ? (r.rps / base.rps).toFixed(2) : '-');
  const pct = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(0)}%`);
  const header = ['target', 'req/s', 'p50 ms', 'p99 ms', 'vs direct', 'vs bare', 'errors', 'cpu µs/req', 'proxy cpu', 'origin cpu', 'load cpu', 'other cpu'];
  const body = rows.map((r) => [
    r.target,
    r.rps.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    ratio(r, direct),
    ratio(r, bare),
    String(r.errors),
    r.cpuUsPerRequest === undefined ? '-' : r.cpuUsPerRequest.toFixed(0),
    pct(r.proxyCpuPercent),
    pct(r.originCpuPercent),
    pct(r.cpuPercent),
    pct(r.otherCpuPercent),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

// ---- main -------------------------------------------------------------------------------------

interface Ports {
  origin: number;
  bare: number;
  hopwatch: number;
  admin: number;
}

interface HopwatchFacts {
  logLines: number;
  logBytes: number;
  metricsOkRequests: number | undefined;
}

/** One measurement of each target; the proxies start fresh, so no round inherits another's state. */
async function runRound(options: Options, where: Placement, ports: Ports, origin: Started, dir: string): Promise<{ rows: Measurement[]; facts: HopwatchFacts }> {
  const absolute = `http://127.0.0.1:${ports.origin}/`;
  const rows: Measurement[] = [];
  process.stderr.write('  direct …\n');
  rows.push(await measure('direct', undefined, origin, ports.origin, '/', ports.origin, where.load, options));

  process.stderr.write('  bare forwarder …\n');
  const bare = startNode('bare forwarder', where.proxy, 'bench/bare-forwarder.ts', [String(ports.bare)]);
  rows.push(await withProxy(bare, ports.bare, () => measure('bare forwarder', bare, origin, ports.bare, absolute, ports.origin, where.load, options)));

  process.stderr.write('  hopwatch …\n');
  const hop = await withHopwatch({ http: ports.hopwatch, admin: ports.admin }, where.proxy, dir, {}, async (started) => ({
    row: await measure('hopwatch', started, origin, ports.hopwatch, absolute, ports.origin, where.load, options),
    metricsOkRequests: await scrapeOkRequests(ports.admin),
  }));
  rows.push(hop.value.row);
  return { rows, facts: { logLines: hop.logLines, logBytes: hop.logBytes, metricsOkRequests: hop.value.metricsOkRequests } };
}

/** hopwatch once more, under --cpu-prof; kept out of the table since profiling slows it. */
interface ProfileRun {
  file: string;
  /** The profiled run's load, profiling overhead included: turns profile ms into µs per request. */
  load: LoadResult;
  summary: ProfileSummary;
}

async function runProfile(options: Options, where: Placement, ports: Ports, origin: Started, dir: string): Promise<ProfileRun> {
  process.stderr.write('  hopwatch under --cpu-prof (not in the table) …\n');
  const profDir = join(RESULTS, 'prof');
  mkdirSync(profDir, { recursive: true });
  // The profile is written as the process exits, after SIGTERM's graceful close.
  const run = await withHopwatch({ http: ports.hopwatch, admin: ports.admin }, where.proxy, dir, { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profDir] }, (hop) =>
    measure('hopwatch (profiled)', hop, origin, ports.hopwatch, `http://127.0.0.1:${ports.origin}/`, ports.origin, where.load, options));
  const file = newestProfile(profDir);
  return { file, load: run.value, summary: summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, 10) };
}

function median(rows: Measurement[]): Measurement {
  return [...rows].sort((a, b) => a.rps - b.rps)[Math.floor((rows.length - 1) / 2)]!;
}

async function main(): Promise<void> {
  const options = readOptions();
  const where = placement();
  const dir = mkdtempSync(join(tmpdir(), 'hopwatch-bench-'));
  const found = await freePorts(4);
  const ports: Ports = { origin: found[0]!, bare: found[1]!, hopwatch: found[2]!, admin: found[3]! };
  process.stderr.write(
    `hopwatch keep-alive bench: ${options.connections} connections, ${options.warmupS} s warm-up + ${options.durationS} s per target, ` +
      `${options.rounds} round(s), origin ${options.origin}, node ${process.version}; ${where.description}\n`,
  );

  const origin = startHttpOrigin(options.origin, ports.origin, where.origin, dir);
  const rounds: Measurement[][] = [];
  let facts: HopwatchFacts | undefined;
  let profile: ProfileRun | undefined;
  try {
    await waitForPort(ports.origin, origin);
    for (let r = 0; r < options.rounds; r++) {
      if (options.rounds > 1) process.stderr.write(`round ${r + 1}/${options.rounds}\n`);
      const round = await runRound(options, where, ports, origin, dir);
      rounds.push(round.rows);
      facts = round.facts;
    }
    if (options.profile) profile = await runProfile(options, where, ports, origin, dir);
  } finally {
    await stop(origin);
    rmSync(dir, { recursive: true, force: true });
  }

  const targets = ['direct', 'bare forwarder', 'hopwatch'];
  const rows = targets.map((t) => median(rounds.map((round) => round.find((m) => m.target === t)!)));
  const spread = targets.map((t) => {
    const all = rounds.map((round) => round.find((m) => m.target === t)!.rps);
    return { target: t, minRps: Math.min(...all), maxRps: Math.max(...all) };
  });
  const command = `node bench/http-keepalive.ts ${process.argv.slice(2).join(' ')}`.trim();
  process.stdout.write(`\n${command}\n${where.description}; origin ${options.origin}\n${table(rows)}\n`);
  process.stdout.write(
    'cpu µs/req: the proxy\'s CPU time per request (the origin\'s for direct); cpu columns are % of one core over the window; ' +
      'other cpu: the rest of the machine meanwhile (noise).\n',
  );
  if (options.rounds > 1) {
    process.stdout.write(`\nmedian of ${options.rounds} rounds; req/s range: ${spread.map((s) => `${s.target} ${s.minRps.toFixed(0)}–${s.maxRps.toFixed(0)}`).join(', ')}\n`);
  }
  if (facts) {
    process.stdout.write(
      `\nhopwatch (last round) wrote ${facts.logLines} log lines (${(facts.logBytes / 1e6).toFixed(1)} MB, ` +
        `${(facts.logBytes / Math.max(1, facts.logLines)).toFixed(0)} B/line); ` +
        `its /metrics counted ${facts.metricsOkRequests ?? '?'} ok requests (warm-up included)\n`,
    );
  }
  if (profile) {
    process.stdout.write(
      `\nprofiled hopwatch run: ${profile.load.rps.toFixed(0)} req/s under --cpu-prof (warm-up ${options.warmupS} s + ${options.durationS} s sampled, startup included)\n` +
        `${profile.file}\n${formatSummary(profile.summary)}\n`,
    );
  }

  mkdirSync(RESULTS, { recursive: true });
  // latest.json is npm run bench's (bench/run.ts): this script alone writes its own file.
  const out = join(RESULTS, 'keepalive.json');
  const record = { date: new Date().toISOString(), command, node: process.version, cpu: cpus()[0]?.model, placement: where, options, results: rows, spread, rounds, hopwatch: facts, profile };
  writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`\nraw results: ${out}\n`);
}

if (import.meta.main) await main();
