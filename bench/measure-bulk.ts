// Bulk MB/s through one tunnel (bench/bulk.ts against tcp-origin's BULK listener), download and
// upload: direct, through the bare CONNECT and SOCKS relays, and through hopwatch's CONNECT and
// SOCKS5. Each proxy starts once and carries every transfer of its kind.
import type { Bench, Figure, Section } from './context.ts';
import { hopwatchYaml, progress } from './context.ts';
import type { BulkResult, Direction } from './bulk.ts';
import { runClient, startNode, withHopwatch, withProxy, type Started } from './procs.ts';
import type { Via } from './tunnel-client.ts';

export interface BulkRun extends BulkResult {
  /** The proxy's CPU over the transfers, % of one core (undefined for direct). */
  proxyCpuPercent: number | undefined;
}

const DIRECTIONS: Direction[] = ['get', 'put'];

async function transfer(bench: Bench, via: Via, direction: Direction, proxy: Started | undefined, proxyPort: number): Promise<BulkRun> {
  const { options, ports, where } = bench;
  const args = [
    '--via', via, '--proxy-port', String(proxyPort), '--target-port', String(ports.bulk),
    '--direction', direction, '--bytes', String(options.bulkBytes), '--repeats', String(options.bulkRepeats),
  ];
  const run = await runClient<BulkResult>('bulk', where.load, 'bench/bulk.ts', args, [proxy?.child.pid]);
  return { ...run.result, proxyCpuPercent: run.cpuPercent[0] };
}

/** Both directions through one proxy. */
async function both(bench: Bench, via: Via, proxy: Started | undefined, proxyPort: number): Promise<Record<Direction, BulkRun>> {
  return { get: await transfer(bench, via, 'get', proxy, proxyPort), put: await transfer(bench, via, 'put', proxy, proxyPort) };
}

export async function measureBulk(bench: Bench): Promise<Section> {
  const { ports, where } = bench;
  progress('bulk: direct …');
  const direct = await both(bench, 'direct', undefined, 0);
  progress('bulk: bare CONNECT relay …');
  const bareConnect = await withProxy(startNode('bare CONNECT relay', where.proxy, 'bench/bare-connect.ts', [String(ports.bare)]), ports.bare, (p) =>
    both(bench, 'connect', p, ports.bare));
  progress('bulk: bare SOCKS relay …');
  const bareSocks = await withProxy(startNode('bare SOCKS relay', where.proxy, 'bench/bare-socks.ts', [String(ports.bare)]), ports.bare, (p) =>
    both(bench, 'socks', p, ports.bare));
  progress('bulk: hopwatch …');
  const hopPorts = { http: ports.hopHttp, socks: ports.hopSocks, admin: ports.admin };
  const hop = await withHopwatch(hopPorts, where.proxy, bench.dir, { extraYaml: hopwatchYaml(bench) }, async (p) => ({
    connect: await both(bench, 'connect', p, ports.hopHttp),
    socks: await both(bench, 'socks', p, ports.hopSocks),
  }));
  const mib = (bench.options.bulkBytes / 2 ** 20).toFixed(0);
  const figures: Figure[] = [];
  for (const [via, bare, bareName] of [['connect', bareConnect, 'bare CONNECT relay'], ['socks', bareSocks, 'bare SOCKS relay']] as const) {
    for (const direction of DIRECTIONS) {
      figures.push({
        name: `bulk ${direction === 'get' ? 'download' : 'upload'} via ${via === 'connect' ? 'CONNECT' : 'SOCKS5'}`,
        unit: 'MB/s',
        direct: direct[direction].mbps,
        baseline: bare[direction].mbps,
        hopwatch: hop.value[via][direction].mbps,
        baselineName: bareName,
        higherIsBetter: true,
      });
    }
  }
  const cpu = (r: BulkRun) => (r.proxyCpuPercent === undefined ? '?' : `${r.proxyCpuPercent.toFixed(0)}%`);
  return {
    figures,
    notes: [
      `bulk: ${mib} MiB per transfer, median of ${bench.options.bulkRepeats}; proxy CPU while downloading: ` +
        `bare CONNECT ${cpu(bareConnect.get)}, hopwatch CONNECT ${cpu(hop.value.connect.get)}, bare SOCKS ${cpu(bareSocks.get)}, hopwatch SOCKS ${cpu(hop.value.socks.get)}`,
    ],
    raw: { bulk: { direct, bareConnect, bareSocks, hopwatch: hop.value } },
  };
}
