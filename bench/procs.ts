// Process plumbing shared by the benchmarks: CPU placement, starting and stopping the children
// (origins, proxies, load generators), waiting for their ports, and reading their CPU and memory
// from /proc. Every component is its own process so the proxy under test never shares an event
// loop, and (with taskset) never a core, with the load generator.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BODY } from './origin.ts';
import { launcherNodeFlags } from '../harness/launcher.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

// ---- CPU placement ----------------------------------------------------------------------------

export interface Placement {
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

export function placement(): Placement {
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

export interface Started {
  name: string;
  child: ChildProcess;
  stderr: () => string;
}

export interface StartOptions {
  stdout?: 'ignore' | 'pipe' | number;
  stdin?: 'ignore' | 'pipe';
  /** Added to the cleaned environment. */
  env?: Record<string, string>;
  /**
   * Raise the soft limit on open descriptors to the hard limit first (through a shell's
   * `ulimit`, which then execs the command), for processes that hold thousands of sockets.
   */
  raiseFdLimit?: boolean;
}

export function start(name: string, cpu: string | undefined, command: string, args: string[], options: StartOptions = {}): Started {
  const stdio: ['ignore' | 'pipe', 'ignore' | 'pipe' | number, 'pipe'] = [options.stdin ?? 'ignore', options.stdout ?? 'ignore', 'pipe'];
  const env = { ...cleanEnv(), ...options.env };
  const argv = options.raiseFdLimit ? ['sh', '-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', command, ...args] : [command, ...args];
  // taskset and the shell exec the command, so the pid (and signals, and /proc) are the command's own.
  const full = cpu ? ['taskset', '-c', cpu, ...argv] : argv;
  const child = spawn(full[0]!, full.slice(1), { stdio, env, cwd: ROOT });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  child.once('exit', () => children.delete(child));
  child.once('error', (err) => {
    stderr += `\n${name}: ${err.message}`;
  });
  return { name, child, stderr: () => stderr };
}

/** A Node script of this repository, run with the same node as the bench. */
export function startNode(name: string, cpu: string | undefined, script: string, args: string[], options: StartOptions = {}): Started {
  return start(name, cpu, process.execPath, [script, ...args], options);
}

/** The parent's HOPWATCH_* variables would silently change the config under test. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('HOPWATCH_') && key !== 'NODE_OPTIONS') env[key] = value;
  return env;
}

export async function stop(started: Started): Promise<void> {
  const { child } = started;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Waits until `port` accepts connections; fails early with the child's stderr if it died. */
export async function waitForPort(port: number, started: Started): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null) throw new Error(`${started.name} exited (${started.child.exitCode}) before listening:\n${started.stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    // Nothing to wait on: the child announces nothing when it listens.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${started.name} did not listen on ${port} within 15 s:\n${started.stderr()}`);
}

/**
 * Ports for the children. Port 0 cannot be used because a child's chosen port is not visible
 * from here, so bind port 0 ourselves, note what the kernel chose and release it. All are held
 * until every one is known, so no two come back equal.
 */
export async function freePorts(count: number): Promise<number[]> {
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

// ---- /proc ------------------------------------------------------------------------------------

/** utime + stime of a process and all its threads, in ms (Linux; undefined elsewhere). */
export function cpuMs(pid: number | undefined): number | undefined {
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
export function machineBusyMs(): number | undefined {
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

export interface Memory {
  /** Resident set now, MiB. */
  rssMiB: number;
  /** Peak resident set over the process's life (VmHWM), MiB. */
  peakMiB: number;
}

export function memory(pid: number | undefined): Memory | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(status)?.[1]);
    return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** The soft limit on open descriptors of a process (what it can actually open). */
export function fdLimit(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
    const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

// ---- load generators --------------------------------------------------------------------------

export interface ClientRun<T> {
  result: T;
  /** Wall-clock length of the window the generator announced, in s. */
  seconds: number;
  /** CPU of each watched pid over the window, % of one core (undefined where /proc is not). */
  cpuPercent: Array<number | undefined>;
  /** Everything the machine ran over the window that is not a watched pid, % of one core. */
  machinePercent: number | undefined;
}

/**
 * Runs a load generator (a bench/ script that prints "window start", "window end" and then one
 * JSON line) and samples the CPU of `watch` over exactly the window it announces, not over
 * timers of our own, which would be off by the generator's start-up time.
 */
export function runClient<T>(name: string, cpu: string | undefined, script: string, args: string[], watch: Array<number | undefined>): Promise<ClientRun<T>> {
  const load = startNode(name, cpu, script, args, { stdout: 'pipe' });
  const sample = () => ({ at: performance.now(), pids: watch.map(cpuMs), machine: machineBusyMs() });
  let before: ReturnType<typeof sample> | undefined;
  let after: ReturnType<typeof sample> | undefined;
  let stdout = '';
  let result: T | undefined;
  load.child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (let nl = stdout.indexOf('\n'); nl >= 0; nl = stdout.indexOf('\n')) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      if (line === 'window start') before = sample();
      else if (line === 'window end') after = sample();
      else if (line.startsWith('{')) result = JSON.parse(line) as T;
    }
  });
  return new Promise((resolve, reject) => {
    load.child.once('exit', (code) => {
      if (code !== 0 || result === undefined) {
        reject(new Error(`${name} failed (${code}):\n${load.stderr()}`));
        return;
      }
      const ms = before && after ? after.at - before.at : 0;
      const percent = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !ms ? undefined : ((b - a) / ms) * 100);
      resolve({
        result,
        seconds: ms / 1000,
        cpuPercent: watch.map((_, i) => percent(before?.pids[i], after?.pids[i])),
        machinePercent: percent(before?.machine, after?.machine),
      });
    });
  });
}

// ---- the HTTP origin and hopwatch -------------------------------------------------------------

export type OriginKind = 'node' | 'nginx';

export function startHttpOrigin(kind: OriginKind, port: number, cpu: string | undefined, dir: string): Started {
  if (kind === 'node') return startNode('origin', cpu, 'bench/origin.ts', [String(port)]);
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

export interface HopwatchPorts {
  http: number;
  admin: number;
  /** SOCKS5 listener; off when absent. */
  socks?: number;
}

export interface HopwatchSettings {
  /** Extra YAML appended to the config (top-level keys not otherwise written). */
  extraYaml?: string;
  /** HOPWATCH_* overrides, e.g. { HOPWATCH_LOG__REQUESTS: 'false' }. */
  env?: Record<string, string>;
  nodeFlags?: string[];
  raiseFdLimit?: boolean;
}

/**
 * hopwatch from src/main.js with config/default.yaml's logging and metrics: only ports (and what
 * `extraYaml` says) differ. Its request log, which goes to stdout, is written to `logFd`.
 */
export function startHopwatch(ports: HopwatchPorts, cpu: string | undefined, dir: string, logFd: number | 'ignore', settings: HopwatchSettings = {}): Started {
  const config = join(dir, `hopwatch-${ports.http}.yaml`);
  const socks = ports.socks === undefined ? '' : `socks:\n  enabled: true\n  port: ${ports.socks}\n`;
  writeFileSync(config, `http:\n  port: ${ports.http}\n${socks}admin:\n  port: ${ports.admin}\n${settings.extraYaml ?? ''}`);
  // As users run it: src/main.js (compile cache, no TypeScript stripper in memory) with its
  // shebang's node flags.
  const args = [...launcherNodeFlags(), ...(settings.nodeFlags ?? []), 'src/main.js', 'serve', '--config', config];
  return start('hopwatch', cpu, process.execPath, args, { stdout: logFd, env: settings.env ?? {}, raiseFdLimit: settings.raiseFdLimit ?? false });
}

/** Waits for `proxy` to listen on `port`, runs `fn`, and stops the proxy whatever happens. */
export async function withProxy<T>(proxy: Started, port: number, fn: (proxy: Started) => Promise<T>): Promise<T> {
  try {
    await waitForPort(port, proxy);
    return await fn(proxy);
  } finally {
    await stop(proxy);
  }
}

export interface HopwatchRun<T> {
  value: T;
  /** What hopwatch wrote to stdout (its request log) over its life. */
  logLines: number;
  logBytes: number;
}

/** withProxy for hopwatch, with its log written to a file that is counted, then removed. */
export async function withHopwatch<T>(
  ports: HopwatchPorts,
  cpu: string | undefined,
  dir: string,
  settings: HopwatchSettings,
  fn: (hop: Started) => Promise<T>,
): Promise<HopwatchRun<T>> {
  const logFile = join(dir, `hopwatch-${ports.http}.log`);
  const fd = openSync(logFile, 'w');
  const hop = startHopwatch(ports, cpu, dir, fd, settings);
  closeSync(fd); // the child holds its own copy
  try {
    await waitForPort(ports.http, hop);
    if (ports.socks !== undefined) await waitForPort(ports.socks, hop);
    const value = await fn(hop);
    await stop(hop); // flushes the log
    return { value, logLines: await countLines(logFile), logBytes: statSync(logFile).size };
  } finally {
    await stop(hop);
    rmSync(logFile, { force: true });
  }
}

export async function countLines(file: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) lines++;
  }
  return lines;
}
