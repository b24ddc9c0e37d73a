// New tunnels per second (bench/sessions.ts): CONNECT against the bare CONNECT relay
// (bench/bare-connect.ts), SOCKS5 against the bare SOCKS relay (bench/bare-socks.ts), and
// hopwatch for both; "direct" is the same small exchange with the echo origin, no proxy.
import type { Bench, Section } from './context.ts';
import { hopwatchYaml, progress } from './context.ts';
import { runClient, startNode, withHopwatch, withProxy, type ClientRun, type Started } from './procs.ts';
import type { SessionsResult } from './sessions.ts';
import type { Via } from './tunnel-client.ts';

export interface SessionsRun extends SessionsResult {
  /** The proxy's CPU per session, µs (undefined for direct). */
  proxyCpuUsPerSession: number | undefined;
  proxyCpuPercent: number | undefined;
}

function sessions(bench: Bench, via: Via, proxy: Started | undefined, proxyPort: number): Promise<SessionsRun> {
  const { options, ports, where } = bench;
  const args = [
    '--via', via, '--proxy-port', String(proxyPort), '--target-port', String(ports.echo),
    '--concurrency', String(options.connections), '--duration', String(options.durationS), '--warmup', String(options.warmupS),
  ];
  return runClient<SessionsResult>('sessions', where.load, 'bench/sessions.ts', args, [proxy?.child.pid]).then((run: ClientRun<SessionsResult>) => {
    const [cpu] = run.cpuPercent;
    const perSession = cpu === undefined || !run.result.perSecond ? undefined : (cpu / 100) * 1e6 / run.result.perSecond;
    return { ...run.result, proxyCpuPercent: cpu, proxyCpuUsPerSession: perSession };
  });
}

async function measureTunnelRate(bench: Bench, via: 'connect' | 'socks'): Promise<Section> {
  const { ports, where } = bench;
  const label = via === 'connect' ? 'CONNECT' : 'SOCKS5';
  const bareName = via === 'connect' ? 'bare CONNECT relay' : 'bare SOCKS relay';
  progress(`${label} tunnels/s: direct …`);
  const direct = await sessions(bench, 'direct', undefined, 0);
  progress(`${label} tunnels/s: ${bareName} …`);
  const bareProxy = startNode(bareName, where.proxy, via === 'connect' ? 'bench/bare-connect.ts' : 'bench/bare-socks.ts', [String(ports.bare)]);
  const bare = await withProxy(bareProxy, ports.bare, (p) => sessions(bench, via, p, ports.bare));
  progress(`${label} tunnels/s: hopwatch …`);
  const hopPorts = { http: ports.hopHttp, socks: ports.hopSocks, admin: ports.admin };
  const hop = await withHopwatch(hopPorts, where.proxy, bench.dir, { extraYaml: hopwatchYaml(bench) }, (p) =>
    sessions(bench, via, p, via === 'connect' ? ports.hopHttp : ports.hopSocks));
  const name = via === 'connect' ? 'new CONNECT tunnels' : 'new SOCKS5 sessions';
  const named: Array<[string, SessionsRun]> = [['direct', direct], [bareName, bare], ['hopwatch', hop.value]];
  const errors = named.filter(([, r]) => r.errors > 0).map(([who, r]) => `${who}: ${r.errors} (${r.firstError})`);
  return {
    figures: [
      { name, unit: '/s', direct: direct.perSecond, baseline: bare.perSecond, hopwatch: hop.value.perSecond, baselineName: bareName, higherIsBetter: true },
      { name: `${name}, proxy CPU`, unit: 'µs each', direct: undefined, baseline: bare.proxyCpuUsPerSession, hopwatch: hop.value.proxyCpuUsPerSession, baselineName: bareName, higherIsBetter: false },
    ],
    notes: errors.length ? [`${name} errors: ${errors.join(', ')}`] : [],
    raw: { [via === 'connect' ? 'connectRate' : 'socksRate']: { direct, bare, hopwatch: hop.value, hopwatchLogLines: hop.logLines } },
  };
}

export const measureConnectRate = (bench: Bench) => measureTunnelRate(bench, 'connect');
export const measureSocksRate = (bench: Bench) => measureTunnelRate(bench, 'socks');
