// Access policy, for every front-end: which clients may use the proxy (decided before any
// credentials are asked for), which destinations and tunnel ports they may reach. Destination
// addresses are checked on the name and again on every address DNS returned, so a public name
// resolving to a private range cannot slip through (the SSRF case).
import { BlockList, isIP } from 'node:net';
import { HopFailure } from '../classify/failure.ts';
import type { Config } from '../config/schema.ts';
import type { Lifecycle } from '../exchange/lifecycle.ts';
import { formatHostPort, parseCidr, parsePortRange, unmapIPv4 } from '../util/address.ts';

/** Private, loopback, link-local, CGNAT, multicast and reserved ranges, and cloud metadata. */
export const PRIVATE_RANGES = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
  '192.0.0.0/24', '192.168.0.0/16', '198.18.0.0/15', '224.0.0.0/4', '240.0.0.0/4',
  '::/128', '::1/128', '64:ff9b:1::/48', 'fc00::/7', 'fe80::/10', 'ff00::/8',
] as const;
/** Names that reach the local machine or a cloud metadata service whatever DNS says. */
const PRIVATE_NAMES = ['localhost', '.localhost', 'metadata.google.internal', 'metadata.goog'] as const;

/** "::ffff:10.0.0.1" (or "::ffff:a00:1") is 10.0.0.1: ranges are checked on the IPv4 form. */
export function normalizeAddress(address: string): string {
  return unmapIPv4(address);
}

function blockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    if (cidr) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list;
}

function contains(list: BlockList, address: string): boolean {
  const normalized = normalizeAddress(address);
  const family = isIP(normalized);
  return family !== 0 && list.check(normalized, family === 6 ? 'ipv6' : 'ipv4');
}

/** Exact names and suffixes (".example.com" also covers example.com itself). */
function nameMatcher(rules: readonly string[]): (host: string) => string | undefined {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const rule of rules) {
    const name = rule.toLowerCase().replace(/\.$/, '');
    if (name.startsWith('.')) suffixes.push(name);
    else exact.add(name);
  }
  return (host) => {
    const name = host.toLowerCase().replace(/\.$/, '');
    if (exact.has(name)) return name;
    return suffixes.find((s) => name.endsWith(s) || name === s.slice(1));
  };
}

export class AccessPolicy {
  private readonly clients: BlockList;
  readonly everyClient: boolean;
  private readonly deniedRanges: BlockList;
  private readonly privateRanges: BlockList | undefined;
  private readonly deniedName: (host: string) => string | undefined;
  private readonly privateName: ((host: string) => string | undefined) | undefined;
  private readonly ports: Array<[number, number]>;

  constructor(access: Config['access']) {
    this.clients = blockList(access.allowClients);
    this.everyClient =
      access.allowClients.some((c) => parseCidr(c)?.prefix === 0 && parseCidr(c)?.family === 'ipv4') &&
      access.allowClients.some((c) => parseCidr(c)?.prefix === 0 && parseCidr(c)?.family === 'ipv6');
    this.deniedRanges = blockList(access.denyDestinations.filter((d) => parseCidr(d)));
    this.deniedName = nameMatcher(access.denyDestinations.filter((d) => !parseCidr(d)));
    this.privateRanges = access.denyPrivateDestinations ? blockList(PRIVATE_RANGES) : undefined;
    this.privateName = access.denyPrivateDestinations ? nameMatcher(PRIVATE_NAMES) : undefined;
    this.ports = access.allowPorts.map((p) => parsePortRange(p)!).filter(Boolean);
  }

  clientAllowed(ip: string): boolean {
    return this.everyClient || contains(this.clients, ip);
  }

  portAllowed(port: number): boolean {
    return this.ports.some(([low, high]) => port >= low && port <= high);
  }

  /** The reason an address is refused, or undefined. */
  addressDenied(address: string): string | undefined {
    if (contains(this.deniedRanges, address)) return 'access.denyDestinations';
    if (this.privateRanges && contains(this.privateRanges, address)) return 'access.denyPrivateDestinations';
    return undefined;
  }

  /** Checks a destination as named in the request (a host name or an IP literal). */
  destinationDenied(host: string, port: number): HopFailure | undefined {
    if (isIP(host)) {
      const rule = this.addressDenied(host);
      return rule ? new HopFailure('destination_ip_denied', `${formatHostPort(host, port)} is in a range refused by ${rule}`) : undefined;
    }
    const byName = this.deniedName(host);
    if (byName) return new HopFailure('destination_denied', `${host} matches ${byName} in access.denyDestinations`);
    const privateName = this.privateName?.(host);
    if (privateName) return new HopFailure('destination_denied', `${host} is a local or metadata name refused by access.denyPrivateDestinations`);
    return undefined;
  }
}

/** `current` is read for every exchange, so a reload swaps the rules without re-registering. */
export function registerAccess(lifecycle: Lifecycle, current: () => AccessPolicy): void {
  // Before credentials are asked for: a client that may not use the proxy learns nothing more.
  lifecycle.intercept('client', (ex) => {
    // No peer address: the connection was reset before it was accepted (getpeername fails on a
    // dead socket). The client is gone, not denied; calling it client_denied sent people
    // looking for an allow-list problem they did not have (found by the fuzzer's resets).
    if (ex.clientIp === '') return new HopFailure('client_abort', 'the client reset its connection before it was accepted');
    return current().clientAllowed(ex.clientIp) ? undefined : new HopFailure('client_denied', `client ${ex.clientIp} is not in access.allowClients`);
  });
  lifecycle.intercept('policy', (ex) => {
    const policy = current();
    if (ex.host === undefined || ex.port === undefined) return undefined;
    if (ex.protocol !== 'http' && !policy.portAllowed(ex.port)) {
      return new HopFailure('port_denied', `tunnels to port ${ex.port} are not in access.allowPorts`);
    }
    return policy.destinationDenied(ex.host, ex.port);
  });
  // Again after DNS, on every address: the name said nothing about where it points.
  lifecycle.intercept('connect', (ex) => {
    if (!ex.resolved || ex.port === undefined) return undefined;
    const policy = current();
    for (const address of ex.resolved) {
      const rule = policy.addressDenied(address);
      if (rule) {
        return new HopFailure('destination_ip_denied', `${ex.host} resolves to ${formatHostPort(address, ex.port)}, refused by ${rule}`);
      }
    }
    return undefined;
  });
}
