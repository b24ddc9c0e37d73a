// `hopwatch doctor URL [options]` → validated options. Every mistake is a usage error (exit 2)
// before anything touches the network, so a typo never reads as a failing layer.
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import type { Target } from './types.ts';

export const DOCTOR_USAGE = `Usage: hopwatch doctor URL [options]

Tests one http:// or https:// URL layer by layer (DNS, TCP to each address, TLS, the origin
directly, then the same request through the proxy) and says which layer fails and who owns it.

  --proxy URL          http://[user:pass@]host:port: also send the request through this HTTP proxy
  --socks URL          socks5h://[user:pass@]host:port (the proxy resolves the name) or socks5://
  --admin URL          hopwatch's admin listener (http://host:9464): /healthz, /readyz, /errors
  --dns-server IP[:PORT]  ask this resolver instead of the system's
  --timeout MS         per network step (default 5000)
  --json               one JSON object instead of progress lines
Exit: 0 every layer passed, 1 a layer failed or is degraded, 2 usage error.
`;

export const DEFAULT_TIMEOUT_MS = 5_000;

export class DoctorUsageError extends Error {}

export interface ProxyEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** The URL as shown: no password. */
  display: string;
  /** socks5h: the proxy resolves the name; socks5: the doctor sends the address it resolved. */
  remoteDns: boolean;
}

export interface DoctorOptions {
  target: Target;
  proxy?: ProxyEndpoint;
  socks?: ProxyEndpoint;
  admin?: string;
  json: boolean;
  timeoutMs: number;
  dnsServer?: string;
  /** Extra trusted roots (PEM), for in-process callers; the CLI honours NODE_EXTRA_CA_CERTS. */
  ca?: string;
}

export type ParsedArgs = { help: true } | { help: false; options: DoctorOptions };

export function parseDoctorArgs(argv: readonly string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        proxy: { type: 'string' },
        socks: { type: 'string' },
        admin: { type: 'string' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        'dns-server': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new DoctorUsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length !== 1) throw new DoctorUsageError(positionals.length ? `one URL, not ${positionals.length}` : 'a URL to diagnose is required');
  const options: DoctorOptions = {
    target: parseTarget(positionals[0]!),
    json: values.json ?? false,
    timeoutMs: parseTimeout(values.timeout),
  };
  if (values.proxy !== undefined) options.proxy = parseEndpoint(values.proxy, ['http:'], '--proxy');
  if (values.socks !== undefined) options.socks = parseEndpoint(values.socks, ['socks5h:', 'socks5:'], '--socks');
  if (values.admin !== undefined) options.admin = parseAdmin(values.admin);
  if (values['dns-server'] !== undefined) options.dnsServer = parseDnsServer(values['dns-server']);
  return { help: false, options };
}

function parseUrl(text: string, what: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new DoctorUsageError(`${what}: not a URL: ${text}`);
  }
}

/** URL hosts keep IPv6 brackets; sockets and DNS want the bare address. */
function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

export function parseTarget(text: string): Target {
  const url = parseUrl(text, 'URL');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DoctorUsageError(`URL: only http:// and https:// (got ${url.protocol})`);
  if (!url.hostname) throw new DoctorUsageError('URL: no host');
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  // userinfo is never sent anywhere: the doctor tests reachability, not origin credentials.
  const shown = new URL(url.href);
  shown.username = '';
  shown.password = '';
  return { url: shown.href, scheme, host: bareHost(url), port, path: `${url.pathname}${url.search}` };
}

function parseEndpoint(text: string, schemes: readonly string[], flag: string): ProxyEndpoint {
  const url = parseUrl(text, flag);
  if (!schemes.includes(url.protocol)) throw new DoctorUsageError(`${flag}: expected ${schemes.map((s) => `${s}//`).join(' or ')} (got ${url.protocol}//)`);
  if (!url.port) throw new DoctorUsageError(`${flag}: the port is required (${text})`);
  const endpoint: ProxyEndpoint = {
    host: bareHost(url),
    port: Number(url.port),
    display: `${url.protocol}//${url.username ? `${url.username}:***@` : ''}${url.host}`,
    remoteDns: url.protocol !== 'socks5:',
  };
  if (url.username) {
    endpoint.username = decodeURIComponent(url.username);
    endpoint.password = decodeURIComponent(url.password);
  }
  return endpoint;
}

function parseAdmin(text: string): string {
  const url = parseUrl(text, '--admin');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DoctorUsageError(`--admin: expected http://host:port (got ${text})`);
  return url.origin;
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TIMEOUT_MS;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms <= 0) throw new DoctorUsageError(`--timeout: a positive number of milliseconds (got ${text})`);
  return ms;
}

function parseDnsServer(text: string): string {
  // The Resolver takes "ip" or "ip:port" (and "[v6]:port"), as dns.servers does.
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  const host = match?.[1] ?? text;
  const port = match?.[2];
  if (!isIP(host) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
    throw new DoctorUsageError(`--dns-server: an IP address with an optional port (got ${text})`);
  }
  return text;
}
