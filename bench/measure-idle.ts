// Memory with many idle CONNECT tunnels (bench/idle.ts to tcp-origin's SILENT listener): the
// RSS of the bare CONNECT relay and of hopwatch at rest and with the tunnels open. A tunnel
// takes two descriptors in the proxy (client and upstream sockets), so the proxy's descriptor
// limit caps how many can be open; when it is below what was asked, fewer are opened and the
// note says so and extrapolates from the per-tunnel cost.
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bench, Section } from './context.ts';
import { hopwatchYaml, progress } from './context.ts';
import type { IdleClosed, IdleOpened } from './idle.ts';
import { fdLimit, memory, startNode, withHopwatch, withProxy, type Started } from './procs.ts';

/** Descriptors a proxy holds besides its tunnels: listeners, log, epoll, V8's, some slack. */
const SPARE_FDS = 100;

export interface IdleRun {
  asked: number;
  opened: number;
  failed: number;
  firstError: string | undefined;
  /** Tunnels still open when memory was read. */
  alive: number;
  openSeconds: number;
  restRssMiB: number | undefined;
  rssMiB: number | undefined;
  peakRssMiB: number | undefined;
  fdLimit: number | undefined;
  kibPerTunnel: number | undefined;
}

/** The next stdout line of the idle client, as JSON (it writes one per phase). */
async function nextJson<T>(lines: AsyncIterator<string>): Promise<T> {
  const next = await lines.next();
  if (next.done) throw new Error('the idle client exited early');
  return JSON.parse(next.value) as T;
}

async function holdIdle(bench: Bench, proxy: Started, proxyPort: number, asked: number): Promise<IdleRun> {
  await sleep(1000); // start-up garbage collected and the heap settled
  const rest = memory(proxy.child.pid);
  const limit = fdLimit(proxy.child.pid);
  const count = limit === undefined ? asked : Math.min(asked, Math.floor((limit - SPARE_FDS) / 2));
  const client = startNode('idle client', bench.where.load, 'bench/idle.ts', [
    '--via', 'connect', '--proxy-port', String(proxyPort), '--target-port', String(bench.ports.silent), '--count', String(count),
  ], { stdout: 'pipe', stdin: 'pipe', raiseFdLimit: true });
  const lines = createInterface({ input: client.child.stdout! })[Symbol.asyncIterator]();
  try {
    const opened = await nextJson<IdleOpened>(lines);
    await sleep(2000); // let the proxy's allocations from the opening burst settle
    const held = memory(proxy.child.pid);
    client.child.stdin?.end();
    const { alive } = await nextJson<IdleClosed>(lines);
    const kibPerTunnel = rest && held && alive ? ((held.rssMiB - rest.rssMiB) * 1024) / alive : undefined;
    return {
      asked, opened: opened.opened, failed: opened.failed, firstError: opened.firstError, alive, openSeconds: opened.seconds,
      restRssMiB: rest?.rssMiB, rssMiB: held?.rssMiB, peakRssMiB: held?.peakMiB, fdLimit: limit, kibPerTunnel,
    };
  } finally {
    client.child.kill('SIGTERM');
  }
}

export async function measureIdle(bench: Bench): Promise<Section> {
  const { ports, where, options } = bench;
  const asked = options.idleTunnels;
  progress(`idle tunnels: bare CONNECT relay, ${asked} …`);
  const bareProxy = startNode('bare CONNECT relay', where.proxy, 'bench/bare-connect.ts', [String(ports.bare)], { raiseFdLimit: true });
  const bare = await withProxy(bareProxy, ports.bare, (p) => holdIdle(bench, p, ports.bare, asked));
  progress(`idle tunnels: hopwatch, ${asked} …`);
  // The default limits (10,000 connections, 1,000 per client address) would refuse most of
  // these tunnels, which all come from 127.0.0.1; memory per tunnel is the question here.
  const limits = `limits:\n  maxConnections: ${asked + 1000}\n  maxConnectionsPerClient: ${asked + 1000}\n`;
  const hopPorts = { http: ports.hopHttp, socks: ports.hopSocks, admin: ports.admin };
  const hop = await withHopwatch(hopPorts, where.proxy, bench.dir, { extraYaml: hopwatchYaml(bench, limits), raiseFdLimit: true }, (p) =>
    holdIdle(bench, p, ports.hopHttp, asked));
  const h = hop.value;
  const notes = [
    `idle tunnels: hopwatch RSS ${h.restRssMiB?.toFixed(1)} MiB at rest, ${h.kibPerTunnel?.toFixed(1)} KiB per open tunnel ` +
      `(bare relay ${bare.restRssMiB?.toFixed(1)} MiB, ${bare.kibPerTunnel?.toFixed(1)} KiB); opened in ${h.openSeconds.toFixed(1)} s; ` +
      `hopwatch ran with limits.maxConnections and maxConnectionsPerClient raised to ${asked + 1000}`,
  ];
  for (const [who, run] of [['bare relay', bare], ['hopwatch', h]] as const) {
    if (run.alive < asked) {
      const why = run.opened < asked && run.failed === 0
        ? `its descriptor limit is ${run.fdLimit} (raised to the hard limit; more needs CAP_SYS_RESOURCE) and a tunnel takes two`
        : `${run.failed} failed (${run.firstError ?? 'closed early'}), ${run.opened - run.alive} closed before memory was read`;
      const extrapolated = run.restRssMiB !== undefined && run.kibPerTunnel !== undefined ? run.restRssMiB + (run.kibPerTunnel * asked) / 1024 : undefined;
      notes.push(`${who}: only ${run.alive} of ${asked} idle tunnels were open: ${why}; at ${asked}, by the per-tunnel cost, RSS would be ~${extrapolated?.toFixed(0)} MiB`);
    }
  }
  return {
    figures: [
      { name: `RSS, ${h.alive} idle tunnels`, unit: 'MiB', direct: undefined, baseline: bare.rssMiB, hopwatch: h.rssMiB, baselineName: 'bare CONNECT relay', higherIsBetter: false },
      { name: 'RSS per idle tunnel', unit: 'KiB', direct: undefined, baseline: bare.kibPerTunnel, hopwatch: h.kibPerTunnel, baselineName: 'bare CONNECT relay', higherIsBetter: false },
    ],
    notes,
    raw: { idle: { bare, hopwatch: h } },
  };
}
