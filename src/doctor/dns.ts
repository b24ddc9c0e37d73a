// Layer 1, DNS: the guide's "confirm the upstream hostname resolves correctly". The proxy's own
// Resolver does it, so the doctor sees the same answers and the same rcode diagnosis it would.
import { isIP } from 'node:net';
import { classify } from '../classify/rules.ts';
import { Resolver } from '../upstream/resolve.ts';
import type { DnsLayer } from './types.ts';
import { oneLine } from './wire.ts';

/** The guide's risk indicator: "DNS resolution time > 200ms". */
export const DNS_SLOW_MS = 200;

export async function dnsLayer(host: string, timeoutMs: number, dnsServer: string | undefined): Promise<DnsLayer> {
  const server = dnsServer ?? 'system';
  const family = isIP(host);
  if (family) {
    return { layer: 'dns', status: 'skipped', ms: 0, server, answers: [{ address: host, family: family === 6 ? 6 : 4 }], notes: ['an IP address: nothing to resolve'] };
  }
  const resolver = new Resolver({ timeoutMs, servers: dnsServer ? [dnsServer] : [] });
  const started = performance.now();
  try {
    const answers = await resolver.resolve(host);
    const ms = performance.now() - started;
    const notes = ms > DNS_SLOW_MS ? [`resolution took over ${DNS_SLOW_MS} ms (the guide's DNS risk indicator)`] : [];
    return { layer: 'dns', status: 'ok', ms, server, answers, notes };
  } catch (err) {
    const failure = classify('dns', err);
    const layer: DnsLayer = {
      layer: 'dns', status: 'failed', ms: performance.now() - started, server, answers: [],
      code: failure.code, detail: oneLine(failure.detail), notes: [],
    };
    if (failure.params.rcode) layer.rcode = failure.params.rcode;
    return layer;
  }
}
