// Delivering one input over a fresh connection: all at once, in pieces, as a slow dribble,
// followed by a half-close, cut short by an early close, or by a reset. The plan is drawn from
// the input's own generator before anything is sent, so timing is part of what a seed
// reproduces. The reply is read until the proxy closes or goes quiet, then the client leaves
// (FIN, destroy or RST, also drawn).
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Prng } from './prng.ts';

export const MODES = ['whole', 'chunks', 'dribble', 'half-close', 'early-close', 'reset', 'flood'] as const;
export type Mode = (typeof MODES)[number];

const MODE_WEIGHTS: ReadonlyArray<readonly [Mode, number]> = [
  ['whole', 40], ['chunks', 20], ['dribble', 4], ['half-close', 12], ['early-close', 10], ['reset', 12], ['flood', 2],
];

interface Step {
  bytes: Buffer;
  pauseMs: number;
}

export interface Plan {
  mode: Mode;
  steps: Step[];
  /** After the writes: shut down the write side, reset at once, or just wait for the reply. */
  then: 'wait' | 'end' | 'reset';
  /** How the client leaves once the reply is over (or never came). */
  leave: 'end' | 'destroy' | 'reset';
}

/** The whole delivery of `bytes`, decided up front. */
export function plan(rng: Prng, bytes: Buffer, forceMode?: Mode): Plan {
  const mode = forceMode ?? rng.weighted(MODE_WEIGHTS);
  const leave = rng.weighted<Plan['leave']>([['end', 3], ['destroy', 2], ['reset', 1]]);
  const split = (n: number, pause: () => number): Step[] => {
    const cuts = new Set<number>();
    for (let i = 0; i < n - 1 && bytes.length > 1; i++) cuts.add(1 + rng.int(bytes.length - 1));
    const at = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
    return at.slice(1).map((end, i) => ({ bytes: bytes.subarray(at[i], end), pauseMs: pause() }));
  };
  switch (mode) {
    case 'whole':
      return { mode, steps: [{ bytes, pauseMs: 0 }], then: 'wait', leave };
    case 'chunks':
      return { mode, steps: split(rng.range(2, 8), () => rng.int(6)), then: 'wait', leave };
    case 'dribble': {
      // A few bytes at a time with pauses, then the rest: bounded to about two seconds.
      const steps: Step[] = [];
      let at = 0;
      for (let i = 0; i < 10 && at < bytes.length; i++) {
        const n = rng.range(1, 8);
        steps.push({ bytes: bytes.subarray(at, at + n), pauseMs: rng.range(20, 180) });
        at += n;
      }
      if (at < bytes.length) steps.push({ bytes: bytes.subarray(at), pauseMs: 0 });
      return { mode, steps, then: 'wait', leave };
    }
    case 'half-close':
      return { mode, steps: [{ bytes, pauseMs: 0 }], then: 'end', leave };
    case 'early-close':
      return { mode, steps: [{ bytes: bytes.subarray(0, rng.int(bytes.length + 1)), pauseMs: rng.int(20) }], then: 'end', leave };
    case 'reset':
      return { mode, steps: split(rng.range(1, 3), () => rng.int(30)).slice(0, rng.range(1, 3)), then: 'reset', leave };
    case 'flood': {
      // The input, then a lot more: header limits, the SOCKS early-bytes limit, back pressure.
      const more = Buffer.alloc(rng.range(64, 1024) * 1024, rng.pick([0x41, 0x00, 0x0a, 0xff]));
      return { mode, steps: [{ bytes, pauseMs: 0 }, { bytes: more, pauseMs: 0 }], then: 'wait', leave };
    }
  }
}

export interface Outcome {
  /** Reply bytes received. */
  bytes: number;
  /** The first reply bytes, for the summary. */
  head: Buffer;
  /** Who ended the connection first. */
  closedBy: 'proxy' | 'client';
  /** The connection could not be opened at all: the proxy is gone or refusing. */
  connectError?: string;
}

export interface Timing {
  /** With no reply at all, give up after this long. */
  replyWaitMs: number;
  /** After the last reply byte, this much silence ends the reply. */
  quietMs: number;
  /** No input holds a connection longer than this. */
  capMs: number;
}

export async function deliver(port: number, p: Plan, timing: Timing): Promise<Outcome> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const head: Buffer[] = [];
  let bytes = 0;
  let lastData = 0;
  let proxyClosed = false;
  socket.on('data', (c: Buffer) => {
    if (bytes < 64) head.push(c.subarray(0, 64 - bytes));
    bytes += c.length;
    lastData = performance.now();
  });
  socket.on('end', () => (proxyClosed = true));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const error = new Promise<NodeJS.ErrnoException>((resolve) => socket.on('error', resolve));
  const connected = await Promise.race([
    new Promise<true>((resolve) => socket.once('connect', () => resolve(true))),
    error,
  ]);
  if (connected !== true) {
    return { bytes: 0, head: Buffer.alloc(0), closedBy: 'proxy', connectError: connected.code ?? connected.message };
  }
  const started = performance.now();
  let gone = false;
  void closed.then(() => (gone = true));

  for (const step of p.steps) {
    if (gone) break;
    if (step.bytes.length) socket.write(step.bytes);
    if (step.pauseMs) await sleep(step.pauseMs);
  }
  if (p.then === 'reset') {
    if (!gone) socket.resetAndDestroy();
    await closeOf(socket, closed);
    return { bytes, head: Buffer.concat(head), closedBy: 'client' };
  }
  if (p.then === 'end' && !gone) socket.end();
  const wroteAt = performance.now();

  // Read until the proxy closes, goes quiet after replying, never replies, or the cap.
  for (;;) {
    const now = performance.now();
    if (gone || proxyClosed) break;
    if (bytes > 0 && now - lastData >= timing.quietMs) break;
    if (bytes === 0 && now - wroteAt >= timing.replyWaitMs) break;
    if (now - started >= timing.capMs) break;
    await Promise.race([closed, sleep(10)]);
  }
  const closedBy = gone || proxyClosed ? 'proxy' : 'client';
  if (!gone) {
    // No RST once our FIN is queued: libuv refuses it (EINVAL) and Node then never emits 'close'.
    if (p.leave === 'reset' && p.then !== 'end') socket.resetAndDestroy();
    else if (p.leave === 'destroy') socket.destroy();
    else {
      socket.end();
      // A proxy that ignores the FIN is cut: the client does not wait forever either.
      const timer = setTimeout(() => socket.destroy(), timing.quietMs * 5);
      void closed.then(() => clearTimeout(timer));
    }
    await closeOf(socket, closed);
  }
  return { bytes, head: Buffer.concat(head), closedBy };
}

/** The socket's close, forced after a while: a stuck client socket must not stall the run. */
async function closeOf(socket: net.Socket, closed: Promise<void>): Promise<void> {
  const timer = setTimeout(() => socket.destroy(), 2_000);
  await Promise.race([closed, sleep(3_000, undefined, { ref: false })]);
  clearTimeout(timer);
}
