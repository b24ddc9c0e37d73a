// Interceptors may end an exchange at a named hop with a classified failure (auth, policy,
// limits); observers only read records (log, metrics, analysis) and cannot change an outcome.
// Both are registered before the listeners open. The same events go out on diagnostics_channel
// so that third parties can observe without patching hopwatch.
import diagnostics from 'node:diagnostics_channel';
import { HopFailure } from '../classify/failure.ts';
import { HOPS, type Hop } from './hops.ts';
import type { Exchange } from './record.ts';
import type { MaybePromise } from '../util/maybe.ts';

export type InterceptResult = HopFailure | undefined;
export type Interceptor = (exchange: Exchange) => MaybePromise<InterceptResult>;

export interface Observer {
  readonly name: string;
  onHop?(exchange: Exchange, hop: Hop): void;
  onEnd?(exchange: Exchange): void;
}

export const CHANNELS = {
  hop: diagnostics.channel('hopwatch:exchange:hop'),
  end: diagnostics.channel('hopwatch:exchange:end'),
} as const;

export class Lifecycle {
  /** Exchanges begun and not yet ended: what a shutdown has to wait for, or cut. */
  readonly open = new Set<Exchange>();
  private readonly interceptors = new Map<Hop, Interceptor[]>();
  private hopObservers: Observer[] = [];
  private endObservers: Observer[] = [];
  private sealed = false;
  /** Called when an observer throws: observers must never break the proxy. */
  onObserverError: (observer: string, err: unknown) => void = () => {};

  intercept(hop: Hop, interceptor: Interceptor): this {
    this.assertOpen();
    if (!HOPS.includes(hop)) throw new Error(`unknown hop ${String(hop)}`);
    const list = this.interceptors.get(hop) ?? [];
    list.push(interceptor);
    this.interceptors.set(hop, list);
    return this;
  }

  observe(observer: Observer): this {
    this.assertOpen();
    if (observer.onHop) this.hopObservers.push(observer);
    if (observer.onEnd) this.endObservers.push(observer);
    return this;
  }

  /** No more registrations: the lists are fixed while traffic flows. */
  seal(): void {
    this.sealed = true;
  }

  hasInterceptors(hop: Hop): boolean {
    return this.interceptors.has(hop);
  }

  /**
   * Runs the hop's interceptors in order; the first failure ends the exchange. Synchronous while
   * the interceptors are (the allow-lists, the loop check, a cached credential): most exchanges
   * then pass admission without a promise or a microtask; the first interceptor that returns a
   * promise makes the rest of the run asynchronous.
   */
  runInterceptors(hop: Hop, exchange: Exchange): MaybePromise<InterceptResult> {
    const list = this.interceptors.get(hop);
    return list ? runFrom(hop, list, 0, exchange) : undefined;
  }

  hop(exchange: Exchange, hop: Hop): void {
    for (const observer of this.hopObservers) {
      try {
        observer.onHop!(exchange, hop);
      } catch (err) {
        this.onObserverError(observer.name, err);
      }
    }
    if (CHANNELS.hop.hasSubscribers) CHANNELS.hop.publish({ exchange, hop });
  }

  private idleWaiters: Array<() => void> = [];

  begin(exchange: Exchange): void {
    this.open.add(exchange);
  }

  /** Resolves once no exchange is open (at once when none is). */
  whenIdle(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  end(exchange: Exchange): void {
    this.open.delete(exchange);
    if (this.open.size === 0 && this.idleWaiters.length) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
    for (const observer of this.endObservers) {
      try {
        observer.onEnd!(exchange);
      } catch (err) {
        this.onObserverError(observer.name, err);
      }
    }
    if (CHANNELS.end.hasSubscribers) CHANNELS.end.publish({ exchange });
  }

  private assertOpen(): void {
    if (this.sealed) throw new Error('register interceptors and observers before the listeners open');
  }
}

function runFrom(hop: Hop, list: Interceptor[], from: number, exchange: Exchange): MaybePromise<InterceptResult> {
  for (let i = from; i < list.length; i++) {
    let result: MaybePromise<InterceptResult>;
    try {
      result = list[i]!(exchange);
    } catch (err) {
      return interceptorFailed(hop, err);
    }
    if (result instanceof Promise) {
      return result.then(
        (settled) => (settled ? atHop(hop, settled) : runFrom(hop, list, i + 1, exchange)),
        (err: unknown) => interceptorFailed(hop, err),
      );
    }
    if (result) return atHop(hop, result);
  }
  return undefined;
}

/** A failure is recorded at the hop its interceptor ran at, whatever the code's usual hop. */
function atHop(hop: Hop, failure: HopFailure): HopFailure {
  return failure.hop === hop ? failure : new HopFailure(failure.code, failure.detail, { hop, source: failure.source, params: failure.params, cause: failure.cause });
}

function interceptorFailed(hop: Hop, err: unknown): HopFailure {
  return new HopFailure('internal_error', 'an interceptor failed', { hop, cause: err });
}
