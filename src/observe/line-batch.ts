// The log's lines written once per turn of the event loop instead of once each. Every finished
// exchange writes a line; a write is a syscall (to a file) or a round trip through libuv's
// thread pool (to a pipe), and at thousands of exchanges a second that per-line cost was the
// largest part of what logging cost (17 % of keep-alive throughput, measured with the bench).
// Lines that arrive in the same turn are joined and written together, in order, when the turn
// ends (setImmediate), so a line is never held back longer than the turn that produced it.
// A batch never exceeds the destination's maxWrite: workers sharing a pipe keep each write under
// PIPE_BUF, so one worker's lines are never cut by another's.
import type { DestinationStream } from 'pino';

/** What the batch needs of pino's destination (a SonicBoom). */
export interface LineSink {
  write(data: string): boolean;
  flush(cb?: (err?: Error) => void): void;
  flushSync(): void;
  readonly maxWrite: number;
}

export function isLineSink(value: unknown): value is LineSink {
  const v = value as Partial<LineSink> | undefined;
  return typeof v?.write === 'function' && typeof v.flush === 'function' && typeof v.flushSync === 'function' && typeof v.maxWrite === 'number';
}

/** Batches alive in this process: whatever they hold is written before it exits. */
const batches = new Set<LineBatch>();
// Registered when this module loads, before any destination exists; the destination's own exit
// hook may run before or after it, so the batch flushes the destination itself.
process.on('exit', () => {
  for (const batch of batches) batch.flushSync();
});

export class LineBatch implements DestinationStream {
  private readonly sink: LineSink;
  private pending = '';
  private pendingBytes = 0;
  private scheduled = false;
  private readonly endOfTurn = () => {
    this.scheduled = false;
    this.drain();
  };

  constructor(sink: LineSink) {
    this.sink = sink;
    batches.add(this);
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.pendingBytes + bytes > this.sink.maxWrite) this.drain();
    this.pending += line;
    this.pendingBytes += bytes;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.endOfTurn);
    }
  }

  /** pino's logger.flush(cb): what is held, then the destination's own buffer. */
  flush(cb?: (err?: Error) => void): void {
    this.drain();
    this.sink.flush(cb);
  }

  flushSync(): void {
    this.drain();
    this.sink.flushSync();
  }

  private drain(): void {
    if (!this.pending) return;
    const out = this.pending;
    this.pending = '';
    this.pendingBytes = 0;
    this.sink.write(out);
  }
}
