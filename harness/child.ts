// hopwatch as a separate process, the way it runs in production (`serve --config FILE`), so a
// crash, a leak or a stray write to stderr shows up as what it is instead of failing the tool
// that drives it. Every stdout line is parsed as it arrives: a log line that is not one JSON
// object is a defect the tools report, and the lines' codes say what the child recorded.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { LAUNCHER, launcherNodeFlags } from './launcher.ts';

const GC_PRELOAD = fileURLToPath(new URL('./gc-preload.ts', import.meta.url));
/** How long one forced collection is given before memory is read. */
const GC_WAIT_MS = 1_000;
const START_WAIT_MS = 15_000;
/** Examples of bad stdout lines kept for the report; the count is kept in full. */
const KEEP_BAD_LINES = 5;

export interface ChildPorts {
  http: number;
  socks: number;
  admin: number;
}

export interface ChildLogStats {
  lines: number;
  /** Lines that were not one JSON object; the first few are kept in `badExamples`. */
  bad: number;
  badExamples: string[];
  /** `code` of every exchange line, counted. */
  codes: Map<string, number>;
  /** Log lines at level error (50) or above. */
  errors: string[];
}

export class HopwatchChild {
  readonly process: ChildProcess;
  readonly pid: number;
  readonly ports: ChildPorts;
  readonly logs: ChildLogStats;
  private readonly stderrChunks: Buffer[];
  private readonly dir: string;
  private readonly exited: Promise<void>;

  private constructor(child: ChildProcess, ports: ChildPorts, logs: ChildLogStats, stderr: Buffer[], dir: string) {
    this.process = child;
    this.pid = child.pid ?? 0;
    this.ports = ports;
    this.logs = logs;
    this.stderrChunks = stderr;
    this.dir = dir;
    this.exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit').then(() => undefined);
  }

  /**
   * Writes `config` to a temporary YAML file and runs `hopwatch serve` on it until it listens,
   * with gc-preload.ts loaded so that collectGarbage() can be asked for.
   */
  static async start(config: Record<string, unknown>): Promise<HopwatchChild> {
    const dir = mkdtempSync(join(tmpdir(), 'hopwatch-harness-'));
    const file = join(dir, 'hopwatch.yaml');
    writeFileSync(file, stringify(config));
    // Started as users start it (src/main.js and its shebang's node flags), so memory figures
    // are the ones they get. Only PATH: HOPWATCH_* variables of whoever runs the tool would
    // override the config.
    const args = [...launcherNodeFlags(), '--expose-gc', '--import', GC_PRELOAD, LAUNCHER, 'serve', '--config', file];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH },
    });
    // Whatever way the tool ends, it does not leave a proxy running behind it.
    process.once('exit', () => child.kill('SIGKILL'));
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    const logs: ChildLogStats = { lines: 0, bad: 0, badExamples: [], codes: new Map(), errors: [] };
    const ports = await new Promise<ChildPorts>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`hopwatch did not listen within ${START_WAIT_MS} ms: ${Buffer.concat(stderr).toString()}`)), START_WAIT_MS);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`hopwatch exited at start (${code ?? signal}): ${Buffer.concat(stderr).toString()}`));
      });
      readLines(child, logs, (line) => {
        if (line.msg !== 'hopwatch listening') return;
        clearTimeout(timer);
        const port = (s: unknown) => Number(String(s).split(':').at(-1));
        resolve({ http: port(line.http), socks: port(line.socks), admin: port(line.admin) });
      });
    });
    return new HopwatchChild(child, ports, logs, stderr, dir);
  }

  get alive(): boolean {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return false;
    try {
      process.kill(this.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Full collections in the child (see gc-preload.ts); resolves once they had time to finish. */
  async collectGarbage(): Promise<void> {
    if (!this.alive) return;
    this.process.kill('SIGUSR2');
    await new Promise((resolve) => setTimeout(resolve, GC_WAIT_MS));
  }

  /** Everything the child wrote to stderr (nothing, for a healthy run). */
  get stderr(): string {
    return Buffer.concat(this.stderrChunks).toString('utf8');
  }

  /** SIGTERM, then SIGKILL if it has not exited within `waitMs`; resolves with how it ended. */
  async stop(waitMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) {
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), waitMs);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
    return { code: this.process.exitCode, signal: this.process.signalCode };
  }
}

/** Splits stdout into lines, checks each is one JSON object, counts codes, passes objects on. */
function readLines(child: ChildProcess, stats: ChildLogStats, onLine: (line: Record<string, unknown>) => void): void {
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    partial += text;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      stats.lines++;
      const line = parseObject(text);
      if (!line) {
        stats.bad++;
        if (stats.badExamples.length < KEEP_BAD_LINES) stats.badExamples.push(text.slice(0, 500));
        continue;
      }
      if (line.msg === 'exchange' && typeof line.code === 'string') stats.codes.set(line.code, (stats.codes.get(line.code) ?? 0) + 1);
      if (typeof line.level === 'number' && line.level >= 50 && stats.errors.length < KEEP_BAD_LINES) stats.errors.push(text.slice(0, 2000));
      onLine(line);
    }
  });
  child.stdout!.on('end', () => {
    // A last line without its newline is still a line, and a broken one.
    if (!partial) return;
    stats.lines++;
    stats.bad++;
    if (stats.badExamples.length < KEEP_BAD_LINES) stats.badExamples.push(partial.slice(0, 500));
  });
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
