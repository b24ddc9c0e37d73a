// One record per HTTP request, CONNECT tunnel or SOCKS5 session (Envoy's StreamInfo): every
// stage writes to it, observers read it when it ends. The first failure recorded stays the
// outcome, so a later symptom (the client hanging up after a 502) cannot overwrite the cause.
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { CATALOGUE, codeForUpstreamStatus, type CatalogueEntry, type Code } from '../classify/catalogue.ts';
import type { HopFailure } from '../classify/failure.ts';
import type { Hop, Protocol } from './hops.ts';
import type { Lifecycle } from './lifecycle.ts';

/** One TCP connect attempt to one resolved address. */
export interface Attempt {
  address: string;
  family: 4 | 6;
  port: number;
  /** 'connected', a catalogue code ('connect_refused', …) or 'abandoned' when another attempt won. */
  outcome: string;
  ms: number;
}

/** How an established tunnel (or a streamed response) came to an end. */
export type StreamEnd =
  | 'complete' | 'client_closed' | 'upstream_closed' | 'client_reset' | 'upstream_reset'
  | 'idle_timeout' | 'max_duration' | 'tls_failure' | 'proxy_closed';

export interface Timings {
  dns?: number;
  connect?: number;
  tls?: number;
  /** Request sent (socket ready) → response headers, or tunnel established → first upstream byte. */
  ttfb?: number;
  total?: number;
}

export interface Bytes {
  fromClient: number;
  toUpstream: number;
  fromUpstream: number;
  toClient: number;
}

/** What a TLS handshake looked like, whether the proxy spoke it or watched it inside a tunnel. */
export interface TlsFacts {
  mode: 'originated' | 'observed';
  sni?: string;
  version?: string;
  alpn?: string;
  clientHello?: boolean;
  serverHello?: boolean;
  /** A TLS alert seen, with the side that sent it. */
  alert?: { id: number; from: 'client' | 'upstream' };
}

/** Proxy credentials as the front-end read them; the password never leaves the auth hop. */
export type Credentials =
  | { kind: 'basic' | 'socks5'; username: string; password: string }
  /** A header that says Basic but does not decode to user:password. */
  | { kind: 'malformed'; scheme: string }
  /** Another scheme (Bearer, Digest …). */
  | { kind: 'unsupported'; scheme: string };

/** Why credentials were refused, for the auth_failure event (never the password). */
export interface AuthFailure {
  username: string | undefined;
  reason: 'missing' | 'malformed' | 'unsupported_scheme' | 'unknown_user' | 'wrong_password';
}

/** Facts the front-end read from the request and the stages may need; never logged whole. */
export interface RequestFacts {
  /** The incoming Via header, for loop detection. */
  via?: string;
  credentials?: Credentials;
}

// A per-process prefix plus a counter: unique, cheap, and sortable within one process.
const ID_PREFIX = randomBytes(4).toString('hex');
let idCounter = 0;

export class Exchange {
  readonly id = `${ID_PREFIX}-${(++idCounter).toString(36)}`;
  readonly startedAt = Date.now();
  readonly t0 = performance.now();
  readonly protocol: Protocol;
  readonly lifecycle: Lifecycle;

  clientIp: string;
  clientPort: number;
  user: string | undefined;
  method: string | undefined;
  host: string | undefined;
  port: number | undefined;
  scheme: 'http' | 'https' | undefined;
  /** Path without the query string, which often carries tokens. */
  path: string | undefined;
  request: RequestFacts = {};

  /** Addresses DNS returned (or the literal), in the order they will be tried. */
  resolved: string[] | undefined;
  upstreamIp: string | undefined;
  upstreamPort: number | undefined;
  reused = false;
  /** Requests sent again after a pooled connection turned out to be closed. */
  retries = 0;
  attempts: Attempt[] | undefined;
  tls: TlsFacts | undefined;

  /** The furthest hop reached. */
  hop: Hop = 'client';
  readonly timings: Timings = {};
  readonly bytes: Bytes = { fromClient: 0, toUpstream: 0, fromUpstream: 0, toClient: 0 };
  status: number | undefined;
  responseStarted = false;
  end: StreamEnd | undefined;
  failure: HopFailure | undefined;
  authFailure: AuthFailure | undefined;
  finished = false;

  constructor(lifecycle: Lifecycle, protocol: Protocol, clientIp: string, clientPort: number) {
    this.lifecycle = lifecycle;
    this.protocol = protocol;
    this.clientIp = clientIp;
    this.clientPort = clientPort;
    lifecycle.begin(this);
  }

  /** Milliseconds since the exchange started. */
  elapsed(): number {
    return performance.now() - this.t0;
  }

  reach(hop: Hop): void {
    this.hop = hop;
    this.lifecycle.hop(this, hop);
  }

  /** Records the failure unless one is already recorded; returns whether it was recorded. */
  fail(failure: HopFailure): boolean {
    if (this.failure || this.finished) return false;
    this.failure = failure;
    return true;
  }

  /** Ends the record once; later calls are ignored. */
  finish(end?: StreamEnd): void {
    if (this.finished) return;
    if (end && !this.end) this.end = end;
    this.finished = true;
    this.timings.total = this.elapsed();
    this.lifecycle.end(this);
  }

  /** The catalogue code this record ends with. */
  get code(): Code {
    if (this.failure) return this.failure.code;
    return this.protocol === 'http' ? codeForUpstreamStatus(this.status ?? 0) : 'ok';
  }

  get entry(): CatalogueEntry {
    return CATALOGUE[this.code];
  }

  /** Where the outcome was decided: the failure's hop, or the catalogue's for a success. */
  get outcomeHop(): Hop {
    return this.failure ? this.failure.hop : this.entry.hop;
  }
}
