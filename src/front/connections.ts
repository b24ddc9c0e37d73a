// Counts client connections over all front-ends against limits.maxConnections and keeps them
// for shutdown. A connection over the limit is still read far enough to answer it properly
// (503 with Retry-After on HTTP) instead of being dropped without a word. Such a connection is
// open but not admitted: it takes no place under the limit, so connections waiting for their
// 503 neither keep out clients after an admitted connection closes nor push the utilization
// past 1.
import type { Socket } from 'node:net';

export type ListenerName = 'http' | 'socks';

export class ConnectionGate {
  readonly max: number;
  private readonly open = new Set<Socket>();
  private readonly overLimit = new WeakSet<Socket>();
  private readonly perListener: Record<ListenerName, number> = { http: 0, socks: 0 };
  private admittedCount = 0;

  constructor(max: number) {
    this.max = max;
  }

  /** Connections admitted under the limit: at most `max`. */
  get active(): number {
    return this.admittedCount;
  }

  /** Open client connections on one listener, admitted or waiting for their refusal. */
  activeOn(listener: ListenerName): number {
    return this.perListener[listener];
  }

  /** Registers a new client socket; returns false when it is over the limit. */
  admit(socket: Socket, listener: ListenerName): boolean {
    const admitted = this.admittedCount < this.max;
    this.open.add(socket);
    this.perListener[listener]++;
    if (admitted) this.admittedCount++;
    else this.overLimit.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      this.perListener[listener]--;
      if (admitted) this.admittedCount--;
    });
    return admitted;
  }

  isOverLimit(socket: Socket): boolean {
    return this.overLimit.has(socket);
  }

  destroyAll(): void {
    for (const socket of this.open) socket.destroy();
  }
}
