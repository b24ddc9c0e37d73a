// Password storage and checking. Stored passwords are either plain text or an scrypt hash made
// by `hopwatch hash-password` ("scrypt$N$r$p$salt$hash", base64url). Every comparison runs in
// constant time, and an unknown user costs the same work as a wrong password.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const PREFIX = 'scrypt$';
const KEY_LENGTH = 32;
/** N=2^15 takes ~50 ms on one core: slow for guessing, affordable once per cached login. */
const DEFAULT = { N: 32768, r: 8, p: 1 } as const;

/**
 * Limits on stored parameters: a hash pasted into the config with absurd ones would make every
 * login (and every unknown-user decoy) cost seconds of CPU or gigabytes of memory.
 */
const MAX_MEMORY = 256 * 1024 * 1024;
const MAX_WORK = 2 ** 24; // N·r·p, 64 times the default's
const SALT_BYTES = { min: 8, max: 64 } as const;
const KEY_BYTES = { min: 16, max: 64 } as const;

/** What scrypt allocates (OpenSSL's count: B is 128·r·p, V is 128·r·(N+2)). */
const memoryFor = (N: number, r: number, p: number) => 128 * r * (N + p + 2);

function scrypt(password: string, salt: Buffer, length: number, options: { N: number; r: number; p: number }): Promise<Buffer> {
  const { N, r, p } = options;
  const full: ScryptOptions = { N, r, p, maxmem: memoryFor(N, r, p) + 1024 };
  return new Promise((resolve, reject) => scryptCb(password, salt, length, full, (err, key) => (err ? reject(err) : resolve(key))));
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
  // Plain decimal only: Number() would also take "0x8000", "1e3" or "".
  if (!parts.slice(1, 4).every((n) => /^[1-9][0-9]{0,7}$/.test(n))) return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  // Buffer.from skips characters outside the alphabet: check them, or garbage would parse.
  if (!/^[A-Za-z0-9_-]+$/.test(parts[4]!) || !/^[A-Za-z0-9_-]+$/.test(parts[5]!)) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  const powerOfTwo = N > 1 && (N & (N - 1)) === 0;
  if (!powerOfTwo || N * r * p > MAX_WORK || memoryFor(N, r, p) > MAX_MEMORY) return undefined;
  if (salt.length < SALT_BYTES.min || salt.length > SALT_BYTES.max || key.length < KEY_BYTES.min || key.length > KEY_BYTES.max) return undefined;
  return { N, r, p, salt, key };
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * Checks `given` against a stored password in constant time. A stored value that starts like a
 * hash but is not one hopwatch can check matches nothing: compared as plain text, the broken
 * hash itself would be the password.
 */
export async function verifyPassword(stored: string, given: string): Promise<boolean> {
  if (isHashed(stored)) {
    const hash = parseHash(stored);
    if (!hash) return false;
    try {
      const derived = await scrypt(given, hash.salt, hash.key.length, hash);
      return timingSafeEqual(derived, hash.key);
    } catch {
      return false; // e.g. memory refused by OpenSSL: a login that cannot be checked is refused
    }
  }
  // Digests first, so the comparison neither fails on nor leaks a length difference.
  return timingSafeEqual(sha256(stored), sha256(given));
}
