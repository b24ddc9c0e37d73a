// Starts hopwatch in-process on ephemeral loopback ports and captures its log lines.
import { Writable } from 'node:stream';
import { validateConfig } from '../../src/config/load.ts';
import { startHopwatch, type Hopwatch, type StartOptions } from '../../src/server.ts';

const LOG_WAIT_MS = 5_000;

export type LogLine = Record<string, unknown> & { msg?: string; id?: string; code?: string };

export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  private waiters: Array<{ predicate: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  private partial = '';

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.partial += chunk.toString('utf8');
    let nl;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const text = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      const line = JSON.parse(text) as LogLine; // every line must be one JSON object
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.predicate(line)) return true;
        w.resolve(line);
        return false;
      });
    }
    done();
  }

  /** Resolves with the first line (already written or future) matching `predicate`. */
  waitFor(predicate: (l: LogLine) => boolean, what = 'a matching log line', from = 0, timeoutMs = LOG_WAIT_MS): Promise<LogLine> {
    const found = this.lines.slice(from).find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      // A missing line must fail the test, not hang it.
      const timer = setTimeout(() => {
        const recent = this.lines.slice(-3).map((l) => JSON.stringify(l)).join('\n');
        reject(new Error(`no ${what} within ${timeoutMs} ms; last lines:\n${recent}`));
      }, timeoutMs);
      this.waiters.push({
        predicate,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** The access-log line of the exchange with this request id. */
  exchange(id: string | string[] | undefined): Promise<LogLine> {
    if (typeof id !== 'string') return Promise.reject(new Error(`no request id to look up (got ${String(id)})`));
    return this.waitFor((l) => l.msg === 'exchange' && l.id === id, `exchange line with id ${id}`);
  }

  /** The first access-log line from index `since` on that matches `predicate`. */
  nextExchange(since = this.lines.length, predicate: (l: LogLine) => boolean = () => true): Promise<LogLine> {
    const check = (l: LogLine) => l.msg === 'exchange' && predicate(l);
    return this.waitFor(check, 'matching exchange line', since);
  }
}

export interface TestProxy {
  hopwatch: Hopwatch;
  logs: LogCapture;
  /** http://127.0.0.1:PORT of the proxy listener. */
  url: string;
  port: number;
  /** The SOCKS5 listener's port, when `socks.enabled`. */
  socksPort: number | undefined;
  adminUrl: string;
  close(): Promise<void>;
}

/** `config` is merged over test defaults: ephemeral loopback ports, short timeouts. */
export async function startProxy(config: Record<string, unknown> = {}, extra: Omit<StartOptions, 'config'> = {}): Promise<TestProxy> {
  const base: Record<string, Record<string, unknown>> = {
    http: { port: 0 },
    admin: { port: 0 },
    timeouts: { dnsMs: 2000, connectMs: 2000, tlsMs: 2000, responseMs: 2000, idleMs: 5000 },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(config)) {
    merged[key] = value && typeof value === 'object' && !Array.isArray(value) && base[key] ? { ...base[key], ...value } : value;
  }
  const logs = new LogCapture();
  // Tests close proxies with tunnels still open: cut them at once unless a test asks for a grace.
  const hopwatch = await startHopwatch({ graceMs: 0, ...extra, config: validateConfig(merged), logDestination: logs });
  const port = hopwatch.addresses.http!.port;
  return {
    hopwatch,
    logs,
    url: `http://127.0.0.1:${port}`,
    port,
    socksPort: hopwatch.addresses.socks?.port,
    adminUrl: `http://127.0.0.1:${hopwatch.addresses.admin?.port}`,
    close: () => hopwatch.close(),
  };
}
