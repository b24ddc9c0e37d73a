// TCP connect over every resolved address, Happy Eyeballs style (RFC 8305): the next address
// starts when the previous one fails or after a short delay, the first to connect wins, and
// every attempt's address, outcome and time is kept for the record.
import net from 'node:net';
import { HopFailure } from '../classify/failure.ts';
import { classify } from '../classify/rules.ts';
import type { Attempt } from '../exchange/record.ts';
import type { ResolvedAddress } from './resolve.ts';

/** RFC 8305's recommended "Connection Attempt Delay". */
export const ATTEMPT_DELAY_MS = 250;

/** Orders addresses alternating families, starting with the family the resolver listed first. */
export function interleave(addresses: readonly ResolvedAddress[]): ResolvedAddress[] {
  if (addresses.length < 2) return [...addresses];
  const first = addresses[0]!.family;
  const a = addresses.filter((x) => x.family === first);
  const b = addresses.filter((x) => x.family !== first);
  const out: ResolvedAddress[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) out.push(a[i]!);
    if (b[i]) out.push(b[i]!);
  }
  return out;
}

export function connectAny(
  addresses: readonly ResolvedAddress[],
  port: number,
  timeoutMs: number,
  /** Filled as attempts start and end, so a failure keeps them too. */
  attempts: Attempt[],
  signal?: AbortSignal,
  /** How the winning socket is read (net.connect's `onread`); 'data' events when absent. */
  onread?: net.OnReadOpts,
): Promise<net.Socket> {
  if (addresses.length === 1) return connectOne(addresses[0]!, port, timeoutMs, attempts, signal, onread);
  const order = interleave(addresses);
  const pending = new Map<net.Socket, { attempt: Attempt; started: number }>();
  return new Promise<net.Socket>((resolve, reject) => {
    let next = 0;
    let settled = false;
    let lastFailure: HopFailure | undefined;
    let staggerTimer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      for (const [, p] of pending) {
        p.attempt.outcome = 'connect_timeout';
        p.attempt.ms = performance.now() - p.started;
      }
      fail(new HopFailure('connect_timeout', `no TCP connection to ${describeTargets(order, port)} within ${timeoutMs} ms`));
    }, timeoutMs);

    const onAbort = () => fail(signal!.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });

    function cleanup() {
      settled = true;
      clearTimeout(deadline);
      clearTimeout(staggerTimer);
      signal?.removeEventListener('abort', onAbort);
    }

    function fail(err: Error) {
      if (settled) return;
      cleanup();
      for (const [socket, p] of pending) {
        if (p.attempt.outcome === 'pending') {
          p.attempt.outcome = 'abandoned';
          p.attempt.ms = performance.now() - p.started;
        }
        socket.destroy();
      }
      pending.clear();
      reject(err);
    }

    function startNext() {
      if (settled || next >= order.length) return;
      const { attempt, socket, started: t } = startAttempt(order[next++]!, port, attempts, onread);
      pending.set(socket, { attempt, started: t });
      socket.once('connect', () => {
        attempt.ms = performance.now() - t;
        attempt.outcome = 'connected';
        pending.delete(socket);
        if (settled) {
          socket.destroy();
          return;
        }
        cleanup();
        for (const [other, p] of pending) {
          p.attempt.outcome = 'abandoned';
          p.attempt.ms = performance.now() - p.started;
          other.destroy();
        }
        pending.clear();
        // The attempt's error listener stays (it ignores settled attempts), so an error before
        // the caller attaches its own cannot crash the process.
        resolve(socket);
      });
      socket.once('error', (err) => {
        // The winner's later errors are the caller's: its attempt keeps its connect time.
        if (attempt.outcome === 'connected') return;
        attempt.ms = performance.now() - t;
        pending.delete(socket);
        if (settled) return;
        lastFailure = classify('connect', err);
        attempt.outcome = lastFailure.code;
        if (next < order.length) {
          clearTimeout(staggerTimer);
          startNext();
        } else if (pending.size === 0) {
          fail(withAttemptsDetail(lastFailure, attempts));
        }
      });
      if (next < order.length) {
        clearTimeout(staggerTimer);
        staggerTimer = setTimeout(startNext, ATTEMPT_DELAY_MS);
      }
    }

    if (signal?.aborted) return onAbort();
    if (!order.length) return fail(new HopFailure('internal_error', 'no addresses to connect to', { hop: 'connect' }));
    startNext();
  });
}

/**
 * connectAny for one address (an IP literal, a name with one address): the same outcomes,
 * attempt record and errors, without the machinery for racing several (a map of attempts, the
 * stagger timer): this is every tunnel to an address.
 */
function connectOne(
  target: ResolvedAddress,
  port: number,
  timeoutMs: number,
  attempts: Attempt[],
  signal: AbortSignal | undefined,
  onread: net.OnReadOpts | undefined,
): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const { attempt, socket, started } = startAttempt(target, port, attempts, onread);
    /** Ends the attempt with `outcome`; false when it had ended already. */
    const settle = (outcome: string): boolean => {
      if (attempt.outcome !== 'pending') return false;
      attempt.outcome = outcome;
      attempt.ms = performance.now() - started;
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const deadline = setTimeout(() => {
      if (!settle('connect_timeout')) return;
      socket.destroy();
      reject(new HopFailure('connect_timeout', `no TCP connection to ${describeTargets([target], port)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = () => {
      if (!settle('abandoned')) return;
      socket.destroy();
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      if (settle('connected')) resolve(socket);
    });
    // Stays after the connect (it ignores a settled attempt), so an error before the caller
    // attaches its own cannot crash the process.
    socket.once('error', (err) => {
      const failure = classify('connect', err);
      if (settle(failure.code)) reject(failure);
    });
  });
}

/** One connection attempt, recorded in `attempts` as it starts. */
function startAttempt(target: ResolvedAddress, port: number, attempts: Attempt[], onread: net.OnReadOpts | undefined) {
  const attempt: Attempt = { address: target.address, family: target.family, port, outcome: 'pending', ms: 0 };
  attempts.push(attempt);
  const started = performance.now();
  // net ignores an onread that is not an object: 'data' events then, as for any socket.
  const socket = net.connect({ host: target.address, port, family: target.family, noDelay: true, onread });
  return { attempt, socket, started };
}

function describeTargets(order: readonly ResolvedAddress[], port: number): string {
  const shown = order.slice(0, 3).map((a) => (a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`));
  return shown.join(', ') + (order.length > 3 ? ` and ${order.length - 3} more` : '');
}

/** When several addresses were tried, the detail names how many failed. */
function withAttemptsDetail(failure: HopFailure, attempts: readonly Attempt[]): HopFailure {
  if (attempts.length < 2) return failure;
  return new HopFailure(failure.code, `${failure.detail} (all ${attempts.length} addresses failed)`, {
    hop: failure.hop,
    params: failure.params,
    cause: failure.cause,
  });
}
