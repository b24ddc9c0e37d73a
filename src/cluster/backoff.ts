// How soon a dead worker is replaced: at once if it had been up a while (a one-off crash is
// mended without delay), then doubling for every quick death in a row, up to a ceiling, so a
// worker that cannot start costs little CPU and few log lines while it keeps failing.
export interface BackoffOptions {
  /** Delay after the second quick death in a row (the first is replaced at once). */
  firstMs: number;
  maxMs: number;
  /** A worker up at least this long before dying starts the count again. */
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { firstMs: 100, maxMs: 30_000, stableMs: 10_000 };

export class RestartBackoff {
  readonly options: BackoffOptions;
  private quickDeaths = 0;

  constructor(options: BackoffOptions = DEFAULT_BACKOFF) {
    this.options = options;
  }

  /** The delay before replacing a worker that ran for `upMs` before it died. */
  next(upMs: number): number {
    if (upMs >= this.options.stableMs) this.quickDeaths = 0;
    const { firstMs, maxMs } = this.options;
    const delay = this.quickDeaths === 0 ? 0 : Math.min(maxMs, firstMs * 2 ** (this.quickDeaths - 1));
    this.quickDeaths = Math.min(this.quickDeaths + 1, 64);
    return delay;
  }
}
