// Checks the schema cannot express: address syntax, port ranges, listeners that would collide,
// and a proxy that would be open to anyone by accident.
import { isIP } from 'node:net';
import { parseCidr, parseHostPort, parsePortRange } from '../util/address.ts';
import { isHashed, parseHash } from '../policy/passwords.ts';
import type { Config } from './schema.ts';

/** A destination rule: a CIDR, a host name, or a suffix (".example.com"). */
const HOST_RULE = /^\.?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i;

export function checkSemantics(config: Config): string[] {
  const problems: string[] = [];
  config.dns.servers.forEach((server, i) => {
    const hp = parseHostPort(server, 53);
    if (!hp || !isIP(hp.host)) problems.push(`/dns/servers/${i}: must be an IP address with an optional port ("10.0.0.2", "[::1]:5353")`);
  });
  config.access.allowClients.forEach((cidr, i) => {
    if (!parseCidr(cidr)) problems.push(`/access/allowClients/${i}: must be an address or CIDR ("10.0.0.0/8", "::1/128")`);
  });
  config.access.denyDestinations.forEach((rule, i) => {
    if (!parseCidr(rule) && !HOST_RULE.test(rule)) {
      problems.push(`/access/denyDestinations/${i}: must be a CIDR ("10.0.0.0/8"), a host name ("api.example.com") or a suffix (".example.com")`);
    }
  });
  config.access.allowPorts.forEach((range, i) => {
    if (!parsePortRange(range)) problems.push(`/access/allowPorts/${i}: must be a port 1-65535 or a range "low-high" with low <= high`);
  });
  config.auth.users.forEach((user, i) => {
    if (isHashed(user.password) && !parseHash(user.password)) {
      problems.push(`/auth/users/${i}/password: starts like a hopwatch hash but is not a valid one (make it again with \`hopwatch hash-password\`)`);
    }
  });
  const names = new Set<string>();
  config.auth.users.forEach((user, i) => {
    if (names.has(user.username)) problems.push(`/auth/users/${i}/username: ${JSON.stringify(user.username)} is listed twice`);
    names.add(user.username);
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
  problems.push(...openProxyProblems(config));
  return problems;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Whether access.allowClients admits every IPv4 or every IPv6 address. */
export function allowsEveryone(config: Config): boolean {
  return config.access.allowClients.some((c) => parseCidr(c)?.prefix === 0);
}

/**
 * No open proxy by accident: a proxy listener reachable from other machines needs users or an
 * allow-list narrower than everyone, unless the config says the openness is intended.
 */
function openProxyProblems(config: Config): string[] {
  if (config.allowOpenProxy || config.auth.users.length || !allowsEveryone(config)) return [];
  const problems: string[] = [];
  for (const name of ['http', 'socks'] as const) {
    const listener = config[name];
    if (!listener.enabled || isLoopbackHost(listener.host)) continue;
    problems.push(
      `/${name}/host: ${listener.host} is reachable from other machines, and with no auth.users and access.allowClients ` +
        'admitting every address anyone could use this proxy: add auth.users, narrow access.allowClients, ' +
        'bind 127.0.0.1, or set allowOpenProxy: true if that is intended',
    );
  }
  return problems;
}
