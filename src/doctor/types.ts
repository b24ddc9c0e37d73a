// What `hopwatch doctor` finds, layer by layer, in the order the proxy error guide's framework
// tests them: the name, each address, TLS, the origin directly, then the same request through
// the proxy, then the proxy's own view. The JSON output is exactly these objects.
import type { Code } from '../classify/catalogue.ts';

export const LAYERS = ['dns', 'tcp', 'tls', 'http', 'proxy', 'socks', 'health'] as const;
export type LayerName = (typeof LAYERS)[number];

/**
 * ok: passed. degraded: works, but part of it failed (one of several addresses refuses), which
 * still fails the clients that land there. failed. skipped: not asked for, or a layer it needs failed.
 */
export type LayerStatus = 'ok' | 'degraded' | 'failed' | 'skipped';

/** Who has to act: the guide's "understanding which layer owns the problem". */
export type Owner = 'network' | 'upstream' | 'proxy' | 'client';

export interface LayerBase {
  status: LayerStatus;
  /** Wall time of the whole layer. */
  ms: number;
  code?: Code;
  detail?: string;
  /** Observations that do not fail the layer (a risk indicator crossed, why it was skipped). */
  notes: string[];
}

export interface Address {
  address: string;
  family: 4 | 6;
}

export interface DnsLayer extends LayerBase {
  layer: 'dns';
  answers: Address[];
  rcode?: string;
  /** The resolver asked: "system" (getaddrinfo, diagnosed with c-ares) or ip[:port]. */
  server: string;
}

export interface TcpAttempt extends Address {
  port: number;
  outcome: 'connected' | Code;
  ms: number;
  detail?: string;
}

export interface TcpLayer extends LayerBase {
  layer: 'tcp';
  attempts: TcpAttempt[];
}

export interface CertificateFacts {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  validity: 'valid' | 'expired' | 'not_yet_valid';
  /** Whole days until validTo (negative once expired). */
  daysLeft: number;
  names: string[];
  coversHost: boolean;
}

export interface TlsLayer extends LayerBase {
  layer: 'tls';
  address?: string;
  sni?: string;
  version?: string;
  certificate?: CertificateFacts;
}

/** An HTTP answer as the doctor saw it. */
export interface HttpAnswer {
  /** The HTTP status (`status` is the layer's verdict). */
  httpStatus?: number;
  /** Request written → response headers. */
  ttfbMs?: number;
  /** Request written → body complete. */
  totalMs?: number;
}

export interface HttpLayer extends LayerBase, HttpAnswer {
  layer: 'http';
  address?: string;
}

/** How far a proxied attempt got, so a failure reaching the proxy is told from one behind it. */
export type ProxyStage = 'proxy_connect' | 'proxy_handshake' | 'tls' | 'request';

export interface ProxyLayer extends LayerBase, HttpAnswer {
  layer: 'proxy';
  /** The proxy URL without its password. */
  proxy: string;
  mode: 'absolute-form' | 'connect';
  stage: ProxyStage;
  /** The CONNECT answer's status (https targets). */
  connectStatus?: number;
  proxyStatus?: string;
  /** The RFC 9209 error type parsed from Proxy-Status. */
  proxyError?: string;
  requestId?: string;
}

export interface SocksLayer extends LayerBase, HttpAnswer {
  layer: 'socks';
  proxy: string;
  stage: ProxyStage;
  /** The method the server chose (0x00 none, 0x02 username/password, 0xff none acceptable). */
  method?: number;
  reply?: number;
  replyMeaning?: string;
  /** Catalogue codes hopwatch answers with this reply, when the reply alone does not name one. */
  candidates?: Code[];
}

export interface HealthLayer extends LayerBase {
  layer: 'health';
  admin: string;
  healthz?: number;
  readyz?: number;
  /** Findings from GET /errors that mention this destination; null when /errors does not exist. */
  findings: unknown[] | null;
}

export type LayerResult = DnsLayer | TcpLayer | TlsLayer | HttpLayer | ProxyLayer | SocksLayer | HealthLayer;

export interface Latency {
  directTtfbMs: number | null;
  proxyTtfbMs: number | null;
  socksTtfbMs: number | null;
  /** Through-proxy ttfb minus direct ttfb (the proxy when both ran, else SOCKS). */
  overheadMs: number | null;
  ratio: number | null;
}

export interface Verdict {
  healthy: boolean;
  layer: LayerName | null;
  code: Code | null;
  owner: Owner | null;
  cause: string | null;
  action: string | null;
  summary: string;
  latency: Latency;
}

export interface Target {
  url: string;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** Path and query, as sent. */
  path: string;
}

export interface DoctorReport {
  target: Target;
  layers: LayerResult[];
  verdict: Verdict;
}
