// The closed list of hops an exchange walks through, in lifecycle order. Every timing,
// failure and metric label names one of these; nothing else is a hop.
export const HOPS = ['client', 'parse', 'auth', 'policy', 'dns', 'connect', 'tls', 'upstream', 'deliver'] as const;
export type Hop = (typeof HOPS)[number];

export const PROTOCOLS = ['http', 'connect', 'socks5'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
