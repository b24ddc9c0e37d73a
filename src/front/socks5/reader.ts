// A pull-style reader over a client socket: "give me n bytes" instead of event handlers, so the
// SOCKS5 messages read like the RFC. TCP cuts messages anywhere, so chunks are concatenated and
// whatever arrives beyond the current message (the next message, or the client's first payload
// bytes) stays buffered, in order, for the next read or for the tunnel.
import type { Socket } from 'node:net';

/** The socket ended (or closed) before a read could be satisfied. */
export class StreamEnded extends Error {
  /** Bytes that had arrived towards the unfinished read: 0 means the client stopped between messages. */
  readonly buffered: number;

  constructor(buffered: number) {
    super('the connection ended');
    this.name = 'StreamEnded';
    this.buffered = buffered;
  }
}

interface Waiter {
  n: number;
  resolve: (bytes: Buffer) => void;
  reject: (err: StreamEnded) => void;
}

export class SocketReader {
  private readonly socket: Socket;
  /** Past this many unread bytes the socket is paused: back pressure instead of unbounded buffering. */
  private readonly limit: number;
  private chunks: Buffer[] = [];
  private size = 0;
  private done = false;
  private waiter: Waiter | undefined;

  constructor(socket: Socket, limit: number) {
    this.socket = socket;
    this.limit = limit;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
  }

  /** Unread bytes held. */
  get buffered(): number {
    return this.size;
  }

  /** Whether the client has finished sending (or the socket closed). */
  get ended(): boolean {
    return this.done;
  }

  /** Resolves with exactly `n` bytes; rejects with StreamEnded if the stream ends first. */
  read(n: number): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new Error('SocketReader: one read at a time'));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.settle();
    });
  }

  /** Stops reading; returns the bytes received but not read, in order. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    const rest = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return rest;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size >= this.limit) this.socket.pause();
    this.settle();
  };

  private readonly onEnd = (): void => {
    this.done = true;
    this.settle();
  };

  private settle(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.size >= waiter.n) {
      this.waiter = undefined;
      waiter.resolve(this.take(waiter.n));
      if (this.size < this.limit && this.socket.isPaused() && !this.done) this.socket.resume();
    } else if (this.done) {
      this.waiter = undefined;
      waiter.reject(new StreamEnded(this.size));
    }
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.size -= n;
    return out;
  }
}
