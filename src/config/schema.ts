// The one description of hopwatch's configuration: TypeBox gives both the JSON Schema
// (validated by ajv, published as config/schema.json) and the static type, so they cannot drift.
// Every object carries `default: {}` so ajv's useDefaults fills nested sections that are absent.
import { Type, type Static } from '@sinclair/typebox';

const Port = Type.Integer({ minimum: 0, maximum: 65535, description: '0 picks a free port' });
const Host = Type.String({ minLength: 1, description: 'address to bind' });
const Millis = (def: number, description: string) =>
  Type.Integer({ minimum: 1, maximum: 86_400_000, default: def, description });
const Section = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, default: {}, description });

// An RFC 8941 token, because the name is sent as the Proxy-Status member and in Via.
const ProxyName = Type.String({
  pattern: "^[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]{0,63}$",
  default: 'hopwatch',
  description: 'name this proxy uses in Proxy-Status and Via (an RFC 8941 token)',
});

const Listener = (host: string, port: number, enabled: boolean, what: string) =>
  Section(
    {
      enabled: Type.Boolean({ default: enabled }),
      host: Type.String({ ...Host, default: host }),
      port: Type.Integer({ ...Port, default: port }),
    },
    what,
  );

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const Cidr = Type.String({ minLength: 1, description: 'an address or CIDR, e.g. 10.0.0.0/8 or ::1/128' });

export const ConfigSchema = Type.Object(
  {
    proxyName: ProxyName,
    http: Listener('127.0.0.1', 8080, true, 'HTTP forward proxy and CONNECT listener'),
    socks: Listener('127.0.0.1', 1080, false, 'SOCKS5 listener (RFC 1928; CONNECT, no-auth or username/password)'),
    admin: Listener('127.0.0.1', 9464, true, 'admin listener: /metrics, /healthz, /readyz'),
    workers: Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')], {
      default: 1,
      description:
        'proxy processes sharing the listeners: 1 runs one process; N > 1 runs a primary that forks N workers ' +
        '(metrics, reload and shutdown reach all of them); "auto" is one per CPU this process may use',
    }),
    shutdownGraceMs: Type.Integer({
      minimum: 0,
      maximum: 3_600_000,
      default: 10_000,
      description: 'on SIGTERM: how long in-flight requests, tunnels and SOCKS sessions may finish before they are cut',
    }),
    allowOpenProxy: Type.Boolean({
      default: false,
      description: 'allow a proxy listener on a non-loopback address with no users and every client allowed',
    }),
    auth: Section(
      {
        users: Type.Array(
          Type.Object(
            {
              // RFC 1929 carries each in at most 255 bytes.
              username: Type.String({ minLength: 1, maxLength: 255 }),
              password: Type.String({
                minLength: 1,
                maxLength: 1024,
                description: 'the password, or a hash from `hopwatch hash-password` (scrypt$…)',
              }),
            },
            { additionalProperties: false },
          ),
          { default: [], description: 'proxy users; when any is set, every front-end requires credentials' },
        ),
        realm: Type.String({
          // printable ASCII without `"` and `\`, so it needs no escaping inside the quoted realm
          pattern: '^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]{1,64}$',
          default: 'hopwatch',
          description: 'realm in Proxy-Authenticate',
        }),
      },
      'proxy authentication',
    ),
    access: Section(
      {
        allowClients: Type.Array(Cidr, {
          default: ['127.0.0.0/8', '::1/128'],
          description: 'client addresses allowed to use the proxy; others get 403 (SOCKS: refused)',
        }),
        denyDestinations: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description: 'destinations refused: CIDRs (checked on every resolved address), host names, or suffixes (".example.com")',
        }),
        denyPrivateDestinations: Type.Boolean({
          default: false,
          description: 'also refuse private, loopback, link-local, CGNAT and cloud-metadata destinations (SSRF protection)',
        }),
        allowPorts: Type.Array(Type.String({ pattern: '^[0-9]{1,5}(-[0-9]{1,5})?$' }), {
          default: ['80', '443', '1024-65535'],
          description: 'ports CONNECT and SOCKS5 tunnels may reach: single ports or ranges ("1024-65535")',
        }),
      },
      'access policy',
    ),
    dns: Section(
      {
        servers: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description:
            'resolver addresses ("ip" or "ip:port") queried directly instead of the system resolver; ' +
            'empty uses the system resolver (and /etc/hosts)',
        }),
      },
      'name resolution',
    ),
    timeouts: Section(
      {
        requestHeadersMs: Millis(10_000, 'a client must send its request headers within this time (408)'),
        handshakeMs: Millis(10_000, 'a SOCKS5 client must finish its greeting, authentication and request within this time'),
        dnsMs: Millis(5_000, 'name resolution (dns_timeout, 504)'),
        connectMs: Millis(10_000, 'TCP connect to the upstream, all addresses together (connect_timeout, 504)'),
        tlsMs: Millis(10_000, 'TLS handshake with the upstream, also watched inside CONNECT tunnels (tls_timeout, 504)'),
        responseMs: Millis(30_000, 'upstream response headers after the request was sent (response_timeout, 504)'),
        idleMs: Millis(60_000, 'no bytes either way on a response body or tunnel (idle_timeout)'),
        keepAliveMs: Millis(5_000, 'idle client keep-alive connections are closed after this'),
        maxTunnelMs: Type.Integer({
          minimum: 0,
          maximum: 2_592_000_000,
          default: 0,
          description: 'CONNECT tunnels and SOCKS5 sessions are closed after this long, busy or not (tunnel_max_duration); 0: no limit',
        }),
      },
      'timeouts in milliseconds',
    ),
    limits: Section(
      {
        maxConnections: Type.Integer({
          minimum: 1,
          maximum: 1_000_000,
          default: 10_000,
          description: 'client connections over all front-ends; more are answered 503 (connection_limit)',
        }),
        maxConnectionsPerClient: Type.Integer({
          minimum: 1,
          maximum: 1_000_000,
          default: 1_000,
          description: 'client connections from one address over all front-ends; more are answered 429 (client_connection_limit)',
        }),
        maxHeaderBytes: Type.Integer({
          minimum: 1024,
          maximum: 1_048_576,
          default: 16_384,
          description: 'request header section size; larger gets 431',
        }),
      },
      'limits',
    ),
    log: Section(
      {
        level: Type.Unsafe<LogLevel>({ type: 'string', enum: [...LOG_LEVELS], default: 'info' }),
        requests: Type.Boolean({ default: true, description: 'one JSON line per finished exchange' }),
      },
      'logging (pino JSON lines on stdout)',
    ),
    analysis: Section(
      {
        windowMs: Millis(300_000, 'the sliding window the recurrence analysis counts failures over (GET /errors, finding_opened)'),
        maxKeys: Type.Integer({
          minimum: 10,
          maximum: 1_000_000,
          default: 1_000,
          description: 'destinations, addresses and open findings the analysis tracks per map; the oldest are evicted (about 3 KB of memory per key)',
        }),
      },
      'recurrence analysis: findings about failures that spread, recur, pass or slow down',
    ),
  },
  { additionalProperties: false, $id: 'https://hopwatch.dev/config.schema.json', title: 'hopwatch configuration' },
);

export type Config = Static<typeof ConfigSchema>;
