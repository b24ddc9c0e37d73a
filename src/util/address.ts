// Small parsers for the address forms users type in config and requests.
import { isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

/** "host:port", "[v6]:port", or "host" with a default port; undefined when malformed. */
export function parseHostPort(text: string, defaultPort?: number): HostPort | undefined {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest && !rest.startsWith(':')) return undefined;
    portText = rest ? rest.slice(1) : undefined;
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0 && text.indexOf(':') !== colon) {
      // a bare IPv6 address without brackets carries no port
      if (isIP(text) !== 6) return undefined;
      host = text;
    } else {
      host = colon >= 0 ? text.slice(0, colon) : text;
      portText = colon >= 0 ? text.slice(colon + 1) : undefined;
    }
  }
  if (!host) return undefined;
  const port = portText === undefined ? defaultPort : parsePort(portText);
  if (port === undefined) return undefined;
  return { host, port };
}

/** A decimal port 1–65535, or undefined. */
export function parsePort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** "443" or "1024-65535" → [low, high]; undefined when malformed or out of range. */
export function parsePortRange(text: string): [number, number] | undefined {
  const [lowText = '', highText, extra] = text.split('-');
  if (extra !== undefined) return undefined;
  const low = parsePort(lowText);
  const high = highText === undefined ? low : parsePort(highText);
  if (low === undefined || high === undefined || low > high) return undefined;
  return [low, high];
}

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** "10.0.0.0/8", "::1/128" or a bare address (a single-host range). */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const version = isIP(address);
  if (!version) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * An IPv4-mapped IPv6 address as IPv4, in either text form: "::ffff:10.0.0.1" and the hex form
 * "::ffff:a00:1" the WHATWG URL parser produces. Anything else is returned unchanged.
 */
export function unmapIPv4(address: string): string {
  const lower = address.toLowerCase();
  if (!lower.startsWith('::ffff:') || isIP(address) !== 6) return address;
  const rest = lower.slice(7);
  if (isIP(rest) === 4) return rest;
  const groups = rest.split(':');
  if (groups.length !== 2 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return address;
  const [high, low] = groups.map((g) => parseInt(g, 16)) as [number, number];
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * Whether `host` can be a DNS name (letters, digits, hyphens, underscores, dots; labels up to
 * 63, all up to 253): control characters, spaces or `@` in a target are refused as invalid
 * before they reach a resolver, a log line or a header.
 */
export function isHostName(host: string): boolean {
  return host.length <= 253 && /^(?!-)[A-Za-z0-9_-]{1,63}(?:\.(?!-)[A-Za-z0-9_-]{1,63})*\.?$/.test(host);
}

/** "host:port" for logs and Proxy-Status, with brackets around IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
