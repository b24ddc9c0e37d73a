// `Connection: close` req/s: every request on a new connection (bench/load.ts --mode close),
// direct, through the bare node:http forwarder and through hopwatch. What it adds to keep-alive
// is the accept, the handshake and the per-connection set-up of each proxy.
import type { Bench, Figure, Section } from './context.ts';
import type { Measurement } from './http-keepalive.ts';
import { measureHttpTargets } from './measure-keepalive.ts';

export async function measureClose(bench: Bench): Promise<Section> {
  const { direct, bare, hopwatch } = await measureHttpTargets(bench, 'close');
  const hop = hopwatch.value.row;
  const row = (name: string, unit: string, pick: (m: Measurement) => number, higherIsBetter: boolean): Figure => ({
    name, unit, direct: pick(direct), baseline: pick(bare), hopwatch: pick(hop), baselineName: 'bare forwarder', higherIsBetter,
  });
  const errors = [direct, bare, hop].filter((m) => m.errors > 0).map((m) => `${m.target}: ${m.errors}`);
  return {
    figures: [row('Connection: close', 'req/s', (m) => m.rps, true), row('Connection: close p99', 'ms', (m) => m.p99Ms, false)],
    notes: errors.length ? [`Connection: close errors: ${errors.join(', ')}`] : [],
    raw: { close: { direct, bare, hopwatch: hop } },
  };
}
