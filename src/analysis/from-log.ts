// An access-log line ("msg":"exchange") as an observation, for `hopwatch report`: the same
// fields the live record gives, read back from exchangeFields' JSON.
import type { AttemptOutcome, Observation } from './observation.ts';

type Json = Record<string, unknown>;

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The observation in a log line, or undefined when the line is not a usable exchange line. */
export function observationFromLog(line: Json): Observation | undefined {
  if (line.msg !== 'exchange') return undefined;
  const code = str(line.code);
  const time = typeof line.time === 'number' ? line.time : Date.parse(String(line.time));
  if (!code || !Number.isFinite(time)) return undefined;
  const durations = (line.durations_ms && typeof line.durations_ms === 'object' ? line.durations_ms : {}) as Json;
  const attempts: AttemptOutcome[] = [];
  if (Array.isArray(line.attempts)) {
    for (const a of line.attempts as unknown[]) {
      const address = str((a as Json | null)?.address);
      const outcome = str((a as Json | null)?.outcome);
      if (address && outcome) attempts.push({ address, outcome });
    }
  }
  const target = str(line.target);
  const upstreamIp = str(line.upstream_ip);
  const source = str(line.source);
  const ttfbMs = num(durations.ttfb);
  return {
    time,
    id: str(line.id) ?? '',
    protocol: str(line.protocol) ?? 'unknown',
    code,
    hop: str(line.hop) ?? 'unknown',
    ...(source ? { source } : {}),
    ...(target ? { target } : {}),
    ...(upstreamIp ? { upstreamIp } : {}),
    ...(attempts.length ? { attempts } : {}),
    ...(ttfbMs !== undefined ? { ttfbMs } : {}),
    totalMs: num(durations.total) ?? 0,
  };
}
