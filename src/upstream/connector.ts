// The upstream connector: the one place that resolves, connects and handshakes TLS toward an
// upstream, times each step onto the exchange record and turns every error into a classified
// failure. Every front-end (HTTP forward, CONNECT, SOCKS5) reaches upstreams through it.
import { isIP, type OnReadOpts, type Socket } from 'node:net';
import { classify } from '../classify/rules.ts';
import type { Attempt, Exchange, TlsFacts } from '../exchange/record.ts';
import { connectAny } from './connect.ts';
import { Resolver, type ResolvedAddress } from './resolve.ts';
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
  /** How the socket is read (net.connect's `onread`): tunnels read into buffers of their own. */
  onread?: OnReadOpts | undefined;
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

  /**
   * dns → connect → (tls): resolves with a connected socket or rejects with a HopFailure. Every
   * step that can be synchronous is (an IP literal needs no lookup, the connect-hop interceptors
   * usually answer at once), so a tunnel to an address waits on nothing but its TCP connect.
   */
  open(ex: Exchange, host: string, port: number, options: OpenOptions = {}): Promise<Socket> {
    try {
      ex.reach('dns');
      const family = isIP(host);
      // A literal was not looked up: no DNS time is recorded for it.
      if (family) return this.afterDns(ex, [{ address: host, family: family === 6 ? 6 : 4 }], host, port, options);
      const t = performance.now();
      return this.resolver.resolve(host, options.signal).then(
        (addresses) => {
          ex.timings.dns = performance.now() - t;
          return this.afterDns(ex, addresses, host, port, options);
        },
        (err: unknown) => {
          ex.timings.dns = performance.now() - t;
          throw classify('dns', err);
        },
      );
    } catch (err) {
      return Promise.reject(classify(ex.hop, err));
    }
  }

  private afterDns(ex: Exchange, addresses: ResolvedAddress[], host: string, port: number, options: OpenOptions): Promise<Socket> {
    ex.resolved = addresses.map((a) => a.address);
    ex.reach('connect');
    const denied = ex.lifecycle.runInterceptors('connect', ex);
    if (denied instanceof Promise) {
      return denied.then((failure) => {
        if (failure) throw failure;
        return this.dial(ex, addresses, host, port, options);
      });
    }
    return denied ? Promise.reject(denied) : this.dial(ex, addresses, host, port, options);
  }

  private dial(ex: Exchange, addresses: ResolvedAddress[], host: string, port: number, options: OpenOptions): Promise<Socket> {
    const t = performance.now();
    const attempts: Attempt[] = [];
    ex.attempts = attempts;
    const connected = connectAny(addresses, port, this.options.connectMs, attempts, options.signal, options.onread).then(
      (socket) => {
        ex.timings.connect = performance.now() - t;
        // The address dialled is the peer's, spelled as the kernel would for IPv4 (a getpeername
        // fewer per exchange); 0.0.0.0/8 (which lands on loopback) and IPv6 are read back.
        const won = attempts.find((a) => a.outcome === 'connected');
        ex.upstreamIp = won && won.family === 4 && !won.address.startsWith('0.') ? won.address : socket.remoteAddress;
        ex.upstreamPort = port;
        return socket;
      },
      (err: unknown) => {
        ex.timings.connect = performance.now() - t;
        throw classify('connect', err);
      },
    );
    return options.tls ? connected.then((socket) => this.handshake(ex, socket, host, options.signal)) : connected;
  }

  private async handshake(ex: Exchange, socket: Socket, host: string, signal: AbortSignal | undefined): Promise<Socket> {
    ex.reach('tls');
    const t = performance.now();
    const tls: TlsFacts = { mode: 'originated', sni: host };
    ex.tls = tls;
    try {
      const secure = await startTls(socket, { servername: host, timeoutMs: this.options.tlsMs, ca: this.options.ca }, signal);
      ex.timings.tls = performance.now() - t;
      tls.version = secure.getProtocol() ?? undefined;
      tls.alpn = secure.alpnProtocol || undefined;
      return secure;
    } catch (err) {
      ex.timings.tls = performance.now() - t;
      throw classify('tls', err);
    }
  }
}
