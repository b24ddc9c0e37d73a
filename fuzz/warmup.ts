// Warm-up before the baseline. V8 sizes its heap to the traffic it sees (the young generation
// grows several-fold, old space is given room) and keeps those pages even after a full
// collection, so RSS climbs for the first tens of thousands of inputs whatever they are. A
// baseline taken cold would report that sizing as something the fuzzing left behind; one taken
// on the plateau shows only what the fuzzing added.
import type { HopwatchChild } from '../harness/child.ts';
import { rssBytes } from '../harness/proc.ts';

const ROUND = 5_000;
const MAX_ROUNDS = 20;
/** A round that grows RSS by less than this is flat; two flat rounds in a row are the plateau. */
const FLAT_BYTES = 4 * 1048576;

export interface WarmupStep {
  inputs: number;
  rss: number;
}

/**
 * Sends warm-up inputs with `send(n)` (which sends n more): a fixed count, or with 'auto' rounds
 * until RSS is flat twice in a row (at most MAX_ROUNDS). Returns the RSS after each round.
 */
export async function warmUp(child: HopwatchChild, how: 'auto' | number, send: (n: number) => Promise<void>): Promise<WarmupStep[]> {
  const steps: WarmupStep[] = [];
  if (how !== 'auto') {
    if (how > 0) await send(how);
    steps.push({ inputs: how, rss: rssBytes(child.pid) });
    return steps;
  }
  let last = rssBytes(child.pid);
  let flat = 0;
  for (let round = 1; round <= MAX_ROUNDS && flat < 2; round++) {
    await send(ROUND);
    const rss = rssBytes(child.pid);
    steps.push({ inputs: round * ROUND, rss });
    flat = rss - last < FLAT_BYTES ? flat + 1 : 0;
    last = rss;
  }
  return steps;
}
