// Samples of the child while the soak runs: RSS and open descriptors from /proc, heap and
// active handles from its own /metrics, and how much traffic it has finished. Growth is judged
// after a warm-up (JIT, pools and buffers reach their working size first) from the mean of a
// few samples at each end, so one GC pause does not decide the verdict.
import { scrapeMetrics, sumOf } from '../harness/admin.ts';
import { fdCount, mb, rssBytes } from '../harness/proc.ts';

export interface SoakSample {
  /** Seconds since traffic started. */
  t: number;
  rss: number;
  heap: number;
  /** The V8 heap as committed (what it holds from the system, used or not): RSS minus this is the rest. */
  heapTotal: number;
  fds: number;
  handles: number;
  connections: number;
  requests: number;
}

export async function takeSample(pid: number, adminPort: number, startedAt: number): Promise<SoakSample> {
  const rss = rssBytes(pid);
  const fds = fdCount(pid);
  const samples = await scrapeMetrics(adminPort);
  return {
    t: (performance.now() - startedAt) / 1000,
    rss,
    heap: sumOf(samples, 'nodejs_heap_size_used_bytes'),
    heapTotal: sumOf(samples, 'nodejs_heap_size_total_bytes'),
    fds,
    handles: sumOf(samples, 'nodejs_active_handles'),
    connections: sumOf(samples, 'hopwatch_connections_active'),
    requests: sumOf(samples, 'hopwatch_requests_total'),
  };
}

export function formatTable(samples: readonly SoakSample[]): string {
  const header = '     t s   RSS MB  heap MB  V8 total MB   fds  handles  conns  requests';
  const rows = samples.map((s) =>
    [
      s.t.toFixed(1).padStart(8),
      mb(s.rss).padStart(8),
      mb(s.heap).padStart(8),
      mb(s.heapTotal).padStart(12),
      String(s.fds).padStart(5),
      String(s.handles).padStart(8),
      String(s.connections).padStart(6),
      String(s.requests).padStart(9),
    ].join(' '));
  return [header, ...rows].join('\n');
}

export interface Growth {
  /** Mean RSS of the first samples after warm-up, and of the last ones. */
  from: number;
  to: number;
  percent: number;
  /** How many samples each mean took. */
  window: number;
  warmupSeconds: number;
}

/** RSS growth over the traffic samples after the first `warmupShare` of the run. */
export function rssGrowth(samples: readonly SoakSample[], trafficSeconds: number, warmupShare = 0.2): Growth {
  const warmupSeconds = trafficSeconds * warmupShare;
  const after = samples.filter((s) => s.t >= warmupSeconds);
  const used = after.length ? after : samples.slice(-1);
  const window = Math.max(1, Math.min(3, Math.floor(used.length / 3)));
  const mean = (xs: readonly SoakSample[]) => xs.reduce((sum, s) => sum + s.rss, 0) / xs.length;
  const from = mean(used.slice(0, window));
  const to = mean(used.slice(-window));
  return { from, to, percent: ((to - from) / from) * 100, window, warmupSeconds };
}
