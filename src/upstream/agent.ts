// Keep-alive pooling for HTTP upstreams. Node's Agent keeps the free sockets; new ones come
// from the connector, so DNS, connect and TLS are timed and classified on the exchange that
// caused them. A request that gets a pooled socket is recorded as reused and skips those hops.
import http from 'node:http';
import type net from 'node:net';
import type { Exchange } from '../exchange/record.ts';
import type { Connector } from './connector.ts';

/** Request options understood by the agent besides Node's own. */
export interface UpstreamRequestOptions extends http.RequestOptions {
  exchange: Exchange;
  hopwatchSignal?: AbortSignal | undefined;
}

export interface AgentOptions {
  /** Free sockets are closed after this long, safely before typical upstream keep-alive limits. */
  freeSocketTimeoutMs?: number;
  maxFreeSockets?: number;
}

export class UpstreamAgent extends http.Agent {
  private readonly connector: Connector;
  private readonly secure: boolean;

  constructor(connector: Connector, secure: boolean, options: AgentOptions = {}) {
    super({
      keepAlive: true,
      scheduling: 'lifo',
      timeout: options.freeSocketTimeoutMs ?? 4_000,
      maxFreeSockets: options.maxFreeSockets ?? 256,
    });
    this.connector = connector;
    this.secure = secure;
  }

  // Node calls this for a new connection only; the callback form lets it be asynchronous.
  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (err: Error | null, socket: net.Socket) => void,
  ): net.Socket | undefined {
    const { exchange, hopwatchSignal } = options as UpstreamRequestOptions;
    const host = String(options.host ?? options.hostname);
    const port = Number(options.port);
    this.connector.open(exchange, host, port, { tls: this.secure, signal: hopwatchSignal }).then(
      (socket) => callback!(null, socket),
      (err: Error) => callback!(err, undefined as unknown as net.Socket),
    );
    return undefined;
  }
}
