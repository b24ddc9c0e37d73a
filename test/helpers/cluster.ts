// Runs the real CLI (`hopwatch serve`) as its own process, for what only a real process has:
// signals, node:cluster workers, exit codes. Its stdout is parsed line by line as JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogCapture, type LogLine } from './proxy.ts';

const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;
const STARTUP_WAIT_MS = 20_000;

export interface ServeProcess {
  child: ChildProcess;
  logs: LogCapture;
  /** The config file it was started with: rewrite it, then SIGHUP. */
  configFile: string;
  http: number;
  socks: number | undefined;
  admin: number;
  adminUrl: string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /**
   * Resolves with the primary's exit code once every process of it has gone: workers share its
   * stdout, so the pipe closes only when the last of them has exited.
   */
  gone: Promise<number | null>;
  /** The exchange lines (msg "exchange") seen so far. */
  exchanges(): LogLine[];
  /** Resolves once `count` exchange lines have been written in all. */
  exchangeCount(count: number): Promise<void>;
}

export function writeConfig(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'hopwatch-serve-')), 'config.yaml');
  writeFileSync(file, text);
  return file;
}

/** Starts `hopwatch serve --config` with `configText`; resolves at its "hopwatch listening" line. */
export async function serve(configText: string): Promise<ServeProcess> {
  const configFile = writeConfig(configText);
  // Only PATH: HOPWATCH_* variables in the test's own environment would become config overrides.
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  const logs = new LogCapture();
  child.stdout!.pipe(logs);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const gone = Promise.all([once(child, 'exit'), once(child.stdout!, 'close')]).then(([[code]]) => code as number | null);
  const early = gone.then((code) => {
    throw new Error(`hopwatch exited (${code}) before listening:\n${stderr}`);
  });
  early.catch(() => {}); // after listening, exiting is what tests ask for
  // Three processes loading the whole tree at once take a while on a busy test machine.
  const listening = await Promise.race([logs.waitFor((l) => l.msg === 'hopwatch listening', '"hopwatch listening"', 0, STARTUP_WAIT_MS), early]);
  const port = (s: unknown) => (s === undefined ? undefined : Number(String(s).split(':').at(-1)));
  const admin = port(listening.admin)!;
  const exchanges = () => logs.lines.filter((l) => l.msg === 'exchange');
  return {
    child,
    logs,
    configFile,
    http: port(listening.http)!,
    socks: port(listening.socks),
    admin,
    adminUrl: `http://127.0.0.1:${admin}`,
    stderr: () => stderr,
    gone,
    exchanges,
    exchangeCount: async (count) => {
      let seen = 0;
      await logs.waitFor((l) => l.msg === 'exchange' && ++seen >= count, `${count} exchange lines`);
    },
  };
}
