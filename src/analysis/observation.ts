// One finished exchange as the analysis sees it: the same shape from a live record and from a
// log line, so the proxy and `hopwatch report` reach the same findings from the same facts.
import { CATALOGUE, type CatalogueEntry, type Code } from '../classify/catalogue.ts';

export interface AttemptOutcome {
  address: string;
  /** 'connected', 'abandoned' or the catalogue code the attempt failed with. */
  outcome: string;
}

export interface Observation {
  /** Epoch milliseconds when the exchange ended. */
  time: number;
  id: string;
  protocol: string;
  code: string;
  hop: string;
  /** Who produced the outcome: 'proxy', 'upstream' or 'client'. */
  source?: string;
  /** "host:port"; absent when the request never named one. */
  target?: string;
  upstreamIp?: string;
  attempts?: AttemptOutcome[];
  ttfbMs?: number;
  totalMs: number;
}

export type Outcome = 'failure' | 'success' | 'neutral';

/**
 * Codes the proxy classifies that say nothing about the destination: the client hanging up,
 * the 407 challenge every first request without credentials gets, and our own shutdown.
 */
const NEUTRAL = new Set(['client_abort', 'auth_missing', 'proxy_shutdown']);

/**
 * Failures are what the proxy classified (source proxy) and the origin's own 5xx; any other
 * answer from the origin (2xx–4xx) proves the path to it works, so it counts as a success.
 */
export function outcomeOf(obs: Pick<Observation, 'code' | 'source'>): Outcome {
  const { code } = obs;
  if (code === 'ok') return 'success';
  if (NEUTRAL.has(code)) return 'neutral';
  const source = obs.source ?? entryOf(code)?.source;
  if (source === 'proxy') return 'failure';
  if (source === 'upstream') return code.startsWith('upstream_5') ? 'failure' : 'success';
  return 'neutral';
}

/** The catalogue row of a code read from a log, which may come from another hopwatch version. */
export function entryOf(code: string): CatalogueEntry | undefined {
  return Object.hasOwn(CATALOGUE, code) ? CATALOGUE[code as Code] : undefined;
}

/** Hops after a socket to one address existed: a failure there is that address's. */
export const AFTER_CONNECT = new Set(['tls', 'upstream', 'deliver']);

/** Attempt outcomes that are not failures. */
export function attemptFailed(outcome: string): boolean {
  return outcome !== 'connected' && outcome !== 'abandoned';
}
