// `--only workers`: what a second worker buys. HTTP keep-alive and Connection: close req/s through
// hopwatch with `workers: 1` and `workers: 2`, under the same load against the same origin.
//
// Placement: everywhere else hopwatch is pinned to one core, which cannot show two workers; here
// it may use every CPU the bench has, for both runs. The origin and the load generator keep their
// own placement, so on a two-core machine the second worker shares a core with them: 2× is out
// of reach there, and the ratio is what this machine can show, not what more cores would.
//
// Both of node:cluster's scheduling policies are measured with two workers: the shared socket
// (every worker accepts on the listening socket itself; what hopwatch uses) and round-robin
// (NODE_CLUSTER_SCHED_POLICY=rr: the primary accepts each connection and hands it to the next
// worker over the IPC channel). CPU is summed over the primary and its workers, read from /proc. Without --quick every
// target runs three times, interleaved, and the median counts.
import { readFileSync } from 'node:fs';
import type { Bench, Figure, Section } from './context.ts';
import { hopwatchYaml, progress } from './context.ts';
import type { LoadMode, LoadResult } from './load.ts';
import { runClient, withHopwatch, type Started } from './procs.ts';

interface Target {
  label: string;
  workers: number;
  /** NODE_CLUSTER_SCHED_POLICY for the run. */
  policy?: 'rr' | 'none';
}

export interface WorkersRun extends LoadResult {
  label: string;
  mode: LoadMode;
  workers: number;
  policy: string;
  /** CPU of each hopwatch process over the window, % of one core: the primary first. */
  processCpuPercent: Array<number | undefined>;
  originCpuPercent: number | undefined;
  /**
   * Everything else the machine ran over the window, % of one core. Other work takes CPU from a
   * single worker that two workers would win back between them: a large value flatters 2 workers.
   */
  otherCpuPercent: number | undefined;
  /** All hopwatch processes' CPU per request, µs. */
  cpuUsPerRequest: number | undefined;
}

const ONE: Target = { label: '1 worker', workers: 1 };
// Named, though it is hopwatch's default, so a NODE_CLUSTER_SCHED_POLICY in the bench's own
// environment cannot change what this row measures.
const SHARED: Target = { label: '2 workers, shared socket', workers: 2, policy: 'none' };
const ROUND_ROBIN: Target = { label: '2 workers, round-robin', workers: 2, policy: 'rr' };

/** Child pids of `pid` (Linux /proc; empty elsewhere). */
function childrenOf(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Until /metrics says every worker serves: connections made before that would all go to the first. */
async function serving(adminPort: number, workers: number, hop: Started): Promise<void> {
  if (workers === 1) return;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (hop.child.exitCode !== null) throw new Error(`hopwatch exited (${hop.child.exitCode}):\n${hop.stderr()}`);
    try {
      const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      if (new RegExp(`^hopwatch_workers ${workers}$`, 'm').test(text)) return;
    } catch {
      // admin not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`hopwatch did not report ${workers} workers serving within 20 s:\n${hop.stderr()}`);
}

async function run(bench: Bench, target: Target, mode: LoadMode): Promise<WorkersRun> {
  const { ports, where, options } = bench;
  progress(`workers, ${mode}: ${target.label} …`);
  const cpus = where.proxy === undefined ? undefined : [...new Set([where.proxy, where.origin, where.load].flatMap((c) => c?.split(',') ?? []))].join(',');
  const hopPorts = { http: ports.hopHttp, admin: ports.admin };
  const env: Record<string, string> = target.policy ? { NODE_CLUSTER_SCHED_POLICY: target.policy } : {};
  const settings = { extraYaml: hopwatchYaml(bench, `workers: ${target.workers}\n`), env };
  const { value } = await withHopwatch(hopPorts, cpus, bench.dir, settings, async (hop): Promise<WorkersRun> => {
    await serving(ports.admin, target.workers, hop);
    const pids = [hop.child.pid, ...childrenOf(hop.child.pid)];
    const args = [
      '--port', String(ports.hopHttp),
      '--target', `http://127.0.0.1:${ports.httpOrigin}/`,
      '--host-header', `127.0.0.1:${ports.httpOrigin}`,
      '--connections', String(options.connections),
      '--duration', String(options.durationS),
      '--warmup', String(options.warmupS),
      '--mode', mode,
    ];
    const client = await runClient<LoadResult>('load generator', where.load, 'bench/load.ts', args, [...pids, bench.httpOrigin.child.pid]);
    const processCpuPercent = client.cpuPercent.slice(0, pids.length);
    const total = processCpuPercent.reduce<number | undefined>((sum, p) => (sum === undefined || p === undefined ? undefined : sum + p), 0);
    const rps = client.result.rps;
    const ours = (total ?? 0) + (client.cpuPercent.at(-1) ?? 0) + client.result.cpuPercent;
    return {
      ...client.result,
      label: target.label,
      mode,
      workers: target.workers,
      policy: target.policy ?? 'single process',
      processCpuPercent,
      originCpuPercent: client.cpuPercent.at(-1),
      otherCpuPercent: client.machinePercent === undefined ? undefined : Math.max(0, client.machinePercent - ours),
      cpuUsPerRequest: total === undefined || !rps ? undefined : (total / 100) * 1e6 / rps,
    };
  });
  return value;
}

function cpuNote(r: WorkersRun): string {
  const pct = (p: number | undefined) => (p === undefined ? '?' : `${p.toFixed(0)} %`);
  const [first, ...rest] = r.processCpuPercent;
  const hop = r.workers === 1 ? `hopwatch ${pct(first)}` : `primary ${pct(first)}, workers ${rest.map(pct).join(' + ')}`;
  return `${r.label}: ${r.rps.toFixed(0)} req/s; ${hop}; origin ${pct(r.originCpuPercent)}, load generator ${pct(r.cpuPercent)}, other work ${pct(r.otherCpuPercent)} (of one core)`;
}

/**
 * Each target `rounds` times, interleaved (1, shared, rr, 1, shared, rr …), so a burst of other
 * work on the machine hits all three; each target's median round (by req/s) counts.
 */
async function rounds(bench: Bench, mode: LoadMode, count: number): Promise<{ one: WorkersRun; shared: WorkersRun; rr: WorkersRun; all: WorkersRun[][] }> {
  const all: WorkersRun[][] = [[], [], []];
  for (let r = 0; r < count; r++) {
    for (const [i, target] of [ONE, SHARED, ROUND_ROBIN].entries()) all[i]!.push(await run(bench, target, mode));
  }
  const median = (runs: WorkersRun[]) => [...runs].sort((a, b) => a.rps - b.rps)[Math.floor((runs.length - 1) / 2)]!;
  return { one: median(all[0]!), shared: median(all[1]!), rr: median(all[2]!), all };
}

export async function measureWorkers(bench: Bench): Promise<Section> {
  const count = bench.options.quick ? 1 : 3;
  const keepalive = await rounds(bench, 'keepalive', count);
  const close = await rounds(bench, 'close', count);
  const row = (name: string, unit: string, one: WorkersRun, two: WorkersRun, pick: (r: WorkersRun) => number | undefined, higherIsBetter: boolean): Figure => ({
    name, unit, direct: undefined, baseline: pick(one), hopwatch: pick(two), baselineName: 'hopwatch, 1 worker', higherIsBetter,
  });
  const rps = (r: WorkersRun) => r.rps;
  const cpu = (r: WorkersRun) => r.cpuUsPerRequest;
  const figures: Figure[] = [
    row('keep-alive, 2 workers', 'req/s', keepalive.one, keepalive.shared, rps, true),
    row('keep-alive p99, 2 workers', 'ms', keepalive.one, keepalive.shared, (r) => r.p99Ms, false),
    row('keep-alive CPU, 2 workers', 'µs/req', keepalive.one, keepalive.shared, cpu, false),
    row('keep-alive, 2 workers, round-robin', 'req/s', keepalive.one, keepalive.rr, rps, true),
    row('keep-alive CPU, 2 workers, round-robin', 'µs/req', keepalive.one, keepalive.rr, cpu, false),
    row('Connection: close, 2 workers', 'req/s', close.one, close.shared, rps, true),
    row('Connection: close CPU, 2 workers', 'µs/req', close.one, close.shared, cpu, false),
    row('Connection: close, 2 workers, round-robin', 'req/s', close.one, close.rr, rps, true),
    row('Connection: close CPU, 2 workers, round-robin', 'µs/req', close.one, close.rr, cpu, false),
  ];
  const medians = [keepalive.one, keepalive.shared, keepalive.rr, close.one, close.shared, close.rr];
  const spread = (runs: WorkersRun[][]) => runs.map((r) => `${r[0]!.label} ${Math.min(...r.map((x) => x.rps)).toFixed(0)}–${Math.max(...r.map((x) => x.rps)).toFixed(0)}`).join(', ');
  const notes = [
    `workers rows: hopwatch may use ${bench.where.proxy === undefined ? 'any CPU (unpinned)' : 'every CPU the bench has'}; the baseline column is the same hopwatch with workers: 1; ` +
      `CPU µs/req is summed over the primary and its workers; median of ${count} interleaved round(s)`,
    ...medians.map((r) => `workers, ${r.mode}, ${cpuNote(r)}`),
  ];
  if (count > 1) notes.push(`workers req/s range: keep-alive ${spread(keepalive.all)}; close ${spread(close.all)}`);
  const all = [...keepalive.all.flat(), ...close.all.flat()];
  const errors = all.filter((r) => r.errors > 0).map((r) => `${r.label}: ${r.errors}`);
  if (errors.length) notes.push(`workers errors (non-2xx or broken connections): ${errors.join(', ')}`);
  return { figures, notes, raw: { workers: { keepalive: keepalive.all, close: close.all } } };
}
