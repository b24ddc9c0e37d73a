// New tunnels per second: each session connects, opens a tunnel (CONNECT and its 200, or the
// SOCKS5 greeting, request and reply; nothing for direct), sends 100 bytes to the echo origin,
// reads them back, half-closes and waits for the close. `concurrency` sessions run at once,
// each starting the next as soon as it ends.
//
// Usage: node bench/sessions.ts --via direct|connect|socks --proxy-port P --target-port T
//        [--concurrency 50] [--duration 10] [--warmup 2]
// Prints "window start" / "window end" as the measured window opens and closes, then one JSON
// SessionsResult line.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { closed, exactly, openTunnel, parseVia, readMessage, type Via } from './tunnel-client.ts';

export interface SessionsResult {
  via: Via;
  /** Sessions that completed inside the window. */
  sessions: number;
  /** Sessions that failed inside the window. */
  errors: number;
  firstError: string | undefined;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** The generator's own CPU over the window, % of one core. */
  cpuPercent: number;
}

const PAYLOAD = Buffer.alloc(100, 'p');

async function session(via: Via, proxyPort: number, targetPort: number): Promise<void> {
  const socket = await openTunnel(via, proxyPort, targetPort);
  try {
    socket.write(PAYLOAD);
    await readMessage(socket, exactly(PAYLOAD.length));
    socket.resume(); // the echo's end (and close) must be read to be seen
    socket.end();
    await closed(socket);
  } finally {
    socket.destroy();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : 0;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      via: { type: 'string' },
      'proxy-port': { type: 'string', default: '0' },
      'target-port': { type: 'string' },
      concurrency: { type: 'string', default: '50' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
    },
  });
  const via = parseVia(values.via);
  const proxyPort = Number(values['proxy-port']);
  const targetPort = Number(values['target-port']);
  const durationS = Number(values.duration);
  const start = performance.now();
  const from = start + Number(values.warmup) * 1000;
  const to = from + durationS * 1000;
  const latencies: number[] = [];
  let errors = 0;
  let failures = 0;
  let firstError: string | undefined;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    process.stdout.write('window start\n');
  }, from - start);
  setTimeout(() => {
    cpu = process.cpuUsage(cpuAtStart);
    process.stdout.write('window end\n');
  }, to - start);

  const worker = async () => {
    while (performance.now() < to) {
      const began = performance.now();
      try {
        await session(via, proxyPort, targetPort);
        const now = performance.now();
        if (now >= from && now <= to) latencies.push(now - began);
      } catch (err) {
        failures++;
        const now = performance.now();
        if (now >= from && now <= to) errors++;
        firstError ??= (err as Error).message;
        // Nothing working at all (a wrong port, a proxy that refuses): stop, don't spin.
        if (latencies.length === 0 && failures > 1000) throw new Error(`every session fails: ${firstError}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
  latencies.sort((a, b) => a - b);
  const used = cpu ?? process.cpuUsage(cpuAtStart);
  const result: SessionsResult = {
    via,
    sessions: latencies.length,
    errors,
    firstError,
    seconds: durationS,
    perSecond: latencies.length / durationS,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuPercent: ((used.user + used.system) / 1000 / (durationS * 1000)) * 100,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
