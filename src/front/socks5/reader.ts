// A reader over a client socket that parses one message at a time, so the SOCKS5 messages read
// like the RFC ("two bytes, then that many methods") instead of event handlers. TCP cuts
// messages anywhere, so chunks are kept in order and whatever arrives beyond the current message
// (the next message, or the client's first payload bytes) stays buffered for the next parse or
// for the tunnel.
//
// A parser runs over the bytes already buffered and asks its cursor for more as it goes; when
// they have not all arrived, it is run again from the start once more come. Clients send each
// message in one packet, so the common case is synchronous: a whole handshake costs no promise
// per field, only one per message that had to be waited for.
import type { Socket } from 'node:net';
import type { MaybePromise } from '../../util/maybe.ts';

/** The socket ended (or closed) before a message was complete. */
export class StreamEnded extends Error {
  /** Bytes that had arrived towards the unfinished message: 0 means the client stopped between messages. */
  readonly buffered: number;

  constructor(buffered: number) {
    super('the connection ended');
    this.name = 'StreamEnded';
    this.buffered = buffered;
  }
}

/** What a parser reads a message from. */
export interface Cursor {
  /** The next `n` bytes of the message (a view, valid until the parser returns). */
  take(n: number): Buffer;
}

/** Thrown through a parser when the message goes on beyond the bytes in: not an error. */
const NEED_MORE: unique symbol = Symbol('need more bytes');

class BufferCursor implements Cursor {
  private readonly bytes: Buffer;
  offset = 0;

  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }

  take(n: number): Buffer {
    if (this.offset + n > this.bytes.length) throw NEED_MORE;
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

interface Waiter {
  parser: (cursor: Cursor) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const NOT_YET = Symbol('not yet');

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

  /**
   * One message: `parser`'s result, at once when the message is already in, else once enough
   * bytes have come. An error the parser throws (a malformed message) is thrown or rejected as
   * is; StreamEnded when the stream ends first.
   */
  parse<T>(parser: (cursor: Cursor) => T): MaybePromise<T> {
    if (this.waiter) return Promise.reject(new Error('SocketReader: one message at a time'));
    const value = this.attempt(parser);
    if (value !== NOT_YET) return value;
    if (this.done) throw new StreamEnded(this.size);
    return new Promise<T>((resolve, reject) => {
      this.waiter = { parser, resolve: resolve as (value: unknown) => void, reject };
    });
  }

  /** Exactly `n` bytes; rejects with StreamEnded if the stream ends first. */
  read(n: number): Promise<Buffer> {
    try {
      return Promise.resolve(this.parse((c) => c.take(n)));
    } catch (err) {
      return Promise.reject(err);
    }
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
    let value: unknown;
    try {
      value = this.attempt(waiter.parser);
    } catch (err) {
      this.waiter = undefined;
      waiter.reject(err);
      return;
    }
    if (value !== NOT_YET) {
      this.waiter = undefined;
      waiter.resolve(value);
    } else if (this.done) {
      this.waiter = undefined;
      waiter.reject(new StreamEnded(this.size));
    }
  }

  /** Runs `parser` over what is buffered; consumes the message's bytes only when it completes. */
  private attempt<T>(parser: (cursor: Cursor) => T): T | typeof NOT_YET {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    const cursor = new BufferCursor(this.chunks[0] ?? Buffer.alloc(0));
    let value: T;
    try {
      value = parser(cursor);
    } catch (err) {
      if (err === NEED_MORE) return NOT_YET;
      throw err;
    }
    this.consume(cursor.offset);
    return value;
  }

  private consume(n: number): void {
    if (n === 0) return;
    const first = this.chunks[0]!;
    if (first.length === n) this.chunks = [];
    else this.chunks[0] = first.subarray(n);
    this.size -= n;
    if (this.size < this.limit && this.socket.isPaused() && !this.done) this.socket.resume();
  }
}
