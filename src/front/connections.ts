// Counts client connections over all front-ends against limits.maxConnections and, per client
// address, limits.maxConnectionsPerClient, and keeps them for shutdown. A connection over a limit
// is still read far enough to answer it properly (503 / 429 with Retry-After on HTTP, a SOCKS
// reply) instead of being dropped without a word. Such a connection is open but not admitted: it
// takes no place under the limits, so connections waiting for their refusal neither keep out
// clients after an admitted one closes nor push the utilization past 1.
import type { Socket } from 'node:net';
import { HopFailure } from '../classify/failure.ts';

export type ListenerName = 'http' | 'socks';

export interface Limits {
  maxConnections: number;
  maxConnectionsPerClient: number;
}

export class ConnectionGate {
  private limits: Limits;
  private readonly open = new Set<Socket>();
  private readonly refused = new WeakMap<Socket, HopFailure>();
  private readonly perListener: Record<ListenerName, number> = { http: 0, socks: 0 };
  private readonly perClient = new Map<string, number>();
  private admittedCount = 0;

  constructor(limits: Limits) {
    this.limits = { ...limits };
  }

  get max(): number {
    return this.limits.maxConnections;
  }

  /** New limits apply to connections accepted from now on; open ones are not cut. */
  configure(limits: Limits): void {
    this.limits = { ...limits };
  }

  /** Connections admitted under the limit. */
  get active(): number {
    return this.admittedCount;
  }

  /** Open client connections on one listener, admitted or waiting for their refusal. */
  activeOn(listener: ListenerName): number {
    return this.perListener[listener];
  }

  /** Registers a new client socket; returns false when it is over a limit. */
  admit(socket: Socket, listener: ListenerName): boolean {
    const client = socket.remoteAddress ?? '';
    const fromClient = this.perClient.get(client) ?? 0;
    let refusal: HopFailure | undefined;
    if (this.admittedCount >= this.limits.maxConnections) {
      refusal = new HopFailure('connection_limit', `${this.limits.maxConnections} client connections are open (limits.maxConnections)`);
    } else if (fromClient >= this.limits.maxConnectionsPerClient) {
      refusal = new HopFailure(
        'client_connection_limit',
        `${client} has ${fromClient} connections open (limits.maxConnectionsPerClient ${this.limits.maxConnectionsPerClient})`,
      );
    }
    this.open.add(socket);
    this.perListener[listener]++;
    if (refusal) {
      this.refused.set(socket, refusal);
    } else {
      this.admittedCount++;
      this.perClient.set(client, fromClient + 1);
    }
    socket.once('close', () => {
      this.open.delete(socket);
      this.perListener[listener]--;
      if (refusal) return;
      this.admittedCount--;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
    });
    return !refusal;
  }

  /** Why this connection was not admitted, as the failure to answer with; undefined when it was. */
  refusal(socket: Socket): HopFailure | undefined {
    return this.refused.get(socket);
  }

  destroyAll(): void {
    for (const socket of this.open) socket.destroy();
  }
}
