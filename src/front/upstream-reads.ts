// How a tunnel reads its upstream: through net's `onread` (the connector passes it to
// net.connect) instead of 'data' events, because by default Node allocates a fresh 64 KiB Buffer
// for every read, and at bulk rates those allocations, their garbage and the 64 KiB read size
// are most of what a relay costs.
//
// Every tunnel's upstream starts out reading into one shared buffer whose bytes are copied out at
// once (a small reply costs a small copy and no 64 KiB allocation). A tunnel whose read fills
// that buffer carries bulk data: it gets a 256 KiB buffer of its own, whose reads are handed on
// without a copy, and a 1 MiB one once it fills that too while its client keeps up (every write
// done at once). Such a buffer must not be read into again while a write of it is pending, so the
// relay stops reading until that write is done (see UpstreamSink). A small read puts the tunnel
// back on the shared buffer, and a closed tunnel gives its buffer back: tunnels that never
// streamed (idle ones, small exchanges) hold none, and slow clients never make a tunnel grow past
// 256 KiB. A buffer is only ever swapped inside a read's callback: the socket keeps reading into
// the one it was last handed, so one taken away at any other moment could still be written into.
import type { OnReadOpts } from 'node:net';

/** The shared first buffer: Node's own read size, so a small tunnel reads as it would anyway. */
const SHARED_SIZE = 64 * 1024;
/** A bulk tunnel's first buffer of its own, then the largest: 16x fewer reads and writes. */
const BULK_SIZE = 256 * 1024;
export const MAX_READ_SIZE = 1024 * 1024;
/** A read this small on a tunnel's own buffer: the burst is over, back to the shared one. */
const SMALL_READ = 16 * 1024;
/** Buffers kept per size from tunnels done with them (a fresh one is paged in anew). */
const SPARE_MAX = 4;

const shared = Buffer.allocUnsafeSlow(SHARED_SIZE);
const spare = new Map<number, Buffer[]>([[BULK_SIZE, []], [MAX_READ_SIZE, []]]);

function take(size: number): Buffer {
  return spare.get(size)!.pop() ?? Buffer.allocUnsafeSlow(size);
}

function give(buffer: Buffer): void {
  const list = spare.get(buffer.length);
  if (list && list.length < SPARE_MAX) list.push(buffer);
}

/**
 * Receives each upstream read. `pooled`: `chunk` is a view of the tunnel's own buffer, which the
 * sink must be done with when it returns true (its write completed); false stops reading until
 * the socket is resumed, which the sink does once that write is done. Otherwise `chunk` is the
 * sink's to keep, and false only stops reading (back pressure).
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

  /** The tunnel is over and its sockets closed: its buffer may serve another tunnel. */
  release(): void {
    if (this.buffer !== shared) give(this.buffer);
    this.buffer = shared;
    this.sink = undefined;
  }

  private read(bytes: number, buffer: Buffer): boolean {
    if (buffer === shared || !this.sink) {
      const copy = Buffer.allocUnsafe(bytes);
      buffer.copy(copy, 0, 0, bytes);
      // A read that filled the shared buffer had more waiting: this tunnel moves bulk data.
      if (buffer === shared && bytes === SHARED_SIZE) this.buffer = take(BULK_SIZE);
      if (!this.sink) {
        (this.early ??= []).push(copy);
        return true;
      }
      return this.sink(copy, false);
    }
    const done = this.sink(buffer.subarray(0, bytes), true);
    // Resized only while free: a buffer still being written is not handed to anyone else.
    if (done && bytes === buffer.length && buffer.length < MAX_READ_SIZE) {
      give(buffer);
      this.buffer = take(MAX_READ_SIZE);
    } else if (done && bytes < SMALL_READ) {
      give(buffer);
      this.buffer = shared;
    }
    return done;
  }
}
