// Waiting for the child to go quiet after traffic: idle keep-alive connections, pooled upstream
// sockets and lingering SOCKS refusals close on their own timers, so resources are compared only
// once those timers had their chance, and the wait is bounded so a real leak still fails.
import { setTimeout as sleep } from 'node:timers/promises';
import { scrapeMetrics, sumOf } from './admin.ts';
import { fdCount, rssBytes } from './proc.ts';

export interface Resources {
  rss: number;
  fds: number;
  /** hopwatch_connections_active over every listener. */
  connections: number;
}

export async function resources(pid: number, adminPort: number): Promise<Resources> {
  // /proc first: the scrape's own connection must not be counted among the child's descriptors.
  const rss = rssBytes(pid);
  const fds = fdCount(pid);
  const samples = await scrapeMetrics(adminPort);
  return { rss, fds, connections: sumOf(samples, 'hopwatch_connections_active') };
}

/**
 * Polls until `settled` holds (and no client connection is open), or `timeoutMs` passes;
 * resolves with the last reading and how long it took.
 */
export async function settle(
  pid: number,
  adminPort: number,
  settled: (r: Resources) => boolean,
  timeoutMs: number,
  intervalMs = 250,
): Promise<{ last: Resources; ms: number; settled: boolean }> {
  const started = performance.now();
  for (;;) {
    const last = await resources(pid, adminPort);
    const ms = Math.round(performance.now() - started);
    if (last.connections === 0 && settled(last)) return { last, ms, settled: true };
    if (ms >= timeoutMs) return { last, ms, settled: false };
    await sleep(intervalMs);
  }
}

/**
 * Polls until no client connection is open and no descriptor has closed for `quietMs` (pooled
 * upstream sockets and lingering refusals close on their own timers), bounded by `timeoutMs`.
 */
export function settleQuiet(pid: number, adminPort: number, quietMs: number, timeoutMs: number): Promise<{ last: Resources; ms: number; settled: boolean }> {
  let lastFds = Infinity;
  let quietSince = performance.now();
  return settle(pid, adminPort, (r) => {
    if (r.fds < lastFds) quietSince = performance.now();
    lastFds = r.fds;
    return performance.now() - quietSince >= quietMs;
  }, timeoutMs);
}
