// The error catalogue: every outcome hopwatch can record, with what it means for the user.
// This table is the one place where a code's status, category, RFC 9209 type, temporariness
// and advice are decided. docs/errors.md lists the same rows (a test keeps them in sync).
// Cause/action wording follows the proxy error guide's master table where it has a row.
import type { Hop } from '../exchange/hops.ts';

export const CATEGORIES = [
  'success', 'client', 'authentication', 'access', 'proxy_auth',
  'server', 'gateway', 'availability', 'timeout', 'network',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** Who produced the status the client saw. */
export type Source = 'proxy' | 'upstream' | 'client';

/** The RFC 9209 Proxy Error Types hopwatch emits. */
export type ProxyErrorType =
  | 'dns_timeout' | 'dns_error' | 'destination_ip_prohibited' | 'destination_ip_unroutable'
  | 'connection_refused' | 'connection_terminated' | 'connection_timeout' | 'connection_read_timeout'
  | 'connection_limit_reached' | 'tls_protocol_error' | 'tls_certificate_error' | 'tls_alert_received'
  | 'http_request_error' | 'http_request_denied' | 'http_response_incomplete' | 'http_response_timeout'
  | 'http_protocol_error' | 'proxy_internal_error' | 'proxy_loop_detected';

export interface CatalogueEntry {
  /** Where the condition is decided; a failure may carry the hop it actually happened at. */
  readonly hop: Hop;
  /** HTTP status the proxy answers with; null when the status is whatever was already sent. */
  readonly status: number | null;
  readonly category: Category;
  readonly source: Source;
  readonly proxyStatus: ProxyErrorType | null;
  /** The guide's temporary-vs-structural default: true means a retry may well succeed. */
  readonly temporary: boolean;
  /** RFC 1928 reply code for the same condition on a SOCKS5 session; null when not applicable. */
  readonly socks: number | null;
  readonly cause: string;
  readonly action: string;
}

const e = (entry: CatalogueEntry) => entry;

export const CATALOGUE = {
  ok: e({
    hop: 'deliver', status: null, category: 'success', source: 'upstream', proxyStatus: null, temporary: false,
    socks: 0x00, cause: 'The exchange completed; the status is the upstream\'s own', action: 'Nothing to do',
  }),

  // ── parse: the client's request ─────────────────────────────────────────────
  request_malformed: e({
    hop: 'parse', status: 400, category: 'client', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: false, socks: null, cause: 'Malformed request headers (the proxy could not parse the request)',
    action: 'Fix request format: check the client sends valid HTTP/1.1 (line endings, header syntax, encoding)',
  }),
  request_header_too_large: e({
    hop: 'parse', status: 431, category: 'client', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: false, socks: null, cause: 'The request header section is larger than limits.maxHeaderBytes',
    action: 'Send fewer or smaller headers (oversized cookies or tokens), or raise limits.maxHeaderBytes',
  }),
  request_header_timeout: e({
    hop: 'parse', status: 408, category: 'client', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: true, socks: null, cause: 'The client did not send complete request headers within timeouts.requestHeadersMs',
    action: 'Check the client and the network between client and proxy; a stalled or very slow sender',
  }),
  unsupported_scheme: e({
    hop: 'parse', status: 400, category: 'client', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: false, socks: null, cause: 'The request URI has a scheme other than http or https',
    action: 'Use http:// or https:// URLs; tunnel other protocols with CONNECT or SOCKS5',
  }),
  invalid_target: e({
    hop: 'parse', status: 400, category: 'client', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: false, socks: 0x01,
    cause: 'The request names no usable host and port (origin-form request to the proxy port, CONNECT without a port)',
    action: 'Configure the client to use hopwatch as its proxy (absolute-form URLs) and send CONNECT host:port',
  }),

  // ── SOCKS5 handshake (RFC 1928) ─────────────────────────────────────────────
  socks_malformed: e({
    hop: 'parse', status: null, category: 'client', source: 'proxy', proxyStatus: null, temporary: false,
    socks: null, cause: 'The client did not speak SOCKS5 (wrong version, no methods, truncated or oversized message)',
    action: 'Check the client is configured for a SOCKS5 proxy on this port (not HTTP, not SOCKS4)',
  }),
  socks_handshake_timeout: e({
    hop: 'parse', status: null, category: 'client', source: 'proxy', proxyStatus: null, temporary: true,
    socks: null, cause: 'The client did not finish the SOCKS5 handshake within timeouts.handshakeMs',
    action: 'Check the client and the network between client and proxy; a stalled or very slow sender',
  }),
  socks_command_unsupported: e({
    hop: 'parse', status: null, category: 'client', source: 'proxy', proxyStatus: null, temporary: false,
    socks: 0x07, cause: 'The client asked for BIND or UDP ASSOCIATE; hopwatch serves CONNECT only',
    action: 'Use CONNECT, or a proxy that relays UDP / accepts inbound connections',
  }),
  socks_address_type_unsupported: e({
    hop: 'parse', status: null, category: 'client', source: 'proxy', proxyStatus: null, temporary: false,
    socks: 0x08, cause: 'The request names its destination with an unknown address type',
    action: 'Send an IPv4 address, an IPv6 address or a domain name (socks5h)',
  }),

  // ── auth ───────────────────────────────────────────────────────────────────
  auth_missing: e({
    hop: 'auth', status: 407, category: 'proxy_auth', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: false, socks: null, cause: 'Proxy requires credentials and the client sent none',
    action: 'Add proxy auth headers: put user:password in the proxy URL (http://user:pass@host:port, socks5h://user:pass@host:port)',
  }),
  auth_malformed: e({
    hop: 'auth', status: 407, category: 'proxy_auth', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: false, socks: null, cause: 'The Proxy-Authorization header could not be decoded (bad base64, no user:password)',
    action: 'Send Proxy-Authorization: Basic base64(user:password); percent-encode special characters in proxy URLs',
  }),
  auth_scheme_unsupported: e({
    hop: 'auth', status: 407, category: 'proxy_auth', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: false, socks: null, cause: 'The credentials use a scheme hopwatch does not accept (only Basic)',
    action: 'Use Basic proxy authentication; a Bearer or Digest token meant for the origin belongs in Authorization',
  }),
  auth_invalid: e({
    hop: 'auth', status: 407, category: 'proxy_auth', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: false, socks: null, cause: 'Missing or invalid credentials: unknown user or wrong password',
    action: 'Reissue or verify the proxy credentials; check proxy and origin credentials are not swapped',
  }),

  // ── policy ─────────────────────────────────────────────────────────────────
  client_denied: e({
    hop: 'policy', status: 403, category: 'access', source: 'proxy', proxyStatus: 'http_request_denied',
    temporary: false, socks: 0x02, cause: 'Policy or IP block: the client address is not in access.allowClients',
    action: 'Review access rules: add the client\'s address (as the proxy sees it) to access.allowClients',
  }),
  destination_denied: e({
    hop: 'policy', status: 403, category: 'access', source: 'proxy', proxyStatus: 'http_request_denied',
    temporary: false, socks: 0x02, cause: 'Policy: the destination host is in access.denyDestinations',
    action: 'Review access rules (access.denyDestinations), or use an allowed destination',
  }),
  destination_ip_denied: e({
    hop: 'policy', status: 403, category: 'access', source: 'proxy', proxyStatus: 'destination_ip_prohibited',
    temporary: false, socks: 0x02,
    cause: 'Policy: the destination resolves to a denied address range (access.denyDestinations or denyPrivateDestinations)',
    action: 'Review access rules; a public name resolving to a private address is refused on purpose (SSRF protection)',
  }),
  port_denied: e({
    hop: 'policy', status: 403, category: 'access', source: 'proxy', proxyStatus: 'http_request_denied',
    temporary: false, socks: 0x02, cause: 'Policy: tunnels to this port are not in access.allowPorts',
    action: 'Review access rules: add the port to access.allowPorts if tunnels to it are intended',
  }),
  // ── policy ─────────────────────────────────────────────────────────────────
  loop_detected: e({
    hop: 'policy', status: 502, category: 'gateway', source: 'proxy', proxyStatus: 'proxy_loop_detected',
    temporary: false, socks: 0x02,
    cause: 'The request came back to this proxy (its own Via seen again, or the target is one of its own listeners)',
    action: 'Fix the proxy settings of the client or upstream: exclude the proxy host itself (NO_PROXY)',
  }),

  // ── dns ────────────────────────────────────────────────────────────────────
  dns_nxdomain: e({
    hop: 'dns', status: 502, category: 'network', source: 'proxy', proxyStatus: 'dns_error', temporary: false,
    socks: 0x04, cause: 'Hostname unresolvable: the name does not exist (NXDOMAIN)',
    action: 'Fix DNS config: check the host name for typos and that its zone publishes it, from the proxy host',
  }),
  dns_nodata: e({
    hop: 'dns', status: 502, category: 'network', source: 'proxy', proxyStatus: 'dns_error', temporary: false,
    socks: 0x04, cause: 'The name exists but has no address records (NODATA)',
    action: 'Fix DNS config: publish an A/AAAA record for the name, or use the name that has one',
  }),
  dns_server_failure: e({
    hop: 'dns', status: 502, category: 'network', source: 'proxy', proxyStatus: 'dns_error', temporary: true,
    socks: 0x04, cause: 'The resolver failed or refused to answer (SERVFAIL, REFUSED, unreachable resolver)',
    action: 'Check the resolver the proxy uses (dns.servers or /etc/resolv.conf) and the zone\'s authoritative servers',
  }),
  dns_timeout: e({
    hop: 'dns', status: 504, category: 'network', source: 'proxy', proxyStatus: 'dns_timeout', temporary: true,
    socks: 0x04, cause: 'No DNS answer within timeouts.dnsMs',
    action: 'Check resolver reachability and latency from the proxy host; raise timeouts.dnsMs only for a slow resolver',
  }),

  // ── connect ────────────────────────────────────────────────────────────────
  connect_refused: e({
    hop: 'connect', status: 502, category: 'network', source: 'proxy', proxyStatus: 'connection_refused',
    temporary: false, socks: 0x05, cause: 'Port closed or blocked: the upstream refused the TCP connection',
    action: 'Check firewall and port: is the service listening on that address and port?',
  }),
  connect_timeout: e({
    hop: 'connect', status: 504, category: 'timeout', source: 'proxy', proxyStatus: 'connection_timeout',
    temporary: true, socks: 0x06, cause: 'No TCP connection within timeouts.connectMs (packets dropped, host down or overloaded)',
    action: 'Check the host is up and firewalls on the path do not drop packets; raise timeouts.connectMs only for slow paths',
  }),
  net_unreachable: e({
    hop: 'connect', status: 502, category: 'network', source: 'proxy', proxyStatus: 'destination_ip_unroutable',
    temporary: false, socks: 0x03, cause: 'No route to the upstream network (ENETUNREACH)',
    action: 'Check routing from the proxy host (ip route), and IPv6 connectivity when the name has AAAA records',
  }),
  host_unreachable: e({
    hop: 'connect', status: 502, category: 'network', source: 'proxy', proxyStatus: 'destination_ip_unroutable',
    temporary: false, socks: 0x04, cause: 'The upstream host is unreachable (EHOSTUNREACH)',
    action: 'Check the host is up and reachable on its network (ARP, routing, security groups)',
  }),

  // ── tls ────────────────────────────────────────────────────────────────────
  tls_timeout: e({
    hop: 'tls', status: 504, category: 'network', source: 'proxy', proxyStatus: 'connection_timeout',
    temporary: true, socks: null, cause: 'SSL negotiation failure: the TLS handshake did not complete within timeouts.tlsMs',
    action: 'Check certificate and upstream TLS config, and that the port speaks TLS; the upstream may be overloaded',
  }),
  tls_alert: e({
    hop: 'tls', status: 502, category: 'network', source: 'proxy', proxyStatus: 'tls_alert_received',
    temporary: false, socks: null, cause: 'The TLS handshake was refused with an alert (see alert-id / alert-message)',
    action: 'Check the TLS versions, cipher suites, SNI and client certificates the two sides accept',
  }),
  tls_cert_expired: e({
    hop: 'tls', status: 502, category: 'network', source: 'proxy', proxyStatus: 'tls_certificate_error',
    temporary: false, socks: null, cause: 'The upstream certificate has expired',
    action: 'Renew the upstream certificate (and check the proxy host clock)',
  }),
  tls_cert_not_yet_valid: e({
    hop: 'tls', status: 502, category: 'network', source: 'proxy', proxyStatus: 'tls_certificate_error',
    temporary: false, socks: null, cause: 'The upstream certificate is not valid yet',
    action: 'Check the clocks of the proxy host and of whoever issued the certificate',
  }),
  tls_cert_hostname_mismatch: e({
    hop: 'tls', status: 502, category: 'network', source: 'proxy', proxyStatus: 'tls_certificate_error',
    temporary: false, socks: null, cause: 'The upstream certificate does not name the requested host',
    action: 'Use the host name the certificate is issued for, or reissue it with that name (SAN)',
  }),
  tls_cert_untrusted: e({
    hop: 'tls', status: 502, category: 'network', source: 'proxy', proxyStatus: 'tls_certificate_error',
    temporary: false, socks: null,
    cause: 'The upstream certificate chain does not lead to a trusted root (self-signed, private CA, missing intermediate)',
    action: 'Serve the full chain from a trusted CA, or trust the private CA on the proxy host (NODE_EXTRA_CA_CERTS)',
  }),
  tls_protocol_error: e({
    hop: 'tls', status: 502, category: 'network', source: 'proxy', proxyStatus: 'tls_protocol_error',
    temporary: false, socks: null, cause: 'TLS failed: a protocol violation, or the port does not speak TLS',
    action: 'Check the upstream port speaks TLS (not plain HTTP) and its TLS configuration',
  }),

  // ── upstream: waiting for the response headers ─────────────────────────────
  upstream_closed: e({
    hop: 'upstream', status: 502, category: 'gateway', source: 'proxy', proxyStatus: 'connection_terminated',
    temporary: true, socks: 0x01, cause: 'Invalid upstream response: the upstream closed or reset the connection before responding',
    action: 'Inspect upstream health: a crashing process, or a load balancer or firewall dropping connections',
  }),
  upstream_bad_response: e({
    hop: 'upstream', status: 502, category: 'gateway', source: 'proxy', proxyStatus: 'http_protocol_error',
    temporary: false, socks: null, cause: 'Invalid upstream response: it is not valid HTTP/1.x',
    action: 'Inspect upstream health, and check the port speaks HTTP (not TLS or another protocol)',
  }),
  response_timeout: e({
    hop: 'upstream', status: 504, category: 'timeout', source: 'proxy', proxyStatus: 'http_response_timeout',
    temporary: true, socks: null, cause: 'Upstream too slow: no response headers within timeouts.responseMs',
    action: 'Tune timeouts (timeouts.responseMs) or fix upstream latency',
  }),

  // ── deliver: after the response (or tunnel) started ─────────────────────────
  response_incomplete: e({
    hop: 'deliver', status: null, category: 'gateway', source: 'proxy', proxyStatus: 'http_response_incomplete',
    temporary: true, socks: null, cause: 'The upstream reset or closed the connection after the response started',
    action: 'Inspect upstream health and logs around this time; the client received a truncated response',
  }),
  idle_timeout: e({
    hop: 'deliver', status: null, category: 'timeout', source: 'proxy', proxyStatus: 'connection_read_timeout',
    temporary: true, socks: null, cause: 'No bytes moved either way for timeouts.idleMs, so the proxy closed the connection',
    action: 'Raise timeouts.idleMs for long polling or quiet tunnels, or find why the upstream stalled',
  }),
  client_abort: e({
    hop: 'deliver', status: null, category: 'client', source: 'client', proxyStatus: null, temporary: true,
    socks: null, cause: 'The client closed the connection before the exchange completed',
    action: 'Usually a client-side timeout or a cancelled request: compare client timeouts with upstream latency',
  }),

  // ── client: the proxy's own capacity ───────────────────────────────────────
  connection_limit: e({
    hop: 'client', status: 503, category: 'availability', source: 'proxy', proxyStatus: 'connection_limit_reached',
    temporary: true, socks: 0x01, cause: 'Server overload: limits.maxConnections client connections are already open',
    action: 'Scale or queue requests: add hopwatch instances, or raise limits.maxConnections',
  }),
  client_connection_limit: e({
    hop: 'client', status: 429, category: 'availability', source: 'proxy', proxyStatus: 'http_request_error',
    temporary: true, socks: 0x01, cause: 'This client already has limits.maxConnectionsPerClient connections open',
    action: 'Reuse connections (keep-alive, pooling) in the client, or raise limits.maxConnectionsPerClient',
  }),
  tunnel_max_duration: e({
    hop: 'deliver', status: null, category: 'timeout', source: 'proxy', proxyStatus: null, temporary: true,
    socks: null, cause: 'The tunnel was open for timeouts.maxTunnelMs and was closed by policy',
    action: 'Reconnect (clients of long-lived streams should); raise timeouts.maxTunnelMs if tunnels must last longer',
  }),
  proxy_shutdown: e({
    hop: 'deliver', status: 503, category: 'availability', source: 'proxy', proxyStatus: null, temporary: true,
    socks: 0x01, cause: 'hopwatch was shutting down and shutdownGraceMs ended before this exchange did',
    action: 'Retry (another instance serves it); raise shutdownGraceMs, and the orchestrator\'s grace period, if long requests are cut',
  }),
  internal_error: e({
    hop: 'client', status: 500, category: 'server', source: 'proxy', proxyStatus: 'proxy_internal_error',
    temporary: false, socks: 0x01, cause: 'A defect in hopwatch itself',
    action: 'Report it with the log line; the request id identifies it',
  }),

  // ── the upstream's own error statuses, passed through unchanged ────────────
  upstream_400: e({
    hop: 'upstream', status: null, category: 'client', source: 'upstream', proxyStatus: null, temporary: false,
    socks: null, cause: 'The origin rejected the request as malformed', action: 'Fix request format',
  }),
  upstream_401: e({
    hop: 'upstream', status: null, category: 'authentication', source: 'upstream', proxyStatus: null,
    temporary: false, socks: null, cause: 'Missing or invalid credentials for the origin (not the proxy)',
    action: 'Reissue or verify the origin token; proxy credentials go in Proxy-Authorization, origin ones in Authorization',
  }),
  upstream_403: e({
    hop: 'upstream', status: null, category: 'access', source: 'upstream', proxyStatus: null, temporary: false,
    socks: null, cause: 'The origin\'s policy or IP block refused the request', action: 'Review the origin\'s access rules (IP allow-lists see the proxy\'s address)',
  }),
  upstream_404: e({
    hop: 'upstream', status: null, category: 'client', source: 'upstream', proxyStatus: null, temporary: false,
    socks: null, cause: 'The origin has no such resource', action: 'Check the URL path',
  }),
  upstream_407: e({
    hop: 'upstream', status: null, category: 'proxy_auth', source: 'upstream', proxyStatus: null,
    temporary: false, socks: null, cause: 'A proxy beyond hopwatch requires credentials', action: 'Add proxy auth headers for that proxy',
  }),
  upstream_429: e({
    hop: 'upstream', status: null, category: 'availability', source: 'upstream', proxyStatus: null,
    temporary: true, socks: null, cause: 'The origin is rate limiting this client', action: 'Slow down and honour Retry-After',
  }),
  upstream_4xx: e({
    hop: 'upstream', status: null, category: 'client', source: 'upstream', proxyStatus: null, temporary: false,
    socks: null, cause: 'The origin refused the request (another 4xx status)', action: 'Read the origin\'s response body',
  }),
  upstream_500: e({
    hop: 'upstream', status: null, category: 'server', source: 'upstream', proxyStatus: null, temporary: false,
    socks: null, cause: 'Upstream application failure', action: 'Check upstream logs',
  }),
  upstream_502: e({
    hop: 'upstream', status: null, category: 'gateway', source: 'upstream', proxyStatus: null, temporary: true,
    socks: null, cause: 'Invalid upstream response, node failure (reported by a gateway behind the origin)',
    action: 'Inspect upstream health: its own gateway could not reach a healthy node',
  }),
  upstream_503: e({
    hop: 'upstream', status: null, category: 'availability', source: 'upstream', proxyStatus: null,
    temporary: true, socks: null, cause: 'Server overload or maintenance at the origin', action: 'Scale or queue requests; retry with backoff',
  }),
  upstream_504: e({
    hop: 'upstream', status: null, category: 'timeout', source: 'upstream', proxyStatus: null, temporary: true,
    socks: null, cause: 'Upstream too slow (a gateway behind the origin timed out)', action: 'Tune timeouts or fix upstream latency',
  }),
  upstream_5xx: e({
    hop: 'upstream', status: null, category: 'server', source: 'upstream', proxyStatus: null, temporary: false,
    socks: null, cause: 'The origin failed (another 5xx status)', action: 'Check upstream logs',
  }),
} as const satisfies Record<string, CatalogueEntry>;

export type Code = keyof typeof CATALOGUE;
export const CODES = Object.keys(CATALOGUE) as Code[];

const PASSED_THROUGH = new Set([400, 401, 403, 404, 407, 429, 500, 502, 503, 504]);

/** The code for a status the upstream itself answered with. */
export function codeForUpstreamStatus(status: number): Code {
  if (status < 400) return 'ok';
  if (PASSED_THROUGH.has(status)) return `upstream_${status}` as Code;
  return status < 500 ? 'upstream_4xx' : 'upstream_5xx';
}
