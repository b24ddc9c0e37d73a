// HTTP keep-alive throughput through hopwatch, against a bare node:http forwarder and a direct
// connection to the same origin, all measured in one run so the ratios compare like with like
// (same machine, same moment, same origin, same load generator).
//
// Every component is its own process, pinned to its own cores when taskset exists, so the
// proxy under test never competes with the load generator for a core. hopwatch runs from
// src/cli.ts with its default logging (one JSON line per request, to a file) and metrics on:
// that work is part of what a user pays for, so it is part of the measurement.
//
// Usage: npm run bench -- [--duration 10] [--warmup 2] [--connections 50] [--quick]
//        [--rounds 1] [--origin auto|node|nginx]
// With --rounds R every target is measured R times, interleaved (direct, bare, hopwatch, direct,
// …) so a burst of background load hits all of them; the table shows each target's median round.
// BENCH_PROF=1 adds one more hopwatch run under --cpu-prof and prints its top self time.
// Raw results: bench/results/latest.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, createReadStream } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { LoadResult } from './load.ts';
import { BODY } from './origin.ts';
import { formatSummary, newestProfile, summarise, type CpuProfile, type ProfileSummary } from './profile-top.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench/results');

interface Options {
  durationS: number;
  warmupS: number;
  connections: number;
  rounds: number;
  origin: 'node' | 'nginx';
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
  return { durationS, warmupS, connections, rounds, origin, profile: process.env.BENCH_PROF === '1' };
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

// ---- CPU placement ----------------------------------------------------------------------------

interface Placement {
  /** The proxy under test (or nothing, for direct). */
  proxy: string | undefined;
  origin: string | undefined;
  load: string | undefined;
  description: string;
}

/** The CPUs this process may run on (a container may allow fewer than the host has). */
function allowedCpus(): number[] {
  try {
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (list) {
      return list.split(',').flatMap((range) => {
        const [from, to = from] = range.split('-').map(Number) as [number, number?];
        return Array.from({ length: to - from + 1 }, (_, i) => from + i);
      });
    }
  } catch {
    // not Linux: fall through
  }
  return cpus().map((_, i) => i);
}

function placement(): Placement {
  const all = allowedCpus();
  if (!onPath('taskset') || all.length < 2) {
    return { proxy: undefined, origin: undefined, load: undefined, description: 'unpinned (no taskset or one CPU)' };
  }
  if (all.length === 2) {
    // Two cores: the proxy gets one to itself; origin and load generator share the other,
    // which is the same for every target, so the ratios stay fair.
    const [a, b] = all.map(String) as [string, string];
    return { proxy: b, origin: a, load: a, description: `proxy on cpu ${b}; origin + load generator on cpu ${a}` };
  }
  const [p, o, ...rest] = all.map(String) as [string, string, ...string[]];
  const load = rest.join(',');
  return { proxy: p, origin: o, load, description: `proxy on cpu ${p}; origin on cpu ${o}; load generator on cpu ${load}` };
}

// ---- processes --------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGTERM');
});

interface Started {
  child: ChildProcess;
  stderr: () => string;
}

function start(name: string, cpu: string | undefined, command: string, args: string[], stdout: 'ignore' | 'pipe' | number = 'ignore'): Started {
  // taskset execs the command, so the pid (and signals) are the command's own.
  const child = cpu ? spawn('taskset', ['-c', cpu, command, ...args], { stdio: ['ignore', stdout, 'pipe'], env: cleanEnv(), cwd: ROOT })
    : spawn(command, args, { stdio: ['ignore', stdout, 'pipe'], env: cleanEnv(), cwd: ROOT });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  child.once('exit', () => children.delete(child));
  child.once('error', (err) => {
    stderr += `\n${name}: ${err.message}`;
  });
  return { child, stderr: () => stderr };
}

/** The parent's HOPWATCH_* variables would silently change the config under test. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('HOPWATCH_') && key !== 'NODE_OPTIONS') env[key] = value;
  return env;
}

async function stop(started: Started): Promise<void> {
  const { child } = started;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Waits until `port` accepts connections; fails early with the child's stderr if it died. */
async function waitForPort(name: string, port: number, started: Started): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null) throw new Error(`${name} exited (${started.child.exitCode}) before listening:\n${started.stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${name} did not listen on ${port} within 15 s:\n${started.stderr()}`);
}

/**
 * Ports for the children. Port 0 cannot be used because a child's chosen port is not visible
 * from here, so bind port 0 ourselves, note what the kernel chose and release it. All are held
 * until every one is known, so no two come back equal.
 */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    ports.push(address.port);
    servers.push(server);
  }
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** utime + stime of a process and all its threads, in ms (Linux; undefined elsewhere). */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name, which may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // /proc reports clock ticks of USER_HZ, which the kernel ABI fixes at 100 per second.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** CPU busy time of the whole machine in ms (all cores), from /proc/stat; undefined elsewhere. */
function machineBusyMs(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal. Interrupt time is left out: loopback
    // traffic's softirq work is ours but not charged to our processes, so it would read as
    // someone else's. Steal (the hypervisor running other guests) is counted: it is noise too.
    const [user = 0, nice = 0, system = 0, , , , , steal = 0] = fields;
    return (user + nice + system + steal) * 10;
  } catch {
    return undefined;
  }
}

// ---- components -------------------------------------------------------------------------------

function startOrigin(kind: Options['origin'], port: number, cpu: string | undefined, dir: string): Started {
  if (kind === 'node') return start('origin', cpu, process.execPath, ['bench/origin.ts', String(port)]);
  // One process, no master: the pid we pin and sample is the one serving.
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${port};
    location / { default_type text/plain; return 200 "${BODY}"; }
  }
}
`);
  return start('nginx', cpu, 'nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'nginx-error.log')]);
}

function startBare(port: number, cpu: string | undefined): Started {
  return start('bare forwarder', cpu, process.execPath, ['bench/bare-forwarder.ts', String(port)]);
}

function startHopwatch(httpPort: number, adminPort: number, cpu: string | undefined, dir: string, logFd: number, nodeFlags: string[] = []): Started {
  const config = join(dir, 'hopwatch.yaml');
  // Only the ports differ from config/default.yaml: logging and metrics stay as shipped.
  writeFileSync(config, `http:\n  port: ${httpPort}\nadmin:\n  port: ${adminPort}\n`);
  return start('hopwatch', cpu, process.execPath, [...nodeFlags, 'src/cli.ts', 'serve', '--config', config], logFd);
}

function runLoad(
  cpu: string | undefined,
  port: number,
  target: string,
  originPort: number,
  options: Options,
  onWindow?: (edge: 'start' | 'end') => void,
): Promise<LoadResult> {
  const load = start('load generator', cpu, process.execPath, [
    'bench/load.ts',
    '--port', String(port),
    '--target', target,
    '--host-header', `127.0.0.1:${originPort}`,
    '--connections', String(options.connections),
    '--duration', String(options.durationS),
    '--warmup', String(options.warmupS),
  ], 'pipe');
  let stdout = '';
  let result: LoadResult | undefined;
  load.child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (let nl = stdout.indexOf('\n'); nl >= 0; nl = stdout.indexOf('\n')) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      if (line === 'window start') onWindow?.('start');
      else if (line === 'window end') onWindow?.('end');
      else if (line.startsWith('{')) result = JSON.parse(line) as LoadResult;
    }
  });
  return new Promise((resolve, reject) => {
    load.child.once('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`load generator failed (${code}):\n${load.stderr()}`));
    });
  });
}

// ---- one measurement --------------------------------------------------------------------------

type TargetName = 'direct' | 'bare forwarder' | 'hopwatch';

interface Measurement extends LoadResult {
  target: TargetName;
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
}

/** Runs the load generator and samples the proxy's and origin's CPU over the same window. */
async function measure(
  target: TargetName,
  proxy: Started | undefined,
  origin: Started,
  port: number,
  requestTarget: string,
  originPort: number,
  where: Placement,
  options: Options,
): Promise<Measurement> {
  let before: Array<number | undefined> = [];
  let after: Array<number | undefined> = [];
  const pids = [proxy?.child.pid, origin.child.pid];
  const sample = () => [...pids.map(cpuMs), machineBusyMs()];
  // Sampled when the generator says its window opens and closes, not on timers of our own,
  // which would be off by the generator's start-up time.
  const result = await runLoad(where.load, port, requestTarget, originPort, options, (edge) => {
    if (edge === 'start') before = sample();
    else after = sample();
  });
  const percent = (i: number) => {
    const a = before[i];
    const b = after[i];
    return a === undefined || b === undefined ? undefined : ((b - a) / (options.durationS * 1000)) * 100;
  };
  const machine = percent(2);
  const ours = (percent(0) ?? 0) + (percent(1) ?? 0) + result.cpuPercent;
  const otherCpuPercent = machine === undefined ? undefined : Math.max(0, machine - ours);
  const server = proxy ? percent(0) : percent(1);
  const cpuUsPerRequest = server === undefined || !result.rps ? undefined : (server / 100) * 1e6 / result.rps;
  return { target, ...result, proxyCpuPercent: percent(0), originCpuPercent: percent(1), otherCpuPercent, cpuUsPerRequest };
}

/** The ok-request count hopwatch's own /metrics reports: proves metrics were on and counting. */
async function scrapeOkRequests(adminPort: number): Promise<number | undefined> {
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

async function countLines(file: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) lines++;
  }
  return lines;
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
  rows.push(await measure('direct', undefined, origin, ports.origin, '/', ports.origin, where, options));

  process.stderr.write('  bare forwarder …\n');
  const bare = startBare(ports.bare, where.proxy);
  try {
    await waitForPort('bare forwarder', ports.bare, bare);
    rows.push(await measure('bare forwarder', bare, origin, ports.bare, absolute, ports.origin, where, options));
  } finally {
    await stop(bare);
  }

  process.stderr.write('  hopwatch …\n');
  const logFile = join(dir, 'hopwatch.log');
  const logFd = openSync(logFile, 'w');
  const hop = startHopwatch(ports.hopwatch, ports.admin, where.proxy, dir, logFd);
  closeSync(logFd); // the child holds its own copy
  try {
    await waitForPort('hopwatch', ports.hopwatch, hop);
    rows.push(await measure('hopwatch', hop, origin, ports.hopwatch, absolute, ports.origin, where, options));
    const metricsOkRequests = await scrapeOkRequests(ports.admin);
    await stop(hop); // flushes the log
    return { rows, facts: { logLines: await countLines(logFile), logBytes: statSync(logFile).size, metricsOkRequests } };
  } finally {
    await stop(hop);
    rmSync(logFile, { force: true });
  }
}

/** hopwatch once more, under --cpu-prof; kept out of the table since profiling slows it. */
interface ProfileRun {
  file: string;
  /** The profiled run's load, profiling overhead included: turns profile ms into µs per request. */
  load: LoadResult;
  summary: ProfileSummary;
}

async function runProfile(options: Options, where: Placement, ports: Ports, dir: string): Promise<ProfileRun> {
  process.stderr.write('  hopwatch under --cpu-prof (not in the table) …\n');
  const profDir = join(RESULTS, 'prof');
  mkdirSync(profDir, { recursive: true });
  const profLog = join(dir, 'hopwatch-prof.log');
  const fd = openSync(profLog, 'w');
  const profiled = startHopwatch(ports.hopwatch, ports.admin, where.proxy, dir, fd, ['--cpu-prof', '--cpu-prof-dir', profDir]);
  closeSync(fd);
  let load: LoadResult;
  try {
    await waitForPort('hopwatch (profiled)', ports.hopwatch, profiled);
    load = await runLoad(where.load, ports.hopwatch, `http://127.0.0.1:${ports.origin}/`, ports.origin, options);
  } finally {
    // The profile is written as the process exits, after SIGTERM's graceful close.
    await stop(profiled);
    rmSync(profLog, { force: true });
  }
  const file = newestProfile(profDir);
  return { file, load, summary: summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, 10) };
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

  const origin = startOrigin(options.origin, ports.origin, where.origin, dir);
  const rounds: Measurement[][] = [];
  let facts: HopwatchFacts | undefined;
  let profile: ProfileRun | undefined;
  try {
    await waitForPort('origin', ports.origin, origin);
    for (let r = 0; r < options.rounds; r++) {
      if (options.rounds > 1) process.stderr.write(`round ${r + 1}/${options.rounds}\n`);
      const round = await runRound(options, where, ports, origin, dir);
      rounds.push(round.rows);
      facts = round.facts;
    }
    if (options.profile) profile = await runProfile(options, where, ports, dir);
  } finally {
    await stop(origin);
    rmSync(dir, { recursive: true, force: true });
  }

  const targets: TargetName[] = ['direct', 'bare forwarder', 'hopwatch'];
  const rows = targets.map((t) => median(rounds.map((round) => round.find((m) => m.target === t)!)));
  const spread = targets.map((t) => {
    const all = rounds.map((round) => round.find((m) => m.target === t)!.rps);
    return { target: t, minRps: Math.min(...all), maxRps: Math.max(...all) };
  });
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
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
  const out = join(RESULTS, 'latest.json');
  const record = { date: new Date().toISOString(), command, node: process.version, cpu: cpus()[0]?.model, placement: where, options, results: rows, spread, rounds, hopwatch: facts, profile };
  writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`\nraw results: ${out}\n`);
}

await main();
