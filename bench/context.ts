// What bench/run.ts hands every measurement (bench/measure-*.ts), and what each hands back.
import type { OriginKind, Placement, Started } from './procs.ts';

export interface BenchOptions {
  quick: boolean;
  /** Measured seconds and warm-up seconds of each rate run (req/s, sessions/s). */
  durationS: number;
  warmupS: number;
  /** Concurrent connections (HTTP) and sessions (tunnels) of the rate runs. */
  connections: number;
  /** Bytes per bulk transfer, and transfers per target (the median counts). */
  bulkBytes: number;
  bulkRepeats: number;
  idleTunnels: number;
  origin: OriginKind;
}

export interface Ports {
  httpOrigin: number;
  echo: number;
  bulk: number;
  silent: number;
  /** Whichever bare baseline runs at the moment: they never run together. */
  bare: number;
  hopHttp: number;
  hopSocks: number;
  admin: number;
}

export interface Bench {
  options: BenchOptions;
  where: Placement;
  ports: Ports;
  /** Scratch directory for configs and logs, removed at the end. */
  dir: string;
  httpOrigin: Started;
  tcpOrigin: Started;
}

/** One row of the table: a figure for each target, where it has one. */
export interface Figure {
  name: string;
  unit: string;
  direct: number | undefined;
  baseline: number | undefined;
  hopwatch: number | undefined;
  /** Which bare process the baseline column is. */
  baselineName: string;
  /** req/s and MB/s are better higher; latencies and memory lower. */
  higherIsBetter: boolean;
}

export interface Section {
  figures: Figure[];
  /** Printed under the table. */
  notes: string[];
  /** Everything measured, for bench/results/latest.json. */
  raw: Record<string, unknown>;
}

export function progress(message: string): void {
  process.stderr.write(`  ${message}\n`);
}

/**
 * The tunnel benchmarks reach the TCP origin's ephemeral ports; they are named explicitly so
 * the run does not depend on allowPorts' default covering them.
 */
export function hopwatchYaml(bench: Bench, extra = ''): string {
  const { echo, bulk, silent } = bench.ports;
  return `access:\n  allowPorts: ["${echo}", "${bulk}", "${silent}"]\n${extra}`;
}
