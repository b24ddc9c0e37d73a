// Reading the request target of a proxy request: absolute-form for forwarding (RFC 9112 §3.2.2)
// and authority-form for CONNECT (§3.2.3). Userinfo in a URL is dropped here, so it can reach
// neither an upstream nor a log line.
import { HopFailure } from '../classify/failure.ts';
import { isIP } from 'node:net';
import { isHostName, parseHostPort } from '../util/address.ts';

export interface ForwardTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** Value for the upstream Host header: the authority without userinfo. */
  authority: string;
  /** Path and query, as sent upstream. */
  pathAndQuery: string;
  /** Path without the query, for logs. */
  path: string;
}

const DEFAULT_PORTS = { http: 80, https: 443 } as const;

export function parseForwardTarget(url: string): ForwardTarget | HopFailure {
  if (url.startsWith('/') || url === '*') {
    return new HopFailure('invalid_target', 'origin-form request: hopwatch is a forward proxy, send the absolute URL (set it as HTTP_PROXY)');
  }
  const colon = url.indexOf(':');
  const scheme = colon > 0 ? url.slice(0, colon).toLowerCase() : '';
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) return new HopFailure('invalid_target', 'the request target is not an absolute URL');
  if (scheme !== 'http' && scheme !== 'https') {
    return new HopFailure('unsupported_scheme', `scheme ${scheme.slice(0, 20)}:// is not supported; use http, https, CONNECT or SOCKS5`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return new HopFailure('invalid_target', 'the request target is not a valid URL');
  }
  if (!parsed.hostname) return new HopFailure('invalid_target', 'the URL names no host');
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  const port = parsed.port ? Number(parsed.port) : DEFAULT_PORTS[scheme];
  if (port === 0) return new HopFailure('invalid_target', 'port 0 is not a destination');
  const badHost = invalidHost(host);
  if (badHost) return badHost;
  return {
    scheme,
    host,
    port,
    authority: parsed.host,
    pathAndQuery: parsed.pathname + parsed.search,
    path: parsed.pathname,
  };
}

export function parseConnectTarget(authority: string): { host: string; port: number } | HopFailure {
  const target = parseHostPort(authority);
  if (!target) {
    return new HopFailure('invalid_target', 'CONNECT needs host:port (for example CONNECT example.com:443)');
  }
  return invalidHost(target.host) ?? target;
}

/**
 * Every front-end's check of a target host before any upstream work: an IP literal or a DNS
 * name. The host is not echoed: what fails here (`password@host`, control bytes) may be a secret
 * or an injection attempt.
 */
export function invalidHost(host: string): HopFailure | undefined {
  if (isIP(host) || isHostName(host)) return undefined;
  return new HopFailure('invalid_target', 'the target host is neither an IP address nor a valid DNS name (userinfo, spaces and control characters are refused)');
}
