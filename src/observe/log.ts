// The access log: one pino JSON line per finished exchange, built from an allow-list of record
// fields (never raw headers, so credentials and URL userinfo cannot reach it).
import { fstatSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/schema.ts';
import type { Observer } from '../exchange/lifecycle.ts';
import type { Exchange } from '../exchange/record.ts';
import { formatHostPort } from '../util/address.ts';
import { LineBatch, isLineSink } from './line-batch.ts';

const SERVICE = 'hopwatch';

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: SERVICE },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  // Asynchronous stdout: a blocking terminal or pipe must not stall the proxy. Flushed on
  // signals. No minimum buffer length, so a quiet proxy's lines still appear at once. A regular
  // file cannot block that way, and there each asynchronous write was a round trip through
  // libuv's thread pool per line, the largest single cost of a CONNECT tunnel (about a sixth of
  // its proxy CPU, measured; a synchronous write costs about what formatting the line does), so
  // a file is written synchronously, as Node writes process.stdout to one.
  const sink = destination ?? pino.destination({ dest: 1, sync: stdoutIsFile() });
  // pino's own destination gets its lines a turn of the event loop at a time (line-batch.ts);
  // any other stream (a test's, say) gets each line as it is written.
  return pino(options, isLineSink(sink) ? new LineBatch(sink) : sink);
}

function stdoutIsFile(): boolean {
  try {
    return fstatSync(1).isFile();
  } catch {
    return false;
  }
}

const round = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * 100) / 100);

/** Whether a retry may help, as the recurrence analysis judges it now; undefined: no opinion. */
export type TemporaryJudge = (ex: Exchange) => boolean | undefined;

/** The log line's fields, in a stable order. Exported for tests and the report command. */
export function exchangeFields(ex: Exchange, temporary?: TemporaryJudge): Record<string, unknown> {
  const entry = ex.entry;
  const failure = ex.failure;
  const t = ex.timings;
  return {
    id: ex.id,
    protocol: ex.protocol,
    client_ip: ex.clientIp,
    client_port: ex.clientPort,
    user: ex.user,
    method: ex.method,
    target: ex.host === undefined || ex.port === undefined ? undefined : formatHostPort(ex.host, ex.port),
    scheme: ex.scheme,
    path: ex.path,
    upstream_ip: ex.upstreamIp,
    upstream_port: ex.upstreamPort,
    reused: ex.reused || undefined,
    retries: ex.retries || undefined,
    resolved: ex.resolved && ex.resolved.length > 1 ? ex.resolved : undefined,
    attempts: ex.attempts?.map((a) => ({ address: a.address, port: a.port, outcome: a.outcome, ms: round(a.ms) })),
    status: ex.status,
    code: ex.code,
    hop: ex.outcomeHop,
    category: entry.category,
    source: failure ? failure.source : entry.source,
    proxy_status: entry.proxyStatus ?? undefined,
    temporary: ex.code === 'ok' ? undefined : (temporary?.(ex) ?? entry.temporary),
    detail: failure?.detail,
    rcode: failure?.params.rcode,
    alert_id: failure?.params['alert-id'],
    alert_message: failure?.params['alert-message'],
    cause: ex.code === 'ok' ? undefined : entry.cause,
    action: ex.code === 'ok' ? undefined : entry.action,
    response_started: ex.responseStarted,
    end: ex.end,
    tls: ex.tls,
    durations_ms: {
      dns: round(t.dns),
      connect: round(t.connect),
      tls: round(t.tls),
      ttfb: round(t.ttfb),
      total: round(t.total),
    },
    bytes: {
      from_client: ex.bytes.fromClient,
      to_upstream: ex.bytes.toUpstream,
      from_upstream: ex.bytes.fromUpstream,
      to_client: ex.bytes.toClient,
    },
  };
}

/**
 * `enabled` is read for every record, so a reload can turn the access log on or off.
 *
 * The access line is written on every exchange, so it skips pino's per-key serialisation: one
 * JSON.stringify of the fields (half the cost, measured), framed as pino frames its own lines
 * (level label, ISO time, service, msg) and written to pino's destination, so ordering,
 * buffering and flush-on-exit stay pino's.
 */
export function accessLogObserver(logger: Logger, enabled: () => boolean = () => true, temporary?: TemporaryJudge): Observer {
  const destination = (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
  // The logger's fields (service; and worker, in a cluster), serialised once, not per line.
  const bound = JSON.stringify(logger.bindings()).slice(1, -1);
  const bindings = bound ? `${bound},` : '';
  let stampedAt = -1;
  let stamp = '';
  return {
    name: 'access-log',
    onEnd(ex) {
      if (!enabled()) return;
      const level = ex.code === 'internal_error' ? 'error' : ex.failure && ex.failure.source === 'proxy' ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const now = Date.now();
      if (now !== stampedAt) {
        stampedAt = now;
        stamp = new Date(now).toISOString();
      }
      const fields = JSON.stringify(exchangeFields(ex, temporary));
      destination.write(`{"level":"${level}","time":"${stamp}",${bindings}${fields.slice(1, -1)},"msg":"exchange"}\n`);
    },
  };
}

/**
 * Each refused login as its own event, apart from the access line: the guide asks for auth
 * failures to be watched separately from other 4xx. The username tried, never the password.
 */
export function authFailureObserver(logger: Logger): Observer {
  return {
    name: 'auth-failure-log',
    onEnd(ex) {
      const failure = ex.authFailure;
      if (!failure) return;
      logger.warn(
        { id: ex.id, protocol: ex.protocol, client_ip: ex.clientIp, username: failure.username, reason: failure.reason, code: ex.code },
        'auth_failure',
      );
    },
  };
}
