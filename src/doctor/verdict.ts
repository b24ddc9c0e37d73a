// The verdict: the first layer that failed (or is degraded), the catalogue's cause and action
// for its code, and who owns it. Ownership follows the guide's "test each layer independently":
//  - network: DNS, TCP, or a TLS handshake fails directly (no proxy involved), or the proxy
//    reports a DNS/connect/TLS failure for a target that works directly (its network path differs);
//  - upstream: the origin fails directly (5xx, resets, no answer in time), or a certificate
//    problem (expired, not yet valid, wrong names, untrusted): the handshake itself worked, and
//    the certificate is the origin's to fix, whatever the path;
//  - proxy: direct works, the proxy refuses (auth, policy, limits, shutdown), or cannot be reached;
//  - client: the origin answers 4xx directly: the request itself (URL, origin credentials).
import { CATALOGUE, type Code } from '../classify/catalogue.ts';
import type { Latency, LayerResult, Owner, Verdict } from './types.ts';

const PROXY_HOPS = new Set(['client', 'parse', 'auth', 'policy']);
const PROXY_CODES = new Set<Code>(['connection_limit', 'proxy_shutdown', 'internal_error', 'loop_detected']);
/** SOCKS replies whose codes are all the proxy's own (policy, limits, defects). */
const PROXY_REPLIES = new Set([0x01, 0x02]);

export function verdictFor(layers: readonly LayerResult[]): Verdict {
  const latency = latencyOf(layers);
  const first = layers.find((l) => l.status === 'failed' || l.status === 'degraded');
  if (!first) {
    const overhead = latency.overheadMs === null ? '' : `; through the proxy ${signed(latency.overheadMs)} ms to first byte`;
    return { healthy: true, layer: null, code: null, owner: null, cause: null, action: null, summary: `every layer passed${overhead}`, latency };
  }
  const code = first.code ?? null;
  const owner = ownerOf(first);
  const entry = code ? CATALOGUE[code] : undefined;
  let cause = entry?.cause ?? first.detail ?? null;
  let action = entry?.action ?? null;
  if ((first.layer === 'proxy' || first.layer === 'socks') && first.stage === 'proxy_connect') {
    cause = `The proxy cannot be reached (${first.detail ?? code})`;
    action = 'Check the proxy URL (host, port) and that the proxy is running and listening there';
  } else if (first.layer === 'socks' && !code && first.candidates) {
    action = `hopwatch's log line for the session names the exact code (one of ${first.candidates.join(', ')})`;
  }
  const summary = `${first.layer} ${first.status}${code ? `: ${code}` : ''}, owned by the ${owner}: ${why(first, owner, layers)}`;
  return { healthy: false, layer: first.layer, code, owner, cause, action, summary, latency };
}

function ownerOf(layer: LayerResult): Owner {
  const code = layer.code;
  switch (layer.layer) {
    case 'dns':
    case 'tcp':
      return 'network';
    case 'tls':
      return code?.startsWith('tls_cert_') ? 'upstream' : 'network';
    case 'http':
      return layer.httpStatus !== undefined && layer.httpStatus < 500 ? 'client' : 'upstream';
    case 'health':
      return 'proxy';
    case 'proxy':
    case 'socks': {
      if (layer.stage === 'proxy_connect') return 'proxy';
      if (!code) return layer.layer === 'socks' && layer.reply !== undefined && !PROXY_REPLIES.has(layer.reply) ? 'network' : 'proxy';
      const entry = CATALOGUE[code];
      if (PROXY_CODES.has(code) || PROXY_HOPS.has(entry.hop)) return 'proxy';
      if (code.startsWith('tls_cert_')) return 'upstream';
      if (entry.hop === 'dns' || entry.hop === 'connect' || entry.hop === 'tls') return 'network';
      // The origin's own status through the proxy: its 4xx is the request's, as it would be directly.
      const status = layer.httpStatus;
      return status !== undefined && status >= 400 && status < 500 && entry.source === 'upstream' ? 'client' : 'upstream';
    }
  }
}

function why(layer: LayerResult, owner: Owner, layers: readonly LayerResult[]): string {
  const direct = layers.find((l) => l.layer === 'http');
  const directOk = direct?.status === 'ok';
  switch (owner) {
    case 'network':
      if (layer.layer === 'tcp' && layer.status === 'degraded') return 'some addresses behind the name do not answer (a dead node, or DNS still handing out its address)';
      if (layer.layer === 'proxy' || layer.layer === 'socks') {
        return directOk ? 'it works directly from here but not from the proxy host: check DNS and routes there (dig, traceroute on the proxy host)' : 'it fails from the proxy host as it does directly';
      }
      return 'it fails directly, without any proxy';
    case 'upstream':
      if (layer.layer === 'tls' || layer.code?.startsWith('tls_cert_')) return 'the certificate the origin serves fails verification; the handshake itself works';
      return layer.layer === 'http' ? 'the origin fails when asked directly' : directOk ? 'the origin failed through the proxy but answered directly: an intermittent origin' : 'the origin fails directly too';
    case 'proxy':
      if ((layer.layer === 'proxy' || layer.layer === 'socks') && layer.stage === 'proxy_connect') return 'the proxy itself cannot be reached';
      if (layer.layer === 'health') return 'the proxy reports itself unhealthy or not ready';
      return directOk ? 'the origin answers directly, the proxy refuses the request' : 'the proxy refuses the request';
    case 'client':
      return 'the origin refuses this request (check the URL and the origin credentials)';
  }
}

function latencyOf(layers: readonly LayerResult[]): Latency {
  const ttfb = (name: 'http' | 'proxy' | 'socks') => {
    // Only a path that worked is a baseline: the time to a 502 says nothing about the origin.
    const layer = layers.find((l) => l.layer === name);
    return layer?.status === 'ok' && 'ttfbMs' in layer && layer.ttfbMs !== undefined ? layer.ttfbMs : null;
  };
  const direct = ttfb('http');
  const proxy = ttfb('proxy');
  const socks = ttfb('socks');
  const via = proxy ?? socks;
  const both = direct !== null && via !== null;
  return {
    directTtfbMs: direct,
    proxyTtfbMs: proxy,
    socksTtfbMs: socks,
    overheadMs: both ? via - direct : null,
    ratio: both && direct > 0 ? via / direct : null,
  };
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : '−'}${Math.abs(ms).toFixed(1)}`;
}
