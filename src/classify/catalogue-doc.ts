// Renders docs/errors.md from the catalogue (npm run docs). The doc is generated so it cannot
// drift; test/classify/catalogue-doc.test.ts fails when either side has a code the other lacks.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HOPS } from '../exchange/hops.ts';
import { CATALOGUE, CODES, type CatalogueEntry, type Code } from './catalogue.ts';

export const CATALOGUE_DOC = fileURLToPath(new URL('../../docs/errors.md', import.meta.url));

const socks = (e: CatalogueEntry) => (e.socks === null ? '—' : `0x${e.socks.toString(16).padStart(2, '0')}`);
const status = (e: CatalogueEntry) => (e.status === null ? (e.source === 'upstream' ? 'the origin\'s' : 'as sent') : String(e.status));
const type = (e: CatalogueEntry) => (e.proxyStatus ? `\`${e.proxyStatus}\`` : '—');

function section(code: Code): string {
  const e = CATALOGUE[code];
  return [
    `### ${code}`,
    '',
    `| hop | HTTP status | Proxy-Status error | SOCKS5 reply | category | source | temporary |`,
    `|---|---|---|---|---|---|---|`,
    `| \`${e.hop}\` | ${status(e)} | ${type(e)} | ${socks(e)} | ${e.category} | ${e.source} | ${e.temporary ? 'yes' : 'no'} |`,
    '',
    `**Meaning:** ${e.cause}.`,
    '',
    `**How to fix:** ${e.action}.`,
    '',
  ].join('\n');
}

/** The guide's risk indicators: the alert rules' runbook_url points at these anchors. */
export const INDICATORS: ReadonlyArray<{ anchor: string; title: string; meaning: string; action: string }> = [
  {
    anchor: 'latency-average', title: 'Average response time above 2 s',
    meaning: 'HTTP exchanges take more than 2 s on average: elevated 504 risk (the guide\'s first latency indicator)',
    action: 'Compare the hop durations (dns, connect, tls, ttfb) to find which hop grew; check upstream load and capacity',
  },
  {
    anchor: 'latency-p99', title: 'P99 latency above 5 s',
    meaning: 'The slowest 1 % of HTTP exchanges take more than 5 s: high likelihood of cascading timeouts in callers',
    action: 'Find the slow destinations in the log (durations_ms.ttfb); tune caller timeouts and timeouts.responseMs together',
  },
  {
    anchor: 'connection-utilization', title: 'Connection use above 80 % of limits.maxConnections',
    meaning: 'Open client connections near the limit: 503 connection_limit answers are imminent',
    action: 'Scale out (more instances) or raise limits.maxConnections; look for clients holding idle connections',
  },
  {
    anchor: 'dns-latency', title: 'DNS resolution above 200 ms',
    meaning: 'Name resolution from the proxy host is slow: proxy network error risk increases, dns_timeout follows',
    action: 'Check the resolver the proxy uses (dns.servers or /etc/resolv.conf), its load, and the network path to it',
  },
  {
    anchor: 'tls-latency', title: 'TLS handshake above 500 ms',
    meaning: 'TLS handshakes with upstreams are slow: handshake timeouts likely under load',
    action: 'Check upstream TLS termination capacity and the certificate chain size; check for packet loss',
  },
  {
    anchor: 'error-ratio-5xx', title: '5xx ratio above threshold',
    meaning: 'The share of HTTP exchanges answered with a 5xx (by hopwatch or by the origin) jumped',
    action: 'Split hopwatch_requests_total by code and source: proxy-side codes name the failing hop; upstream_5xx means the origin',
  },
  {
    anchor: 'auth-failures', title: 'Authentication failures',
    meaning: 'Proxy logins are refused (see reason: missing, malformed, wrong password, unknown user)',
    action: 'Find the client in the auth_failure events; expired or rotated credentials are the usual cause, a burst from one address may be guessing',
  },
  {
    anchor: 'hopwatch-down', title: 'hopwatch down',
    meaning: 'Prometheus cannot scrape hopwatch: the process is down, or its admin listener unreachable',
    action: 'Check the process or pod, its logs (a config error exits 78), and admin.host/admin.port',
  },
  {
    anchor: 'worker-restarts', title: 'Worker restarts (workers > 1)',
    meaning: 'A worker process died unasked and the primary replaced it (hopwatch_worker_restarts_total by reason: crashed is a non-zero exit, killed a signal such as the OOM killer\'s, exited an exit 0); its open connections and tunnels were cut. One restart warns; more than 5 in 15 minutes is a crash loop, where replacements die within seconds and the primary retries after up to 30 s',
    action: 'Read the `worker died: replacing it` log lines (worker, pid, code, signal) and what that worker logged just before; killed: compare memory with the container\'s limit (each process takes about 100 MiB at rest); in a crash loop every replacement meets the same cause, and once it is gone the next attempt (at most 30 s later) serves again',
  },
  {
    anchor: 'workers-down', title: 'Fewer workers serving (workers > 1)',
    meaning: 'hopwatch_workers, the worker processes serving now, has stayed below the most this instance served in the last hour (the configured count is not exported): a slot is not refilled, because its replacements die before they listen or hang starting, and the others take its connections within their own limits. At 0 nothing accepts proxy connections although the primary still answers /metrics, and /readyz answers 503',
    action: 'Read the log: `worker died: replacing it` lines and what the replacements logged before they died (see worker-restarts); a replacement that neither dies nor listens is stuck starting: restart the instance. A restart that lowered `workers` on purpose keeps the warning for up to an hour under the same instance label: silence it',
  },
];

function indicator(i: (typeof INDICATORS)[number]): string {
  return [`### ${i.anchor}`, '', `**${i.title}.** ${i.meaning}.`, '', `**What to do:** ${i.action}.`, ''].join('\n');
}

export function renderCatalogue(): string {
  const rows = CODES.map((code) => {
    const e = CATALOGUE[code];
    return `| [\`${code}\`](#${code}) | \`${e.hop}\` | ${status(e)} | ${type(e)} | ${socks(e)} | ${e.temporary ? 'yes' : 'no'} | ${e.cause} |`;
  });
  return [
    '# Error catalogue',
    '',
    '<!-- Generated from src/classify/catalogue.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every exchange hopwatch handles (an HTTP request, a CONNECT tunnel, a SOCKS5 session) ends with',
    'exactly one **code** from this list. The code is in the log line (`code`), in the metrics',
    '(`hopwatch_requests_total{code=…}`, `hopwatch_errors_total{code=…}`) and, when hopwatch',
    'itself answers, in the response: `Proxy-Status: hopwatch; error=<type>; details="…"` (RFC 9209)',
    'and a short body with the same fields.',
    '',
    `The **hop** says where the exchange stopped: ${HOPS.map((h) => `\`${h}\``).join(' → ')}.`,
    'The **source** says who produced the status the client saw: `proxy` (hopwatch decided),',
    '`upstream` (the origin\'s own status, passed through unchanged: `Proxy-Status` then carries only',
    '`received-status`), or `client` (the client went away). **Temporary** is the default judgement of',
    'the proxy error guide: a temporary failure may well pass on a retry, a structural one recurs',
    'until its cause is fixed.',
    '',
    'On SOCKS5 the **SOCKS5** column is the reply code sent for the request. Failures before the',
    'request are answered in the handshake instead: a client that speaks no SOCKS5 (or is too slow)',
    'is closed without a reply, and a refused login gets `05 FF` (no acceptable method) or the',
    'RFC 1929 status `01`.',
    '',
    '| code | hop | HTTP | Proxy-Status error | SOCKS5 | temporary | meaning |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    '## Codes',
    '',
    ...CODES.map(section),
    '## Risk indicators',
    '',
    'The latency and capacity indicators of the proxy error guide, as the shipped alert rules watch',
    'them (docker/prometheus/rules/): each alert\'s runbook_url points here or at a code above.',
    '',
    ...INDICATORS.map(indicator),
  ].join('\n');
}

if (import.meta.main) writeFileSync(CATALOGUE_DOC, renderCatalogue());
