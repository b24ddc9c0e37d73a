// A live exchange record as an observation. The time is the analysis clock's (injectable), not
// the record's, so a test can move time without sleeping.
import type { Exchange } from '../exchange/record.ts';
import { formatHostPort } from '../util/address.ts';
import type { Observation } from './observation.ts';

export function observationFromExchange(ex: Exchange, time: number): Observation {
  const t = ex.timings;
  const target = targetOf(ex);
  // Built once with every key in one order (absent ones left out as before, without the
  // temporary objects of conditional spreads): this runs for every exchange.
  const obs: Observation = {
    time,
    id: ex.id,
    protocol: ex.protocol,
    code: ex.code,
    hop: ex.outcomeHop,
    source: ex.failure ? ex.failure.source : ex.entry.source,
    totalMs: t.total ?? ex.elapsed(),
  };
  if (target !== undefined) obs.target = target;
  if (ex.upstreamIp) obs.upstreamIp = ex.upstreamIp;
  // Attempt records have the two fields the analysis reads; they are not copied.
  if (ex.attempts) obs.attempts = ex.attempts;
  if (t.ttfb !== undefined) obs.ttfbMs = t.ttfb;
  return obs;
}

/** "host:port" as the access log writes it, or undefined when the request named none. */
export function targetOf(ex: Exchange): string | undefined {
  return ex.host === undefined || ex.port === undefined ? undefined : formatHostPort(ex.host, ex.port);
}
