// Input number N of a run, entirely from (seed, N): what kind it is, which listener it goes to,
// its bytes and how they are delivered. `--only N` replays exactly this input.
import { httpSeed, socksSeed, type Targets } from './corpus.ts';
import { mutate } from './mutate.ts';
import { Prng } from './prng.ts';
import { plan, type Mode, type Plan } from './send.ts';

export const KINDS = ['http-mutated', 'socks-mutated', 'http-valid', 'socks-valid', 'http-random', 'socks-random', 'cross-protocol'] as const;
export type Kind = (typeof KINDS)[number];

const KIND_WEIGHTS: ReadonlyArray<readonly [Kind, number]> = [
  ['http-mutated', 40], ['socks-mutated', 30], ['http-valid', 6], ['socks-valid', 4],
  ['http-random', 7], ['socks-random', 7], ['cross-protocol', 6],
];

export interface Input {
  index: number;
  kind: Kind;
  listener: 'http' | 'socks';
  bytes: Buffer;
  plan: Plan;
}

/** Random bytes, sometimes behind a prefix that gets them past the first check. */
function noise(rng: Prng, prefixes: readonly string[]): Buffer {
  const size = rng.range(1, rng.pick([1, 4, 16, 64, 512, 4096]));
  const prefix = rng.chance(0.5) ? Buffer.from(rng.pick(prefixes), 'latin1') : Buffer.alloc(0);
  return Buffer.concat([prefix, rng.bytes(size)]);
}

/**
 * Warm-up input N: the same mix as the fuzzing, from a separate stream of the seed (so warm-up
 * does not shift the inputs). It brings the process to its working size under this traffic
 * before the baseline is taken: V8 grows its young generation several-fold under load, and
 * floods and TLS attempts size the allocator's pools. The comparison afterwards then measures
 * what the fuzzing left behind, not that sizing.
 */
export function makeWarmup(seed: number, index: number, t: Targets): Input {
  return makeInput((seed ^ 0x5eed) >>> 0, index, t);
}

export function makeInput(seed: number, index: number, t: Targets, mode?: Mode): Input {
  const rng = new Prng(seed, index);
  const kind = rng.weighted(KIND_WEIGHTS);
  const anySeed = () => (rng.chance(0.5) ? httpSeed(rng, t) : socksSeed(rng, t));
  let listener: Input['listener'];
  let bytes: Buffer;
  switch (kind) {
    case 'http-mutated':
      listener = 'http';
      bytes = mutate(rng, httpSeed(rng, t), anySeed);
      break;
    case 'socks-mutated':
      listener = 'socks';
      bytes = mutate(rng, socksSeed(rng, t), anySeed);
      break;
    case 'http-valid':
      listener = 'http';
      bytes = Buffer.concat(httpSeed(rng, t));
      break;
    case 'socks-valid':
      listener = 'socks';
      bytes = Buffer.concat(socksSeed(rng, t));
      break;
    case 'http-random':
      listener = 'http';
      bytes = noise(rng, ['GET http://', 'CONNECT ', 'POST http://127.0.0.1/ HTTP/1.1\r\n', 'GET / HTTP/1.1\r\nHost: ']);
      break;
    case 'socks-random':
      listener = 'socks';
      bytes = noise(rng, ['\x05', '\x05\x01\x02', '\x05\x01\x02\x01', '\x04\x01']);
      break;
    case 'cross-protocol': {
      // Each listener gets the other protocol: what a misconfigured client sends.
      listener = rng.chance(0.5) ? 'http' : 'socks';
      const seed = listener === 'http' ? socksSeed(rng, t) : httpSeed(rng, t);
      bytes = rng.chance(0.5) ? Buffer.concat(seed) : mutate(rng, seed, anySeed);
      break;
    }
  }
  return { index, kind, listener, bytes, plan: plan(rng, bytes, mode) };
}
