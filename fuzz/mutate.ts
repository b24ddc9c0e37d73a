// Mutations of a seed. Field-level ones (duplicate, drop, swap, inflate a line or a SOCKS5 field)
// make the structurally wrong inputs parsers trip on: duplicate Content-Length, a second
// greeting, a 40 KB header. Byte-level ones (flips, insertions, deletions, truncation, numbers
// replaced) find the off-by-ones. Several are stacked per input, mostly few.
import type { Prng } from './prng.ts';
import type { Seed } from './corpus.ts';

/** Bytes that mean something to HTTP or SOCKS5 parsers. */
const INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x25, 0x2c, 0x3a, 0x3b, 0x7f, 0x80, 0xfe, 0xff];
const NUMBERS = ['0', '-1', '1', '65535', '65536', '4294967296', '99999999999999999999', '0x10', ' 1', '1 1', '+5', '', '00000000000000000001'];
const TOKENS = [
  '\r\n', '\n', '\r', ':', ' ', '\t', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 5\r\n', 'Host: \r\n',
  '\r\n\r\n', 'HTTP/1.1', ' HTTP/2.0', '%00', '..', '@', '://', 'CONNECT ', '\x1b[31m', '"\\', '\u00e9\u{1f600}',
];

type SegmentMutation = (rng: Prng, segs: Buffer[]) => Buffer[];
type ByteMutation = (rng: Prng, buf: Buffer) => Buffer;

const at = (rng: Prng, segs: Buffer[]) => rng.int(segs.length);

const segmentMutations: ReadonlyArray<readonly [SegmentMutation, number]> = [
  [(rng, s) => { const i = at(rng, s); return [...s.slice(0, i + 1), ...s.slice(i)]; }, 3], // duplicate
  [(rng, s) => { const i = at(rng, s); return [...s.slice(0, i), ...s.slice(i + 1)]; }, 3], // drop
  [(rng, s) => { // swap two
    const out = [...s];
    const i = at(rng, s);
    const j = at(rng, s);
    [out[i], out[j]] = [out[j]!, out[i]!];
    return out;
  }, 2],
  [(rng, s) => { // inflate: a field repeated until it is large (over maxHeaderBytes sometimes)
    const out = [...s];
    const i = at(rng, s);
    const seg = out[i]!.length ? out[i]! : Buffer.from('A');
    const target = rng.pick([300, 4_000, 20_000, 70_000]);
    out[i] = Buffer.concat(new Array<Buffer>(Math.max(1, Math.ceil(target / seg.length))).fill(seg));
    return out;
  }, 1],
  [(rng, s) => { const out = [...s]; out[at(rng, s)] = rng.bytes(rng.range(0, 40)); return out; }, 2], // replace with random
  [(rng, s) => { // a length byte or field that disagrees with what follows
    const out = [...s];
    const i = at(rng, s);
    const seg = Buffer.from(out[i]!);
    if (seg.length) seg[rng.int(seg.length)] = rng.pick([0x00, 0x01, 0xff, seg.length, seg.length + 1, rng.int(256)]);
    out[i] = seg;
    return out;
  }, 3],
];

const byteMutations: ReadonlyArray<readonly [ByteMutation, number]> = [
  [(rng, b) => { // bit flips
    const out = Buffer.from(b);
    for (let n = rng.range(1, 8); n > 0 && out.length; n--) out[rng.int(out.length)]! ^= 1 << rng.int(8);
    return out;
  }, 6],
  [(rng, b) => { // insert interesting or random bytes
    const i = rng.int(b.length + 1);
    const ins = rng.chance(0.5) ? Buffer.from([rng.pick(INTERESTING)]) : rng.bytes(rng.range(1, 16));
    return Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
  }, 4],
  [(rng, b) => { // insert a token that means something to HTTP
    const i = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, i), Buffer.from(rng.pick(TOKENS), 'utf8'), b.subarray(i)]);
  }, 3],
  [(rng, b) => { // delete a range
    const i = rng.int(b.length);
    return Buffer.concat([b.subarray(0, i), b.subarray(i + rng.range(1, 32))]);
  }, 4],
  [(rng, b) => b.subarray(0, rng.int(b.length)), 4], // truncate
  [(rng, b) => { // overwrite a byte
    const out = Buffer.from(b);
    if (out.length) out[rng.int(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING) : rng.int(256);
    return out;
  }, 4],
  [(rng, b) => { // replace a run of digits with an edge-case number
    const text = b.toString('latin1');
    const runs = [...text.matchAll(/\d+/g)];
    if (!runs.length) return b;
    const run = rng.pick(runs);
    const start = run.index;
    return Buffer.concat([b.subarray(0, start), Buffer.from(rng.pick(NUMBERS), 'latin1'), b.subarray(start + run[0].length)]);
  }, 3],
  [(rng, b) => Buffer.concat([b, rng.bytes(rng.range(1, 512))]), 1], // trailing garbage
];

/** Applies 1–5 mutations (mostly 1–2): first field-level on the segments, then byte-level. */
export function mutate(rng: Prng, seed: Seed, other: () => Seed): Buffer {
  let segs = [...seed];
  let count = rng.weighted<number>([[1, 8], [2, 5], [3, 3], [4, 1], [5, 1]]);
  while (count > 0 && rng.chance(0.4)) {
    segs = rng.chance(0.08) ? splice(rng, segs, other()) : rng.weighted(segmentMutations)(rng, segs);
    count--;
  }
  let buf: Buffer = Buffer.concat(segs);
  for (; count > 0; count--) buf = rng.weighted(byteMutations)(rng, buf);
  return buf;
}

/** The head of one seed and the tail of another (of either protocol). */
function splice(rng: Prng, a: Buffer[], b: Buffer[]): Buffer[] {
  return [...a.slice(0, rng.int(a.length + 1)), ...b.slice(rng.int(b.length))];
}
