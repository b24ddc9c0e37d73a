// A live exchange record as an observation. The time is the analysis clock's (injectable), not
// the record's, so a test can move time without sleeping.
import type { Exchange } from '../exchange/record.ts';
import { formatHostPort } from '../util/address.ts';
import type { Observation } from './observation.ts';

export function observationFromExchange(ex: Exchange, time: number): Observation {
  const t = ex.timings;
  const target = targetOf(ex);
  return {
    time,
    id: ex.id,
    protocol: ex.protocol,
    code: ex.code,
    hop: ex.outcomeHop,
    source: ex.failure ? ex.failure.source : ex.entry.source,
    ...(target !== undefined ? { target } : {}),
    ...(ex.upstreamIp ? { upstreamIp: ex.upstreamIp } : {}),
    ...(ex.attempts ? { attempts: ex.attempts.map((a) => ({ address: a.address, outcome: a.outcome })) } : {}),
    ...(t.ttfb !== undefined ? { ttfbMs: t.ttfb } : {}),
    totalMs: t.total ?? ex.elapsed(),
  };
}

/** "host:port" as the access log writes it, or undefined when the request named none. */
export function targetOf(ex: Exchange): string | undefined {
  return ex.host === undefined || ex.port === undefined ? undefined : formatHostPort(ex.host, ex.port);
}
