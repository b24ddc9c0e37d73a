// HTTP keep-alive: req/s, p50/p99 and the proxy's CPU per request, direct, through the bare
// node:http forwarder and through hopwatch; hopwatch's peak RSS under that load; and hopwatch
// again with request logging off (HOPWATCH_LOG__REQUESTS=false), so the table shows what a log
// line per request costs. Metrics cannot be turned off, so they are in both hopwatch runs.
// measureHttpTargets is shared with measure-close.ts.
import type { Bench, Figure, Section } from './context.ts';
import { hopwatchYaml, progress } from './context.ts';
import { measure, scrapeOkRequests, type LoadSettings, type Measurement } from './http-keepalive.ts';
import type { LoadMode } from './load.ts';
import { startNode, withHopwatch, withProxy, type HopwatchRun } from './procs.ts';

export interface HttpTargets {
  direct: Measurement;
  bare: Measurement;
  hopwatch: HopwatchRun<{ row: Measurement; metricsOkRequests: number | undefined }>;
}

/** Direct, bare forwarder and hopwatch (with `env`), each freshly started, under the same load. */
export async function measureHttpTargets(bench: Bench, mode: LoadMode, env: Record<string, string> = {}, label = 'hopwatch'): Promise<HttpTargets> {
  const { ports, where, options } = bench;
  const settings: LoadSettings = { durationS: options.durationS, warmupS: options.warmupS, connections: options.connections, mode };
  const absolute = `http://127.0.0.1:${ports.httpOrigin}/`;
  progress(`${mode}: direct …`);
  const direct = await measure('direct', undefined, bench.httpOrigin, ports.httpOrigin, '/', ports.httpOrigin, where.load, settings);
  progress(`${mode}: bare forwarder …`);
  const bareProxy = startNode('bare forwarder', where.proxy, 'bench/bare-forwarder.ts', [String(ports.bare)]);
  const bare = await withProxy(bareProxy, ports.bare, (p) => measure('bare forwarder', p, bench.httpOrigin, ports.bare, absolute, ports.httpOrigin, where.load, settings));
  const hopwatch = await measureHopwatch(bench, settings, env, label);
  return { direct, bare, hopwatch };
}

export function measureHopwatch(bench: Bench, settings: LoadSettings, env: Record<string, string>, label: string): Promise<HttpTargets['hopwatch']> {
  const { ports, where } = bench;
  progress(`${settings.mode}: ${label} …`);
  const hopPorts = { http: ports.hopHttp, socks: ports.hopSocks, admin: ports.admin };
  return withHopwatch(hopPorts, where.proxy, bench.dir, { extraYaml: hopwatchYaml(bench), env }, async (hop) => ({
    row: await measure(label, hop, bench.httpOrigin, ports.hopHttp, `http://127.0.0.1:${ports.httpOrigin}/`, ports.httpOrigin, where.load, settings),
    // Proves metrics were on and counting (warm-up included).
    metricsOkRequests: await scrapeOkRequests(ports.admin),
  }));
}

export async function measureKeepalive(bench: Bench): Promise<Section> {
  const { direct, bare, hopwatch } = await measureHttpTargets(bench, 'keepalive');
  const { options } = bench;
  const settings: LoadSettings = { durationS: options.durationS, warmupS: options.warmupS, connections: options.connections, mode: 'keepalive' };
  const quiet = await measureHopwatch(bench, settings, { HOPWATCH_LOG__REQUESTS: 'false' }, 'hopwatch, request log off');
  const hop = hopwatch.value.row;
  const off = quiet.value.row;
  const row = (name: string, unit: string, pick: (m: Measurement) => number | undefined, higherIsBetter: boolean, hopRow = hop, withDirect = true): Figure => ({
    name, unit, direct: withDirect ? pick(direct) : undefined, baseline: pick(bare), hopwatch: pick(hopRow), baselineName: 'bare forwarder', higherIsBetter,
  });
  const figures: Figure[] = [
    row('keep-alive', 'req/s', (m) => m.rps, true),
    row('keep-alive p50', 'ms', (m) => m.p50Ms, false),
    row('keep-alive p99', 'ms', (m) => m.p99Ms, false),
    // CPU per request is steadier than req/s on a shared machine; direct has no proxy to charge.
    row('keep-alive proxy CPU', 'µs/req', (m) => m.cpuUsPerRequest, false, hop, false),
    row('keep-alive, request log off', 'req/s', (m) => m.rps, true, off),
    row('keep-alive proxy CPU, log off', 'µs/req', (m) => m.cpuUsPerRequest, false, off, false),
    row('peak RSS under keep-alive', 'MiB', (m) => m.proxyPeakRssMiB, false, hop, false),
  ];
  const costPercent = off.rps ? (1 - hop.rps / off.rps) * 100 : undefined;
  const costUs = hop.cpuUsPerRequest !== undefined && off.cpuUsPerRequest !== undefined ? hop.cpuUsPerRequest - off.cpuUsPerRequest : undefined;
  const notes = [
    `request logging costs ${costPercent?.toFixed(1) ?? '?'} % of keep-alive req/s and ${costUs?.toFixed(1) ?? '?'} µs of proxy CPU per request ` +
      `(hopwatch with logging on vs off, metrics on in both: they have no switch)`,
    `hopwatch wrote ${hopwatch.logLines} log lines (${(hopwatch.logBytes / Math.max(1, hopwatch.logLines)).toFixed(0)} B each) and its /metrics ` +
      `counted ${hopwatch.value.metricsOkRequests ?? '?'} ok requests; with logging off: ${quiet.logLines} lines`,
  ];
  const errors = [direct, bare, hop, off].filter((m) => m.errors > 0).map((m) => `${m.target}: ${m.errors}`);
  if (errors.length) notes.push(`keep-alive errors (non-2xx or broken connections): ${errors.join(', ')}`);
  return {
    figures,
    notes,
    raw: { keepalive: { direct, bare, hopwatch: hop, hopwatchLogOff: off, hopwatchLog: { lines: hopwatch.logLines, bytes: hopwatch.logBytes, metricsOkRequests: hopwatch.value.metricsOkRequests } } },
  };
}
