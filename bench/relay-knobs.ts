// Why is a Node relay slow at bulk data, and which knob helps? Runs bench/bare-relay.ts in each
// of its variants (pinned like the proxies of `npm run bench`) between bench/bulk.ts and the
// TCP origin, downloads and uploads through each, and prints MB/s and the relay's CPU; with
// --prof VARIANT it also runs that variant under --cpu-prof and prints where its time goes.
// Usage: node bench/relay-knobs.ts [--mib 256] [--repeats 3] [--prof pipe]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VARIANTS, type Variant } from './bare-relay.ts';
import type { BulkResult, Direction } from './bulk.ts';
import { formatSummary, newestProfile, summarise, type CpuProfile } from './profile-top.ts';
import { freePorts, placement, runClient, start, startNode, stop, waitForPort, withProxy, type Started } from './procs.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' }, repeats: { type: 'string', default: '3' }, prof: { type: 'string' } } });
const where = placement();
const [echo, bulk, silent, relayPort] = (await freePorts(4)) as [number, number, number, number];

async function transfer(direction: Direction, port: number, relay: Started | undefined): Promise<{ mbps: number; cpu: number | undefined }> {
  const args = ['--via', 'direct', '--target-port', String(port), '--direction', direction, '--bytes', String(Number(values.mib) * 2 ** 20), '--repeats', values.repeats];
  const run = await runClient<BulkResult>('bulk', where.load, 'bench/bulk.ts', args, [relay?.child.pid]);
  return { mbps: run.result.mbps, cpu: run.cpuPercent[0] };
}

const origin = startNode('tcp origin', where.origin, 'bench/tcp-origin.ts', [String(echo), String(bulk), String(silent)]);
const rows: string[][] = [];
try {
  await waitForPort(bulk, origin);
  const direct = { get: await transfer('get', bulk, undefined), put: await transfer('put', bulk, undefined) };
  rows.push(['direct', direct.get.mbps.toFixed(0), '-', direct.put.mbps.toFixed(0), '-', '-']);
  for (const variant of VARIANTS) {
    const relay = startNode(`relay ${variant}`, where.proxy, 'bench/bare-relay.ts', [String(relayPort), String(bulk), variant]);
    const [get, put] = await withProxy(relay, relayPort, async (r) => [await transfer('get', relayPort, r), await transfer('put', relayPort, r)] as const);
    // MB relayed per second of relay CPU: the efficiency, whatever share of a core it got.
    const perCpu = get.cpu ? (get.mbps / (get.cpu / 100)).toFixed(0) : '-';
    rows.push([variant, get.mbps.toFixed(0), `${get.cpu?.toFixed(0) ?? '?'}%`, put.mbps.toFixed(0), `${put.cpu?.toFixed(0) ?? '?'}%`, perCpu]);
  }
  const header = ['relay', 'download MB/s', 'relay cpu', 'upload MB/s', 'relay cpu', 'download MB per cpu-s'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  process.stdout.write(`${where.description}; ${values.mib} MiB × ${values.repeats}, median\n${[line(header), ...rows.map(line)].join('\n')}\n`);

  if (values.prof) {
    const variant = values.prof as Variant;
    const dir = mkdtempSync(join(tmpdir(), 'relay-prof-'));
    const profiled = start('relay (profiled)', where.proxy, process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, 'bench/bare-relay.ts', String(relayPort), String(bulk), variant]);
    await withProxy(profiled, relayPort, (r) => transfer('get', relayPort, r));
    const summary = summarise(JSON.parse(readFileSync(newestProfile(dir), 'utf8')) as CpuProfile, 12);
    process.stdout.write(`\n${variant} relay, downloading, under --cpu-prof:\n${formatSummary(summary)}\n`);
    rmSync(dir, { recursive: true, force: true });
  }
} finally {
  await stop(origin);
}
