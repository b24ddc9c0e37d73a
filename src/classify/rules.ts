// Node's error codes → catalogue codes, by the hop the error surfaced at. This is the only
// place a Node error is interpreted; the connector and front-ends hand errors here.
import type { Hop } from '../exchange/hops.ts';
import type { Code } from './catalogue.ts';
import { HopFailure, type ProxyStatusParams } from './failure.ts';
import { alertIdFromOpenSsl, alertName } from './tls-alerts.ts';

type Rule = readonly [codes: readonly string[], code: Code];

const DNS_RULES: readonly Rule[] = [
  [['ENOTFOUND', 'EBADNAME', 'ENONAME'], 'dns_nxdomain'],
  [['ENODATA'], 'dns_nodata'],
  [['ETIMEOUT'], 'dns_timeout'],
  [['ESERVFAIL', 'EREFUSED', 'EAI_AGAIN', 'EAI_FAIL', 'ECONNREFUSED', 'EBADRESP', 'EFORMERR', 'ENOTIMP'], 'dns_server_failure'],
];

const CONNECT_RULES: readonly Rule[] = [
  [['ECONNREFUSED'], 'connect_refused'],
  [['ETIMEDOUT'], 'connect_timeout'],
  [['ENETUNREACH', 'ENETDOWN'], 'net_unreachable'],
  [['EHOSTUNREACH', 'EHOSTDOWN'], 'host_unreachable'],
  [['ECONNRESET', 'EPIPE'], 'upstream_closed'],
];

const TLS_CERT_RULES: readonly Rule[] = [
  [['CERT_HAS_EXPIRED'], 'tls_cert_expired'],
  [['CERT_NOT_YET_VALID'], 'tls_cert_not_yet_valid'],
  [['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH'], 'tls_cert_hostname_mismatch'],
  [
    [
      'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_REJECTED',
      'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA', 'CERT_REVOKED',
    ],
    'tls_cert_untrusted',
  ],
];

// undici (the upstream HTTP client) names a closed connection UND_ERR_SOCKET ("other side closed").
const UPSTREAM_RULES: readonly Rule[] = [
  [['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED'], 'upstream_closed'],
  [['UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_INFO'], 'upstream_bad_response'],
  [['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'], 'request_malformed'],
];

function match(rules: readonly Rule[], code: string): Code | undefined {
  for (const [codes, result] of rules) if (codes.includes(code)) return result;
  return undefined;
}

const RCODES: Readonly<Record<string, string>> = {
  ENOTFOUND: 'NXDOMAIN', ENODATA: 'NODATA', ESERVFAIL: 'SERVFAIL', EREFUSED: 'REFUSED',
  EFORMERR: 'FORMERR', ENOTIMP: 'NOTIMP',
};

/** The RFC 8499 RCODE name a resolver error code stands for, when it stands for one. */
export function rcodeOf(nodeCode: string): string | undefined {
  return RCODES[nodeCode];
}

function fromGetaddrinfo(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { syscall?: unknown }).syscall === 'getaddrinfo';
}

function describe(err: unknown): { code: string; message: string } {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; errors?: unknown; name?: unknown };
    // Node's connect with several addresses reports an AggregateError with an empty message.
    if (Array.isArray(e.errors) && e.errors.length) return describe(e.errors.at(-1));
    let code = typeof e.code === 'string' ? e.code : '';
    // undici's response parser errors carry no code (its llhttp error table is not reversed).
    if (!code && e.name === 'HTTPParserError') code = 'HPE_INVALID_RESPONSE';
    return { code, message: typeof e.message === 'string' ? e.message : String(err) };
  }
  return { code: '', message: String(err) };
}

/** A tls_alert failure when `code` is OpenSSL's report of a received alert. */
function alertFailure(code: string, detail: string, options: { hop: Hop; cause: unknown }): HopFailure | undefined {
  const alertId = alertIdFromOpenSsl(code);
  if (alertId === undefined) return undefined;
  return new HopFailure('tls_alert', detail, { ...options, params: { 'alert-id': alertId, 'alert-message': alertName(alertId) } });
}

/** Turns whatever a stage threw at `hop` into a classified failure. */
export function classify(hop: Hop, err: unknown): HopFailure {
  if (err instanceof HopFailure) return err;
  const { code, message } = describe(err);
  const detail = code && !message.includes(code) ? `${code}: ${message}` : message;
  const options = { hop, cause: err } as { hop: Hop; cause: unknown; params?: ProxyStatusParams };
  switch (hop) {
    case 'dns': {
      const result = match(DNS_RULES, code);
      if (result) {
        // getaddrinfo's ENOTFOUND stands for NXDOMAIN, NODATA and an /etc/hosts miss alike: no
        // rcode was received, so none is claimed (RFC 9209's rcode is the one the proxy got).
        const rcode = fromGetaddrinfo(err) ? undefined : rcodeOf(code);
        if (rcode) options.params = { rcode };
        return new HopFailure(result, detail, options);
      }
      break;
    }
    case 'connect': {
      const result = match(CONNECT_RULES, code);
      if (result) return new HopFailure(result, detail, options);
      break;
    }
    case 'tls': {
      const alert = alertFailure(code, detail, options);
      if (alert) return alert;
      const cert = match(TLS_CERT_RULES, code);
      if (cert) return new HopFailure(cert, detail, options);
      return new HopFailure('tls_protocol_error', detail, options);
    }
    case 'upstream': {
      // TLS 1.3 servers judge a client certificate after the client's handshake is done, so
      // their refusal (certificate_required, bad_certificate …) arrives with the request.
      const alert = alertFailure(code, detail, { ...options, hop: 'tls' });
      if (alert) return alert;
      if (code.startsWith('HPE_')) return new HopFailure('upstream_bad_response', detail, options);
      const result = match(UPSTREAM_RULES, code);
      if (result) return new HopFailure(result, detail, options);
      break;
    }
    case 'deliver': {
      // Whatever broke the upstream side mid-response (reset, bad chunking, a TLS error),
      // the client got a truncated response.
      if (code) return new HopFailure('response_incomplete', detail, options);
      break;
    }
    default:
      break;
  }
  return new HopFailure('internal_error', detail, options);
}
