// Keep-alive pooling for HTTP upstreams, on undici's HTTP/1.1 client. Each pooled connection is
// one undici Client wrapped around a socket the connector opened (and timed, and classified) for
// the exchange that needed it; a request that finds an idle connection is recorded as reused and
// skips the DNS/connect/TLS hops. undici writes requests and parses responses with far less work
// per request than node:http's ClientRequest, which is most of a forward proxy's own cost.
import type { Socket } from 'node:net';
import { Client } from 'undici';
import type { Exchange } from '../exchange/record.ts';
import type { Connector } from './connector.ts';

export interface PooledConnection {
  readonly client: Client;
  readonly key: string;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /**
   * The socket's own first error. undici may report a connection that failed (a TLS alert after
   * the handshake, say) only as "other side closed": this keeps the cause for classification.
   */
  socketError: Error | undefined;
}

export interface PoolOptions {
  /** Idle connections kept per origin; more are closed when they come back. */
  maxIdlePerOrigin?: number;
  /**
   * Idle connections close after this long, unless the upstream's Keep-Alive hint is shorter
   * (undici then closes a second before it, which avoids most races with an upstream closing).
   */
  keepAliveMs?: number;
}

/** What undici reports when it would reconnect a pooled connection: classified as a close. */
function closedError(): Error {
  return Object.assign(new Error('the pooled connection was closed by the upstream'), { code: 'ECONNRESET' });
}

export class UpstreamPool {
  private readonly connector: Connector;
  private readonly idle = new Map<string, PooledConnection[]>();
  private readonly all = new Set<PooledConnection>();
  private readonly maxIdle: number;
  private readonly keepAliveMs: number;

  constructor(connector: Connector, options: PoolOptions = {}) {
    this.connector = connector;
    this.maxIdle = options.maxIdlePerOrigin ?? 256;
    this.keepAliveMs = options.keepAliveMs ?? 4_000;
  }

  /**
   * An idle connection to the origin, when one is kept. Synchronous, apart from open(): on a
   * kept-alive path most requests find one, and then cost no promise and no abort signal.
   */
  takeIdle(scheme: 'http' | 'https', host: string, port: number): PooledConnection | undefined {
    const list = this.idle.get(`${scheme}://${host}:${port}`);
    while (list?.length) {
      const connection = list.pop()!;
      if (!connection.client.closed && !connection.client.destroyed) return connection;
    }
    return undefined;
  }

  /** A new connection to the origin, opened (and timed, and classified) by the connector. */
  async open(ex: Exchange, scheme: 'http' | 'https', host: string, port: number, signal: AbortSignal): Promise<PooledConnection> {
    const socket = await this.connector.open(ex, host, port, { tls: scheme === 'https', signal });
    return this.wrap(`${scheme}://${host}:${port}`, socket);
  }

  /** Puts a connection whose exchange completed back for the next request to the same origin. */
  release(connection: PooledConnection): void {
    const { client, key } = connection;
    if (client.closed || client.destroyed) return;
    const list = this.idle.get(key) ?? [];
    if (list.length >= this.maxIdle) {
      void client.close();
      return;
    }
    list.push(connection); // LIFO: the most recently used connection is the least likely stale
    this.idle.set(key, list);
  }

  /** Closes a connection that must not be reused (an aborted or broken exchange). */
  discard(connection: PooledConnection): void {
    void connection.client.destroy().catch(() => {});
  }

  destroy(): void {
    for (const connection of this.all) void connection.client.destroy().catch(() => {});
    this.all.clear();
    this.idle.clear();
  }

  private wrap(key: string, socket: Socket): PooledConnection {
    let handedOver = false;
    const client = new Client(key, {
      // The socket is already connected: undici gets it once, and never reconnects it.
      // (Called back on the next tick: undici's connect bookkeeping breaks on a synchronous answer.)
      connect: (_options, callback) => {
        const first = !handedOver;
        handedOver = true;
        process.nextTick(() => (first ? callback(null, socket) : callback(closedError(), null)));
      },
      pipelining: 1,
      keepAliveTimeout: this.keepAliveMs,
      keepAliveMaxTimeout: this.keepAliveMs,
      // hopwatch's own timers decide response and idle timeouts (their codes, their clocks).
      headersTimeout: 0,
      bodyTimeout: 0,
      strictContentLength: true,
    });
    const connection: PooledConnection = { client, key, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, socketError: undefined };
    // The first error is the cause: undici later destroys the socket with its own "other side closed".
    socket.on('error', (err: Error) => {
      connection.socketError ??= err;
    });
    this.all.add(connection);
    client.on('disconnect', () => {
      this.all.delete(connection);
      const list = this.idle.get(key);
      const at = list?.indexOf(connection) ?? -1;
      if (at >= 0) list!.splice(at, 1);
      if (list && list.length === 0) this.idle.delete(key);
      void client.destroy().catch(() => {});
    });
    return connection;
  }
}
