// Idle timeouts for tunnels from one shared timer instead of one per socket. A socket timeout
// (socket.setTimeout) is a timer of its own, created per tunnel and refreshed on every read and
// write; here each tunnel only keeps its byte count, and a sweep every idleMs/8 (at most once a
// second) cuts those whose count has not moved for idleMs. A tunnel is therefore never cut
// before idleMs of silence, and at most two ticks after.
import { performance } from 'node:perf_hooks';

export interface Idler {
  /** Bytes moved so far, both directions: any change is activity. */
  moved(): number;
  /** Called once, after idleMs without activity; the idler is no longer watched. */
  onIdle(): void;
  /** The sweep's notes: the count last seen and since when it has not changed. */
  idleMoved: number;
  idleSince: number;
}

const MIN_TICK_MS = 5;
const MAX_TICK_MS = 1_000;

class Sweep {
  private readonly idleMs: number;
  private readonly tickMs: number;
  private readonly idlers = new Set<Idler>();
  private timer: NodeJS.Timeout | undefined;

  constructor(idleMs: number) {
    this.idleMs = idleMs;
    this.tickMs = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(idleMs / 8)));
  }

  add(idler: Idler): void {
    idler.idleMoved = idler.moved();
    idler.idleSince = performance.now();
    this.idlers.add(idler);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.tickMs);
      this.timer.unref();
    }
  }

  delete(idler: Idler): void {
    if (this.idlers.delete(idler) && this.idlers.size === 0) this.stop();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    sweeps.delete(this.idleMs);
  }

  private sweep(): void {
    const now = performance.now();
    for (const idler of this.idlers) {
      const moved = idler.moved();
      if (moved !== idler.idleMoved) {
        idler.idleMoved = moved;
        idler.idleSince = now;
      } else if (now - idler.idleSince >= this.idleMs) {
        this.idlers.delete(idler);
        idler.onIdle();
      }
    }
    if (this.idlers.size === 0) this.stop();
  }
}

/** One sweep per idle timeout in use (a reload may bring a second one while old tunnels live on). */
const sweeps = new Map<number, Sweep>();

/** Watches `idler` until unwatch() or until it has been idle for idleMs (0: never). */
export function watchIdle(idler: Idler, idleMs: number): void {
  if (!(idleMs > 0)) return;
  let sweep = sweeps.get(idleMs);
  if (!sweep) {
    sweep = new Sweep(idleMs);
    sweeps.set(idleMs, sweep);
  }
  sweep.add(idler);
}

export function unwatchIdle(idler: Idler, idleMs: number): void {
  sweeps.get(idleMs)?.delete(idler);
}
