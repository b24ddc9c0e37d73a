// Name resolution with its own deadline and an answer to "why did it fail".
//
// The system resolver (getaddrinfo) honours /etc/hosts and nsswitch but folds NXDOMAIN and
// NODATA into one ENOTFOUND and SERVFAIL and timeouts into EAI_AGAIN. So a failed lookup is
// diagnosed with a direct query (c-ares) to learn the rcode. With `dns.servers` configured,
// c-ares asks those servers directly.
import { promises as dns, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { HopFailure } from '../classify/failure.ts';
import { classify, rcodeOf } from '../classify/rules.ts';

const DIAGNOSIS_MAX_MS = 1_000;
/**
 * Once one address family has answered, how long the other still gets (RFC 8305 §3's
 * resolution delay): a server that drops AAAA queries must not turn a good A answer into a timeout.
 */
const RESOLUTION_DELAY_MS = 50;

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
    // The diagnosis only refines an answer already had, so it never waits long for one: at most
    // half of what is left, so a silent server leaves getaddrinfo's answer standing instead of
    // running into the lookup's own deadline and reporting a dns_timeout nobody had.
    const budget = Math.min((deadline - performance.now()) / 2, DIAGNOSIS_MAX_MS);
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
    // c-ares adapts its per-server timeout from past latency and has a floor of its own, so its
    // ETIMEOUT can come long after timeoutMs (600 ms for 300 here): our own timer decides, and
    // whatever is still in flight then is cancelled rather than left running.
    try {
      return await withDeadline(this.ask(resolver, host, timeoutMs), performance.now() + timeoutMs, undefined, () =>
        timeoutFailure(host, timeoutMs),
      );
    } finally {
      resolver.cancel();
    }
  }

  private async ask(resolver: dns.Resolver, host: string, timeoutMs: number): Promise<ResolvedAddress[]> {
    const queries = [resolver.resolve4(host), resolver.resolve6(host)] as const;
    const grace = () => delay(RESOLUTION_DELAY_MS, undefined, { ref: false });
    await Promise.race([Promise.allSettled(queries), firstAddresses(queries).then(grace)]);
    resolver.cancel(); // a family still unanswered after the grace is dropped (ECANCELLED)
    const [v4, v6] = await Promise.allSettled(queries);
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

/** Settles when either query yields an address; never, when neither does. */
function firstAddresses(queries: readonly Promise<string[]>[]): Promise<void> {
  const withAddresses = queries.map((q) => q.then((found) => (found.length ? undefined : Promise.reject(new Error('empty')))));
  // Both failing is not an answer: Promise.allSettled in the race settles then.
  return Promise.any(withAddresses).catch(() => new Promise<void>(() => {}));
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
