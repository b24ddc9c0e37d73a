// Prometheus metrics from finished exchange records. Labels take values from closed lists only
// (protocols, catalogue codes, hops): never hosts, clients or users. The series a dashboard
// expects exist at zero from the start, so rates and ratios work before the first failure.
// With `workers` > 1 the primary sums every worker's families (prom-client's default
// aggregator); the few gauges a sum would misstate name their own aggregator.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CATALOGUE, CODES, type Code } from '../classify/catalogue.ts';
import type { Observer } from '../exchange/lifecycle.ts';
import type { AuthFailure, Exchange } from '../exchange/record.ts';
import type { Protocol } from '../exchange/hops.ts';
import type { ConnectionGate, ListenerName } from '../front/connections.ts';

/** Codes that belong to HTTP messages, or arrive before the method is known. */
const HTTP_ONLY = new Set<Code>([
  'upstream_bad_response', 'response_timeout', 'unsupported_scheme',
  'request_malformed', 'request_header_too_large', 'request_header_timeout',
]);
/** Credentials problems only an HTTP header can have. */
const HEADER_AUTH = new Set<Code>(['auth_malformed', 'auth_scheme_unsupported']);

/** The codes that can occur on a protocol, for pre-creating their series. */
export function codesFor(protocol: Protocol): Code[] {
  const socksOnly = (c: Code) => c.startsWith('socks_');
  if (protocol === 'http') return CODES.filter((c) => !socksOnly(c));
  const tunnel = CODES.filter((c) => c === 'ok' || (CATALOGUE[c].source !== 'upstream' && !HTTP_ONLY.has(c)));
  if (protocol === 'connect') return tunnel.filter((c) => !socksOnly(c));
  return tunnel.filter((c) => !HEADER_AUTH.has(c));
}

const AUTH_REASONS: readonly AuthFailure['reason'][] = ['missing', 'malformed', 'unsupported_scheme', 'unknown_user', 'wrong_password'];

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 30, 60];
// 0.2 and 0.5 are the guide's DNS and TLS risk thresholds.
const HOP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2.5, 5, 10];

/** prom-client's process_* and nodejs_* families, less three that promtool rejects. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  // These three are gauges named like counters, which `promtool check metrics` rejects; the
  // same numbers remain by type in nodejs_active_handles / _requests / _resources (sum them).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
}

export interface Metrics {
  readonly registry: Registry;
  readonly observer: Observer;
}

export function createMetrics(gate: ConnectionGate, protocols: readonly Protocol[], version: string): Metrics {
  const registry = new Registry();
  registerProcessMetrics(registry);

  const requests = new Counter({
    name: 'hopwatch_requests_total',
    help: 'Finished exchanges (HTTP requests, CONNECT tunnels, SOCKS5 sessions) by outcome code.',
    labelNames: ['protocol', 'code', 'category', 'hop', 'source'] as const,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'hopwatch_errors_total',
    help: 'Finished exchanges that did not end ok, by code, hop and RFC 9209 Proxy-Status type.',
    labelNames: ['protocol', 'code', 'category', 'hop', 'proxy_status', 'temporary'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'hopwatch_request_duration_seconds',
    help: 'Time from accepting an exchange to its end (for tunnels: their whole life).',
    labelNames: ['protocol'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const hopDuration = new Histogram({
    name: 'hopwatch_hop_duration_seconds',
    help: 'Time spent in one hop: dns, connect, tls, or ttfb (request sent to response headers).',
    labelNames: ['protocol', 'hop'] as const,
    buckets: HOP_BUCKETS,
    registers: [registry],
  });
  const transferred = new Counter({
    name: 'hopwatch_transferred_bytes_total',
    help: 'Payload bytes relayed, by direction.',
    labelNames: ['protocol', 'direction'] as const,
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'hopwatch_auth_failures_total',
    help: 'Refused proxy logins, by reason (missing, malformed, unsupported_scheme, unknown_user, wrong_password).',
    labelNames: ['protocol', 'reason'] as const,
    registers: [registry],
  });
  const listeners: ListenerName[] = ['http', 'socks'];
  new Gauge({
    name: 'hopwatch_connections_active',
    help: 'Open client connections, by listener.',
    labelNames: ['listener'] as const,
    registers: [registry],
    collect() {
      for (const l of listeners) this.set({ listener: l }, gate.activeOn(l));
    },
  });
  new Gauge({
    name: 'hopwatch_connections_max',
    help: 'limits.maxConnections: client connections allowed over all listeners.',
    registers: [registry],
    collect() {
      this.set(gate.max);
    },
  });
  new Gauge({
    name: 'hopwatch_connection_utilization_ratio',
    help: 'Open client connections divided by limits.maxConnections (0 to 1).',
    registers: [registry],
    // Over cluster workers (each has its own limit): the fullest, which is the first to refuse.
    aggregator: 'max',
    collect() {
      this.set(gate.active / gate.max);
    },
  });
  new Gauge({
    name: 'hopwatch_build_info',
    help: 'Always 1; labels carry the hopwatch and Node.js versions.',
    labelNames: ['version', 'node_version'] as const,
    registers: [registry],
    aggregator: 'first',
  }).set({ version, node_version: process.version }, 1);

  for (const protocol of protocols) {
    for (const code of codesFor(protocol)) {
      const e = CATALOGUE[code];
      requests.inc({ protocol, code, category: e.category, hop: e.hop, source: e.source }, 0);
      if (code !== 'ok') {
        errors.inc({ protocol, code, category: e.category, hop: e.hop, proxy_status: e.proxyStatus ?? 'none', temporary: String(e.temporary) }, 0);
      }
    }
    for (const hop of ['dns', 'connect', 'tls', 'ttfb']) hopDuration.zero({ protocol, hop });
    duration.zero({ protocol });
    for (const reason of AUTH_REASONS) {
      if (protocol !== 'socks5' || (reason !== 'malformed' && reason !== 'unsupported_scheme')) authFailures.inc({ protocol, reason }, 0);
    }
    transferred.inc({ protocol, direction: 'client_to_upstream' }, 0);
    transferred.inc({ protocol, direction: 'upstream_to_client' }, 0);
  }

  const observer: Observer = {
    name: 'metrics',
    onEnd(ex: Exchange) {
      const code = ex.code;
      const e = CATALOGUE[code];
      const hop = ex.outcomeHop;
      const protocol = ex.protocol;
      const source = ex.failure ? ex.failure.source : e.source;
      requests.inc({ protocol, code, category: e.category, hop, source });
      if (code !== 'ok') {
        errors.inc({ protocol, code, category: e.category, hop, proxy_status: e.proxyStatus ?? 'none', temporary: String(e.temporary) });
      }
      const t = ex.timings;
      duration.observe({ protocol }, (t.total ?? 0) / 1000);
      if (t.dns !== undefined) hopDuration.observe({ protocol, hop: 'dns' }, t.dns / 1000);
      if (t.connect !== undefined) hopDuration.observe({ protocol, hop: 'connect' }, t.connect / 1000);
      if (t.tls !== undefined) hopDuration.observe({ protocol, hop: 'tls' }, t.tls / 1000);
      if (t.ttfb !== undefined) hopDuration.observe({ protocol, hop: 'ttfb' }, t.ttfb / 1000);
      if (ex.authFailure) authFailures.inc({ protocol, reason: ex.authFailure.reason });
      if (ex.bytes.toUpstream) transferred.inc({ protocol, direction: 'client_to_upstream' }, ex.bytes.toUpstream);
      if (ex.bytes.toClient) transferred.inc({ protocol, direction: 'upstream_to_client' }, ex.bytes.toClient);
    },
  };
  return { registry, observer };
}
