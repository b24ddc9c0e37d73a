// Runs the layers in the guide's order and reports each as it finishes. Layers that need an
// earlier one (TCP needs addresses, HTTP needs a working handshake) are skipped with the reason;
// the proxied paths always run, since comparing them with the direct path is the point.
import type { DoctorOptions } from './args.ts';
import { dnsLayer } from './dns.ts';
import { healthLayer } from './health.ts';
import { httpLayer } from './http.ts';
import { proxyLayer } from './proxy.ts';
import { socksLayer } from './socks.ts';
import { firstConnected, tcpLayer } from './tcp.ts';
import { tlsLayer } from './tls.ts';
import type { Address, DoctorReport, LayerResult } from './types.ts';
import { verdictFor } from './verdict.ts';

export async function runDoctor(options: DoctorOptions, onLayer: (layer: LayerResult) => void = () => {}): Promise<DoctorReport> {
  const { target, timeoutMs, ca } = options;
  const layers: LayerResult[] = [];
  const add = <T extends LayerResult>(layer: T): T => {
    layers.push(layer);
    onLayer(layer);
    return layer;
  };
  const skip = (why: string) => ({ status: 'skipped' as const, ms: 0, notes: [why] });

  const dns = add(await dnsLayer(target.host, timeoutMs, options.dnsServer));
  let address: Address | undefined;
  if (dns.answers.length) {
    const connected = firstConnected(add(await tcpLayer(dns.answers, target.port, timeoutMs)));
    if (connected) address = { address: connected.address, family: connected.family };
  } else {
    add({ layer: 'tcp', attempts: [], ...skip('no address to connect to') });
  }

  let handshakeOk = address !== undefined;
  if (target.scheme === 'https') {
    if (address) handshakeOk = (add(await tlsLayer(target.host, address, target.port, timeoutMs, ca))).status === 'ok';
    else add({ layer: 'tls', ...skip('no address accepted a connection') });
  }
  if (address && handshakeOk) add(await httpLayer(target, address, timeoutMs, ca));
  else add({ layer: 'http', ...skip(address ? 'the TLS handshake failed' : 'no address accepted a connection') });

  if (options.proxy) add(await proxyLayer(target, options.proxy, timeoutMs, ca));
  if (options.socks) add(await socksLayer(target, options.socks, timeoutMs, address?.address ?? dns.answers[0]?.address, ca));
  if (options.admin) add(await healthLayer(options.admin, target, timeoutMs));
  return { target, layers, verdict: verdictFor(layers) };
}
