// Checks the schema cannot express: address syntax and listeners that would collide.
import { isIP } from 'node:net';
import { parseCidr, parseHostPort } from '../util/address.ts';
import type { Config } from './schema.ts';

export function checkSemantics(config: Config): string[] {
  const problems: string[] = [];
  config.dns.servers.forEach((server, i) => {
    const hp = parseHostPort(server, 53);
    if (!hp || !isIP(hp.host)) problems.push(`/dns/servers/${i}: must be an IP address with an optional port ("10.0.0.2", "[::1]:5353")`);
  });
  config.access.allowClients.forEach((cidr, i) => {
    if (!parseCidr(cidr)) problems.push(`/access/allowClients/${i}: must be an address or CIDR ("10.0.0.0/8", "::1/128")`);
  });
  const bound = new Map<string, string>();
  for (const name of ['http', 'socks', 'admin'] as const) {
    const listener = config[name];
    if (!listener.enabled || listener.port === 0) continue;
    const key = `${listener.host}:${listener.port}`;
    const other = bound.get(key);
    if (other) problems.push(`/${name}/port: ${key} is already used by /${other}`);
    else bound.set(key, name);
  }
  return problems;
}
