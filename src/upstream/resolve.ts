// Name resolution with its own deadline and an answer to "why did it fail".
//
// The system resolver (getaddrinfo) honours /etc/hosts and nsswitch but folds NXDOMAIN and
// NODATA into one ENOTFOUND and SERVFAIL and timeouts into EAI_AGAIN. So a failed lookup is
// diagnosed with a direct query (c-ares) to learn the rcode. With `dns.servers` configured,
// c-ares asks those servers directly.
import { promises as dns, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { HopFailure } from '../classify/failure.ts';
import { classify, rcodeOf } from '../classify/rules.ts';

const DIAGNOSIS_MAX_MS = 1_000;

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface ResolverOptions {
  timeoutMs: number;
  /** "ip" or "ip:port" entries; empty means the system resolver. */
  servers: readonly string[];
}

export class Resolver {
  private readonly options: ResolverOptions;

  constructor(options: ResolverOptions) {
    this.options = options;
  }

  /** Resolves `host`; rejects with a classified dns_* HopFailure. IP literals return at once. */
  async resolve(host: string, signal?: AbortSignal): Promise<ResolvedAddress[]> {
    const literal = isIP(host);
    if (literal) return [{ address: host, family: literal as 4 | 6 }];
    const deadline = performance.now() + this.options.timeoutMs;
    const work = this.options.servers.length ? this.queryServers(host, deadline) : this.lookupSystem(host, deadline);
    return withDeadline(work, deadline, signal, () => timeoutFailure(host, this.options.timeoutMs));
  }

  private async lookupSystem(host: string, deadline: number): Promise<ResolvedAddress[]> {
    let found: LookupAddress[];
    try {
      found = await dns.lookup(host, { all: true, order: 'verbatim' });
    } catch (err) {
      throw await this.diagnose(host, err, deadline);
    }
    if (!found.length) throw new HopFailure('dns_nodata', `no addresses for ${host}`, { params: { rcode: 'NODATA' } });
    return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
  }

  /** getaddrinfo failed: ask the same servers directly to learn which rcode it was. */
  private async diagnose(host: string, lookupError: unknown, deadline: number): Promise<HopFailure> {
    const fallback = classify('dns', lookupError);
    // The diagnosis only refines an answer already had, so it never waits long for one.
    const budget = Math.min(deadline - performance.now(), DIAGNOSIS_MAX_MS);
    if (budget < 5) return fallback;
    try {
      await this.query(host, dns.getServers(), budget);
      // The direct query found addresses that getaddrinfo did not (nsswitch or search-domain
      // differences): keep getaddrinfo's answer, it is what the proxy actually uses.
      return fallback;
    } catch (err) {
      // Only a real answer (an rcode) refines the lookup error; silence does not.
      return err instanceof HopFailure && err.params.rcode ? err : fallback;
    }
  }

  private queryServers(host: string, deadline: number): Promise<ResolvedAddress[]> {
    // RFC 6761: localhost is answered locally whatever the configured servers say.
    if (host === 'localhost' || host.endsWith('.localhost')) {
      return Promise.resolve([{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]);
    }
    return this.query(host, this.options.servers, deadline - performance.now());
  }

  /** A and AAAA in parallel against `servers`; classifies when neither yields an address. */
  private async query(host: string, servers: readonly string[], timeoutMs: number): Promise<ResolvedAddress[]> {
    const resolver = new dns.Resolver({ timeout: Math.max(1, Math.floor(timeoutMs)), tries: 1 });
    resolver.setServers([...servers]);
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    const addresses: ResolvedAddress[] = [];
    if (v4.status === 'fulfilled') for (const address of v4.value) addresses.push({ address, family: 4 });
    if (v6.status === 'fulfilled') for (const address of v6.value) addresses.push({ address, family: 6 });
    if (addresses.length) return addresses;
    const codes = [v4, v6].map((r) => (r.status === 'rejected' ? String((r.reason as { code?: string }).code) : 'ENODATA'));
    // The most telling answer wins: a name that does not exist beats a missing record type.
    const code = ['ENOTFOUND', 'ESERVFAIL', 'EREFUSED', 'ETIMEOUT', 'ECONNREFUSED'].find((c) => codes.includes(c)) ?? codes[0]!;
    if (code === 'ETIMEOUT') return Promise.reject(timeoutFailure(host, timeoutMs));
    const rcode = rcodeOf(code);
    const detail = rcode ? `${host}: ${rcode}` : `${host}: resolver ${code}`;
    return Promise.reject(classify('dns', Object.assign(new Error(detail), { code })));
  }
}

function timeoutFailure(host: string, ms: number): HopFailure {
  return new HopFailure('dns_timeout', `no answer for ${host} within ${Math.round(ms)} ms`);
}

/** Races `work` against a deadline and an abort signal; the loser's result is dropped. */
export function withDeadline<T>(
  work: Promise<T>,
  deadline: number,
  signal: AbortSignal | undefined,
  onTimeout: () => Error,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(() => reject(onTimeout())), Math.max(0, deadline - performance.now()));
    const onAbort = () => finish(() => reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    let done = false;
    function finish(settle: () => void) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    }
    work.then(
      (value) => finish(() => resolve(value)),
      (err: unknown) => finish(() => reject(err)),
    );
    if (signal?.aborted) onAbort();
  });
}
