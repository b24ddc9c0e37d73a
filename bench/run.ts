// `npm run bench`: every performance figure of hopwatch in one run, each next to the same figure
// direct (no proxy) and through a bare Node baseline (bench/bare-*.ts), measured on the same
// machine at the same moment, so the ratios compare like with like.
//
// Every component is its own process: the HTTP origin (nginx when on PATH, bench/origin.ts
// otherwise), the TCP origin for tunnels (bench/tcp-origin.ts), the proxy under test and the
// load generator; with taskset the proxy gets a core of its own. hopwatch runs from src/main.js
// with config/default.yaml's logging (to a file) and metrics, SOCKS5 on, and the origin's ports
// allowed for tunnels; each measurement starts it afresh.
//
// Usage: npm run bench -- [--quick] [--only keepalive,close,connect,socks,bulk,idle,workers]
//        [--duration S] [--warmup S] [--connections N] [--bulk-mib N] [--idle N]
//        [--origin auto|node|nginx] [--out FILE]
// --quick: 1.5 s runs, 32 MiB transfers, 1,000 idle tunnels. Raw results: bench/results/latest.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Bench, BenchOptions, Figure, Ports, Section } from './context.ts';
import { measureBulk } from './measure-bulk.ts';
import { measureClose } from './measure-close.ts';
import { measureIdle } from './measure-idle.ts';
import { measureKeepalive } from './measure-keepalive.ts';
import { measureConnectRate, measureSocksRate } from './measure-tunnels.ts';
import { measureWorkers } from './measure-workers.ts';
import { ROOT, freePorts, onPath, placement, startHttpOrigin, startNode, stop, waitForPort } from './procs.ts';

const MEASURES: Record<string, (bench: Bench) => Promise<Section>> = {
  keepalive: measureKeepalive,
  close: measureClose,
  connect: measureConnectRate,
  socks: measureSocksRate,
  bulk: measureBulk,
  idle: measureIdle,
  workers: measureWorkers,
};

function readOptions(): { options: BenchOptions; only: string[]; out: string } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string', default: '50' },
      'bulk-mib': { type: 'string' },
      idle: { type: 'string' },
      origin: { type: 'string', default: 'auto' },
      out: { type: 'string', default: join(ROOT, 'bench/results/latest.json') },
    },
  });
  const quick = values.quick;
  const origin = values.origin === 'auto' ? (onPath('nginx') ? 'nginx' : 'node') : values.origin;
  if (origin !== 'node' && origin !== 'nginx') throw new Error('--origin is auto, node or nginx');
  const options: BenchOptions = {
    quick,
    durationS: Number(values.duration ?? (quick ? 1.5 : 10)),
    warmupS: Number(values.warmup ?? (quick ? 0.5 : 2)),
    connections: Number(values.connections),
    bulkBytes: Number(values['bulk-mib'] ?? (quick ? 32 : 256)) * 2 ** 20,
    bulkRepeats: 3,
    idleTunnels: Number(values.idle ?? (quick ? 1000 : 10_000)),
    origin,
  };
  for (const [name, value] of Object.entries(options)) {
    if (typeof value === 'number' && !(value > 0)) throw new Error(`${name} must be a positive number`);
  }
  const only = (values.only ?? Object.keys(MEASURES)).flatMap((o) => o.split(','));
  const unknown = only.filter((o) => !(o in MEASURES));
  if (unknown.length) throw new Error(`--only: unknown ${unknown.join(', ')}; known: ${Object.keys(MEASURES).join(', ')}`);
  return { options, only, out: resolve(values.out) };
}

// ---- output -----------------------------------------------------------------------------------

export interface FigureRow extends Figure {
  /** hopwatch / direct and hopwatch / baseline; undefined where a side is missing. */
  vsDirect: number | undefined;
  vsBaseline: number | undefined;
}

const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !b ? undefined : a / b);

function format(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function table(rows: FigureRow[]): string {
  const header = ['figure', 'direct', 'baseline', 'hopwatch', 'hopwatch/direct', 'hopwatch/baseline', 'baseline is'];
  const body = rows.map((r) => [
    `${r.name} (${r.unit})`,
    format(r.direct),
    format(r.baseline),
    format(r.hopwatch),
    r.vsDirect === undefined ? '-' : r.vsDirect.toFixed(2),
    r.vsBaseline === undefined ? '-' : r.vsBaseline.toFixed(2),
    r.baselineName,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const last = header.length - 1;
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === last ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { options, only, out } = readOptions();
  const where = placement();
  const startLoad = loadavg().map((v) => Number(v.toFixed(2)));
  const dir = mkdtempSync(join(tmpdir(), 'hopwatch-bench-'));
  const found = await freePorts(8);
  const [httpOrigin, echo, bulk, silent, bare, hopHttp, hopSocks, admin] = found as [number, number, number, number, number, number, number, number];
  const ports: Ports = { httpOrigin, echo, bulk, silent, bare, hopHttp, hopSocks, admin };
  process.stderr.write(
    `hopwatch bench: ${only.join(', ')}; ${options.warmupS} s warm-up + ${options.durationS} s per rate, ${options.connections} connections; ` +
      `origin ${options.origin}; node ${process.version}; ${where.description}\n`,
  );

  const httpOriginProcess = startHttpOrigin(options.origin, ports.httpOrigin, where.origin, dir);
  // The silent listener holds every idle tunnel's far end.
  const tcpOrigin = startNode('tcp origin', where.origin, 'bench/tcp-origin.ts', [String(echo), String(bulk), String(silent)], { raiseFdLimit: true });
  const sections: Record<string, Section> = {};
  try {
    await waitForPort(ports.httpOrigin, httpOriginProcess);
    await waitForPort(ports.echo, tcpOrigin);
    const bench: Bench = { options, where, ports, dir, httpOrigin: httpOriginProcess, tcpOrigin };
    for (const name of only) sections[name] = await MEASURES[name]!(bench);
  } finally {
    await stop(tcpOrigin);
    await stop(httpOriginProcess);
    rmSync(dir, { recursive: true, force: true });
  }

  const figures: FigureRow[] = Object.values(sections).flatMap((s) =>
    s.figures.map((f) => ({ ...f, vsDirect: ratio(f.hopwatch, f.direct), vsBaseline: ratio(f.hopwatch, f.baseline) })));
  const notes = Object.values(sections).flatMap((s) => s.notes);
  // A proxy that served nothing (a broken src/, say) shows as 0 in the table; say it plainly.
  const dead = figures.filter((f) => f.higherIsBetter && (f.hopwatch === 0 || f.baseline === 0)).map((f) => f.name);
  if (dead.length) notes.unshift(`NOTHING SERVED (0) in: ${dead.join(', ')}: see the proxy's log or run it by hand`);
  // Other work on a shared machine lowers every rate; the load averages say how much there was.
  const loadAverage = { start: startLoad, end: loadavg().map((v) => Number(v.toFixed(2))) };
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  process.stdout.write(
    `\n${command}\n${where.description}; origin ${options.origin}; node ${process.version}; ` +
      `load average ${loadAverage.start.join(' ')} at start, ${loadAverage.end.join(' ')} at end\n\n${table(figures)}\n\n`,
  );
  for (const note of notes) process.stdout.write(`- ${note}\n`);

  mkdirSync(dirname(out), { recursive: true });
  const raw = Object.assign({}, ...Object.values(sections).map((s) => s.raw)) as Record<string, unknown>;
  const record = { date: new Date().toISOString(), command, node: process.version, cpu: cpus()[0]?.model, placement: where, loadAverage, options, figures, notes, raw };
  writeFileSync(out, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`\nraw results: ${out}\n`);
}

await main();
