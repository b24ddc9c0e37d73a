// Password storage and checking. Stored passwords are either plain text or an scrypt hash made
// by `hopwatch hash-password` ("scrypt$N$r$p$salt$hash", base64url). Every comparison runs in
// constant time, and an unknown user costs the same work as a wrong password.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const PREFIX = 'scrypt$';
const KEY_LENGTH = 32;
/** N=2^15 takes ~50 ms on one core: slow for guessing, affordable once per cached login. */
const DEFAULT = { N: 32768, r: 8, p: 1 } as const;

function scrypt(password: string, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, length, { ...options, maxmem: 256 * options.N! * options.r! }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, DEFAULT);
  return `${PREFIX}${DEFAULT.N}$${DEFAULT.r}$${DEFAULT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

export function isHashed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** Parses a stored hash; undefined when it is not one hopwatch can check. */
export function parseHash(stored: string): ScryptHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  const powerOfTwo = N > 1 && (N & (N - 1)) === 0;
  if (!powerOfTwo || N > 2 ** 20 || !(r >= 1 && r <= 32) || !(p >= 1 && p <= 16) || salt.length < 8 || key.length < 16) return undefined;
  return { N, r, p, salt, key };
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Checks `given` against a stored password in constant time. */
export async function verifyPassword(stored: string, given: string): Promise<boolean> {
  const hash = isHashed(stored) ? parseHash(stored) : undefined;
  if (hash) {
    const derived = await scrypt(given, hash.salt, hash.key.length, { N: hash.N, r: hash.r, p: hash.p });
    return timingSafeEqual(derived, hash.key);
  }
  // Digests first, so the comparison neither fails on nor leaks a length difference.
  return timingSafeEqual(sha256(stored), sha256(given));
}
