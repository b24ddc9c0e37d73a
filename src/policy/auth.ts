// The auth hop, shared by every front-end: the front-end reads credentials in its protocol's
// way onto the record; this decides. Successful logins are cached (a digest of user and
// password, never the password) so scrypt runs once per client, not once per request.
import { createHash } from 'node:crypto';
import { HopFailure } from '../classify/failure.ts';
import type { Config } from '../config/schema.ts';
import type { Lifecycle } from '../exchange/lifecycle.ts';
import type { AuthFailure, Exchange } from '../exchange/record.ts';
import { isHashed, parseHash, verifyPassword } from './passwords.ts';

const CACHE_MAX = 10_000;
const CACHE_TTL_MS = 5 * 60_000;
const DECOY_PLAIN = 'no such user';

/**
 * What an unknown user is checked against, so that costs what a wrong password costs: a hash
 * with the same parameters (N, r, p, key length) as the first configured one, which no password
 * matches in practice (an all-zero key).
 */
function decoyFor(users: Config['auth']['users']): string {
  for (const user of users) {
    const hash = isHashed(user.password) ? parseHash(user.password) : undefined;
    if (!hash) continue;
    const zeros = (n: number) => Buffer.alloc(n).toString('base64url');
    return `scrypt$${hash.N}$${hash.r}$${hash.p}$${zeros(hash.salt.length)}$${zeros(hash.key.length)}`;
  }
  return DECOY_PLAIN;
}

export type VerifyPassword = (stored: string, given: string) => Promise<boolean>;

export class Authenticator {
  private readonly users: ReadonlyMap<string, string>;
  private readonly verified = new Map<string, number>();
  private readonly decoy: string;
  private readonly verify: VerifyPassword;

  /** `verify` is replaceable so tests can see which stored value each check ran against. */
  constructor(users: Config['auth']['users'], verify: VerifyPassword = verifyPassword) {
    this.users = new Map(users.map((u) => [u.username, u.password]));
    this.decoy = decoyFor(users);
    this.verify = verify;
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** 'ok', or why not: 'unknown_user' / 'wrong_password'. */
  async check(username: string, password: string): Promise<'ok' | 'unknown_user' | 'wrong_password'> {
    const key = createHash('sha256').update(JSON.stringify([username, password])).digest('base64');
    const until = this.verified.get(key);
    if (until !== undefined && until > Date.now()) return 'ok';
    const stored = this.users.get(username);
    const ok = await this.verify(stored ?? this.decoy, password);
    // With hashed and plain users mixed, a plain user's check alone would be far quicker than
    // an unknown user's: run the decoy too, so timing does not tell which users exist.
    if (stored && !isHashed(stored) && this.decoy !== DECOY_PLAIN) await this.verify(this.decoy, password);
    if (!stored) return 'unknown_user';
    if (!ok) return 'wrong_password';
    if (this.verified.size >= CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(key, Date.now() + CACHE_TTL_MS);
    return 'ok';
  }

  /** Decides the auth hop for an exchange whose front-end put credentials on the record. */
  async decide(ex: Exchange): Promise<HopFailure | undefined> {
    const credentials = ex.request.credentials;
    const refuse = (code: HopFailure['code'], detail: string, failure: AuthFailure) => {
      ex.authFailure = failure;
      return new HopFailure(code, detail);
    };
    if (!credentials) return refuse('auth_missing', 'proxy credentials required', { username: undefined, reason: 'missing' });
    if (credentials.kind === 'unsupported') {
      const which = credentials.scheme === 'unknown' ? 'an unknown scheme' : `the ${credentials.scheme} scheme`;
      return refuse('auth_scheme_unsupported', `${which} is not accepted; use Basic`, {
        username: undefined,
        reason: 'unsupported_scheme',
      });
    }
    if (credentials.kind === 'malformed') {
      const detail = credentials.scheme === 'none'
        ? 'Proxy-Authorization names no scheme: send Basic base64(user:password)'
        : 'Proxy-Authorization is not Basic base64(user:password)';
      return refuse('auth_malformed', detail, { username: undefined, reason: 'malformed' });
    }
    const verdict = await this.check(credentials.username, credentials.password);
    if (verdict !== 'ok') {
      // The client learns only that the credentials failed; the log says which part.
      return refuse('auth_invalid', 'the proxy credentials were not accepted', { username: credentials.username, reason: verdict });
    }
    ex.user = credentials.username;
    return undefined;
  }
}

/** `current` is read for every exchange, so a reload swaps the users without re-registering. */
export function registerAuth(lifecycle: Lifecycle, current: () => Authenticator): void {
  lifecycle.intercept('auth', (ex) => {
    const authenticator = current();
    return authenticator.enabled ? authenticator.decide(ex) : undefined;
  });
}

/** Scheme names that may be shown back; anything else is not echoed (it may be a secret). */
const KNOWN_SCHEMES = new Map(
  ['Bearer', 'Digest', 'Negotiate', 'NTLM', 'AWS4-HMAC-SHA256', 'HOBA', 'Mutual', 'SCRAM-SHA-256', 'Token', 'ApiKey'].map((s) => [s.toLowerCase(), s]),
);

/** Reads an HTTP Proxy-Authorization value; undefined when absent. */
export function parseProxyAuthorization(value: string | undefined): Exchange['request']['credentials'] {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  const space = trimmed.indexOf(' ');
  // No scheme at all ("user:pass", bare base64): the value itself is likely the credentials, so
  // none of it may be echoed into a detail.
  if (space < 0 && trimmed.toLowerCase() !== 'basic') return { kind: 'malformed', scheme: 'none' };
  const scheme = space < 0 ? trimmed : trimmed.slice(0, space);
  if (scheme.toLowerCase() !== 'basic') {
    return { kind: 'unsupported', scheme: KNOWN_SCHEMES.get(scheme.toLowerCase()) ?? 'unknown' };
  }
  // "Basic" alone: without this the scheme name itself would be decoded as the credentials.
  if (space < 0) return { kind: 'malformed', scheme: 'Basic' };
  const encoded = trimmed.slice(space + 1).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return { kind: 'malformed', scheme: 'Basic' };
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return { kind: 'malformed', scheme: 'Basic' };
  return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
