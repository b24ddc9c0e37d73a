// Layer 2, TCP: every resolved address on its own, not Happy Eyeballs' first winner, so one dead
// node behind a name shows (the guide: "if your upstream is a cluster, … nodes are unhealthy").
import type { Attempt } from '../exchange/record.ts';
import { classify } from '../classify/rules.ts';
import { connectAny } from '../upstream/connect.ts';
import type { Address, TcpAttempt, TcpLayer } from './types.ts';
import { oneLine } from './wire.ts';

export async function tcpLayer(answers: readonly Address[], port: number, timeoutMs: number): Promise<TcpLayer> {
  const started = performance.now();
  // One address per connectAny call: its deadline, timing and classification, without the race.
  const attempts = await Promise.all(answers.map((a) => attempt(a, port, timeoutMs)));
  const failed = attempts.filter((a) => a.outcome !== 'connected');
  const layer: TcpLayer = { layer: 'tcp', status: 'ok', ms: performance.now() - started, attempts, notes: [] };
  const first = failed[0];
  if (first) {
    layer.status = failed.length === attempts.length ? 'failed' : 'degraded';
    if (first.outcome !== 'connected') layer.code = first.outcome;
    layer.detail = failed.length === attempts.length
      ? (attempts.length > 1 ? `all ${attempts.length} addresses failed` : (first.detail ?? first.outcome))
      : `${failed.length} of ${attempts.length} addresses failed: clients sent to ${failed.length > 1 ? 'them' : 'it'} fail`;
  }
  return layer;
}

async function attempt(target: Address, port: number, timeoutMs: number): Promise<TcpAttempt> {
  const record: Attempt[] = [];
  const started = performance.now();
  try {
    const socket = await connectAny([target], port, timeoutMs, record);
    socket.destroy();
    return { ...target, port, outcome: 'connected', ms: record[0]?.ms ?? performance.now() - started };
  } catch (err) {
    const failure = classify('connect', err);
    return { ...target, port, outcome: failure.code, ms: record[0]?.ms ?? performance.now() - started, detail: oneLine(failure.detail) };
  }
}

/** The address later layers use: the first that connected, in the resolver's order. */
export function firstConnected(layer: TcpLayer): TcpAttempt | undefined {
  return layer.attempts.find((a) => a.outcome === 'connected');
}
