// A deliberately cheap HTTP/1.1 load generator: N raw TCP connections, each sending one
// pre-built request at a time and reading Content-Length-framed responses. No HTTP client
// library, so nearly all of the client's CPU goes to the kernel and the measured server, and
// the proxy under test (not the generator) is what saturates.
// --mode keepalive (the default) sends every request of a connection on the same socket;
// --mode close sends `Connection: close` and opens a new connection for every request, so the
// latency then includes the TCP handshake.
//
// Usage: node bench/load.ts --port P --target URL --host-header H [--connections 50]
//        [--duration 10] [--warmup 2] [--mode keepalive|close]
// Prints "window start" and "window end" lines on stdout as the measured window opens and
// closes (so a parent can sample other processes' CPU over exactly that window), then one JSON
// LoadResult line.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

export type LoadMode = 'keepalive' | 'close';

export interface LoadResult {
  /** Completed responses whose completion fell inside the measured window. */
  requests: number;
  /** Non-2xx responses and broken connections inside the window. */
  errors: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** The generator's own CPU over the window, in percent of one core. */
  cpuPercent: number;
}

/** A growable Float64Array: a few hundred thousand latencies without boxing each number. */
class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

export interface LoadOptions {
  port: number;
  host: string;
  /** The request target: absolute-form for a proxy, origin-form for a server. */
  target: string;
  hostHeader: string;
  connections: number;
  durationS: number;
  warmupS: number;
  mode: LoadMode;
  /** Called as the measured window opens and closes. */
  onWindow?: (edge: 'start' | 'end') => void;
}

export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const close = options.mode === 'close';
  const connection = close ? 'Connection: close\r\n' : '';
  const request = Buffer.from(`GET ${options.target} HTTP/1.1\r\nHost: ${options.hostHeader}\r\nUser-Agent: hopwatch-bench\r\nAccept: */*\r\n${connection}\r\n`, 'latin1');
  const samples = new Samples();
  const started = performance.now();
  const measureFrom = started + options.warmupS * 1000;
  const measureTo = measureFrom + options.durationS * 1000;
  let errors = 0;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let open = 0;

  return new Promise<LoadResult>((resolve, reject) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(hardStop);
      const cpu = process.cpuUsage(cpuAtStart);
      for (const socket of sockets) socket.destroy();
      const sorted = samples.sorted();
      let sum = 0;
      for (const v of sorted) sum += v;
      resolve({
        requests: sorted.length,
        errors,
        seconds: options.durationS,
        rps: sorted.length / options.durationS,
        p50Ms: percentile(sorted, 50),
        p90Ms: percentile(sorted, 90),
        p99Ms: percentile(sorted, 99),
        maxMs: sorted.length ? sorted[sorted.length - 1]! : 0,
        meanMs: sorted.length ? sum / sorted.length : 0,
        cpuPercent: ((cpu.user + cpu.system) / 1000 / (options.durationS * 1000)) * 100,
      });
    };
    // Responses still in flight when the window closes are not waited for beyond this.
    const hardStop = setTimeout(finish, (options.warmupS + options.durationS) * 1000 + 5_000);
    setTimeout(() => {
      cpuAtStart = process.cpuUsage();
      options.onWindow?.('start');
    }, options.warmupS * 1000);
    setTimeout(() => options.onWindow?.('end'), (options.warmupS + options.durationS) * 1000);

    const sockets = new Set<net.Socket>();
    const connect = (attempt: number) => {
      const socket = net.connect({ host: options.host, port: options.port, noDelay: true });
      sockets.add(socket);
      open++;
      let pending: Buffer | undefined;
      // Closing mode times from the connect, so its latency includes the handshake.
      let sentAt = performance.now();
      let gotResponse = false;
      const send = () => {
        if (performance.now() >= measureTo) {
          socket.end();
          return;
        }
        if (!close) sentAt = performance.now();
        socket.write(request);
      };
      socket.once('connect', send);
      socket.on('data', (chunk: Buffer) => {
        let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
        pending = undefined;
        // Normally one response per chunk; the loop also copes with split or coalesced ones.
        for (;;) {
          const headerEnd = buf.indexOf(HEADER_END);
          if (headerEnd < 0) break;
          const head = buf.toString('latin1', 0, headerEnd);
          const length = CONTENT_LENGTH.exec(head);
          if (!length) {
            socket.destroy(new Error(`response without Content-Length: ${head.slice(0, 200)}`));
            return;
          }
          const total = headerEnd + 4 + Number(length[1]);
          if (buf.length < total) break;
          const now = performance.now();
          gotResponse = true;
          const status = Number(head.slice(9, 12));
          if (now >= measureFrom && now <= measureTo) {
            if (status >= 200 && status < 300) samples.push(now - sentAt);
            else errors++;
          }
          buf = buf.subarray(total);
          if (close) {
            // Done with this connection: the next request gets a new one (from 'close').
            socket.destroy();
            return;
          }
          send();
        }
        if (buf.length) pending = buf;
      });
      socket.on('error', (err) => {
        const now = performance.now();
        if (now >= measureFrom && now <= measureTo) errors++;
        // Refused before anything worked means a wrong port: stop instead of spinning.
        if (!gotResponse && attempt >= 3) {
          finished = true;
          for (const s of sockets) s.destroy();
          reject(err);
        }
      });
      socket.once('close', () => {
        sockets.delete(socket);
        open--;
        if (finished) return;
        // A server that closes a keep-alive connection mid-run gets a fresh one, as clients do.
        if (performance.now() < measureTo) connect(gotResponse ? 0 : attempt + 1);
        else if (open === 0) finish();
      });
    };
    for (let i = 0; i < options.connections; i++) connect(0);
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      target: { type: 'string', default: '/' },
      'host-header': { type: 'string' },
      connections: { type: 'string', default: '50' },
      mode: { type: 'string', default: 'keepalive' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
    },
  });
  const port = Number(values.port);
  if (!port) throw new Error('--port is required');
  if (values.mode !== 'keepalive' && values.mode !== 'close') throw new Error('--mode is keepalive or close');
  const result = await runLoad({
    host: values.host,
    port,
    target: values.target,
    hostHeader: values['host-header'] ?? `${values.host}:${port}`,
    connections: Number(values.connections),
    durationS: Number(values.duration),
    warmupS: Number(values.warmup),
    mode: values.mode,
    onWindow: (edge) => process.stdout.write(`window ${edge}\n`),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
