// Warm-up before a baseline. V8 sizes its heap to the traffic it sees (the young generation
// grows several-fold, old space is given room) and keeps those pages even after a full
// collection, so RSS climbs for the first tens of thousands of requests whatever they are, in
// steps that come when they come. A baseline taken before the plateau reports that sizing as
// growth; one taken on the plateau shows only what later traffic adds.
import { rssBytes } from './proc.ts';

/** A round that grows RSS by less than this is flat; two flat rounds in a row are the plateau. */
const FLAT_BYTES = 4 * 1048576;

export interface WarmupStep {
  /** Whatever the caller counts (inputs, requests) after this round. */
  done: number;
  rss: number;
}

/**
 * Runs `round` (which sends more traffic and resolves with the running count) until RSS is flat
 * twice in a row, at most `maxRounds` times; returns RSS after each round.
 */
export async function warmUntilFlat(pid: number, round: () => Promise<number>, maxRounds: number): Promise<WarmupStep[]> {
  const steps: WarmupStep[] = [];
  let last = rssBytes(pid);
  let flat = 0;
  for (let i = 0; i < maxRounds && flat < 2; i++) {
    const done = await round();
    const rss = rssBytes(pid);
    steps.push({ done, rss });
    flat = rss - last < FLAT_BYTES ? flat + 1 : 0;
    last = rss;
  }
  return steps;
}
