// How a tunnel reads its upstream: through net's `onread` (the connector passes it to
// net.connect) instead of 'data' events, because by default Node allocates a fresh 64 KiB Buffer
// for every read, and at bulk rates those allocations, their garbage and the 64 KiB read size
// are most of what a relay costs.
//
// Every tunnel's upstream starts out reading into one shared buffer whose bytes are copied out at
// once (a small reply costs a small copy and no 64 KiB allocation). A tunnel whose read fills
// that buffer carries bulk data: it gets a large buffer of its own, whose reads are handed on
// without a copy. Such a buffer must not be read into again while a write of it is still
// pending, so the relay stops reading until that write is done (`pooled` below); tunnels that
// stay small never hold more than the shared buffer, so idle tunnels cost no buffer memory.
import type { OnReadOpts } from 'node:net';

/** The shared first buffer: Node's own read size, so a small tunnel reads as it would anyway. */
const SHARED_SIZE = 64 * 1024;
/** A bulk tunnel's own buffer: four times fewer reads (and writes) than 64 KiB ones. */
export const BULK_READ_SIZE = 256 * 1024;
/** Bulk buffers kept from closed tunnels for the next ones (a fresh one is paged in anew). */
const SPARE_MAX = 8;

const shared = Buffer.allocUnsafeSlow(SHARED_SIZE);
const spare: Buffer[] = [];

/**
 * Receives each upstream read. `pooled`: `chunk` is a view of the tunnel's bulk buffer, valid
 * only until the next read, which comes only after a write of it has completed; otherwise it is
 * the receiver's to keep. Returns false to stop reading (until the socket is resumed).
 */
export type UpstreamSink = (chunk: Buffer, pooled: boolean) => boolean;

export class UpstreamReads {
  /** For net.connect (the connector's OpenOptions.onread). */
  readonly onread: OnReadOpts;
  /** What the socket reads into next. */
  private buffer: Buffer = shared;
  private sink: UpstreamSink | undefined;
  /** Reads that came before the relay took over (copies, in order). */
  private early: Buffer[] | undefined;

  constructor() {
    this.onread = { buffer: () => this.buffer, callback: (bytes, buffer) => this.read(bytes, buffer as Buffer) };
  }

  /** Hands every read from now on (and those held so far) to `sink`. */
  attach(sink: UpstreamSink): void {
    this.sink = sink;
    const early = this.early;
    this.early = undefined;
    if (early) for (const chunk of early) sink(chunk, false);
  }

  /** The tunnel is over and its sockets closed: its bulk buffer may serve another tunnel. */
  release(): void {
    if (this.buffer !== shared && spare.length < SPARE_MAX) spare.push(this.buffer);
    this.buffer = shared;
    this.sink = undefined;
  }

  private read(bytes: number, buffer: Buffer): boolean {
    if (buffer === shared || !this.sink) {
      const copy = Buffer.allocUnsafe(bytes);
      buffer.copy(copy, 0, 0, bytes);
      // A read that filled the shared buffer had more waiting: this tunnel moves bulk data.
      if (buffer === shared && bytes === SHARED_SIZE) this.buffer = spare.pop() ?? Buffer.allocUnsafeSlow(BULK_READ_SIZE);
      if (!this.sink) {
        (this.early ??= []).push(copy);
        return true;
      }
      return this.sink(copy, false);
    }
    return this.sink(buffer.subarray(0, bytes), true);
  }
}
