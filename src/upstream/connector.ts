// The upstream connector: the one place that resolves, connects and handshakes TLS toward an
// upstream, times each step onto the exchange record and turns every error into a classified
// failure. Every front-end (HTTP forward, CONNECT, SOCKS5) reaches upstreams through it.
import type net from 'node:net';
import { classify } from '../classify/rules.ts';
import type { Attempt, Exchange } from '../exchange/record.ts';
import { connectAny } from './connect.ts';
import { Resolver } from './resolve.ts';
import { startTls } from './tls.ts';

export interface ConnectorOptions {
  dnsMs: number;
  connectMs: number;
  tlsMs: number;
  dnsServers: readonly string[];
  /** Extra trusted roots for upstream TLS. */
  ca?: string | Buffer | undefined;
}

export interface OpenOptions {
  tls?: boolean;
  signal?: AbortSignal | undefined;
}

export class Connector {
  private options: ConnectorOptions;
  private resolver: Resolver;

  constructor(options: ConnectorOptions) {
    this.options = options;
    this.resolver = new Resolver({ timeoutMs: options.dnsMs, servers: options.dnsServers });
  }

  /** New timeouts and resolvers, for connections opened from now on (a reload). */
  configure(options: Omit<ConnectorOptions, 'ca'>): void {
    this.options = { ...options, ca: this.options.ca };
    this.resolver = new Resolver({ timeoutMs: options.dnsMs, servers: options.dnsServers });
  }

  /** dns → connect → (tls): resolves with a connected socket or rejects with a HopFailure. */
  async open(ex: Exchange, host: string, port: number, options: OpenOptions = {}): Promise<net.Socket> {
    const { signal } = options;
    ex.reach('dns');
    let t = performance.now();
    let addresses;
    try {
      addresses = await this.resolver.resolve(host, signal);
    } catch (err) {
      ex.timings.dns = performance.now() - t;
      throw classify('dns', err);
    }
    if (addresses.length !== 1 || addresses[0]!.address !== host) ex.timings.dns = performance.now() - t;
    ex.resolved = addresses.map((a) => a.address);

    ex.reach('connect');
    const denied = await ex.lifecycle.runInterceptors('connect', ex);
    if (denied) throw denied;
    t = performance.now();
    let socket: net.Socket;
    const attempts: Attempt[] = [];
    ex.attempts = attempts;
    try {
      socket = await connectAny(addresses, port, this.options.connectMs, attempts, signal);
    } catch (err) {
      ex.timings.connect = performance.now() - t;
      throw classify('connect', err);
    }
    ex.timings.connect = performance.now() - t;
    ex.upstreamIp = socket.remoteAddress;
    ex.upstreamPort = socket.remotePort;
    if (!options.tls) return socket;

    ex.reach('tls');
    t = performance.now();
    ex.tls = { mode: 'originated', sni: host };
    try {
      const secure = await startTls(socket, { servername: host, timeoutMs: this.options.tlsMs, ca: this.options.ca }, signal);
      ex.timings.tls = performance.now() - t;
      ex.tls.version = secure.getProtocol() ?? undefined;
      ex.tls.alpn = secure.alpnProtocol || undefined;
      return secure;
    } catch (err) {
      ex.timings.tls = performance.now() - t;
      throw classify('tls', err);
    }
  }
}
