// SOCKS5 addresses on the wire (RFC 1928 §5): ATYP plus 4 or 16 raw bytes. IPv6 text is written
// the way Node reports addresses (RFC 5952, IPv4-mapped as ::ffff:a.b.c.d), so that a destination
// the client sent round-trips exactly into logs, policy checks and loop detection.
import { isIP, isIPv4 } from 'node:net';

export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

export function formatIpv4(bytes: Buffer): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** 16 bytes → RFC 5952 text: lower case, the longest run of two or more zero groups as "::". */
export function formatIpv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(bytes.readUInt16BE(i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatIpv4(bytes.subarray(12))}`;
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}

/** IPv6 text (with "::", an embedded IPv4 tail or a zone) → 16 bytes. */
export function ipv6Bytes(text: string): Buffer {
  let s = text.split('%')[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const parts = (p: string) => (p ? p.split(':') : []);
  const missing = tail === undefined ? 0 : 8 - parts(head).length - parts(tail).length;
  const groups = [...parts(head), ...Array<string>(missing).fill('0'), ...parts(tail ?? '')];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** ATYP + address + port as a reply carries it; IPv4-mapped addresses go as IPv4. */
export function encodeAddress(address: string | undefined, port: number | undefined): Buffer {
  let text = address ?? '';
  if (text.startsWith('::ffff:') && isIPv4(text.slice(7))) text = text.slice(7);
  const family = isIP(text);
  const out = Buffer.alloc(family === 6 ? 19 : 7);
  if (family === 6) {
    out[0] = ATYP_IPV6;
    ipv6Bytes(text).copy(out, 1);
  } else {
    out[0] = ATYP_IPV4;
    if (family === 4) text.split('.').forEach((part, i) => (out[1 + i] = Number(part)));
  }
  out.writeUInt16BE(port ?? 0, out.length - 2);
  return out;
}
