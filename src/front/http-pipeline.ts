// Where each request stands on its client connection, for pipelined requests: Node parses them
// ahead of their answers, so a refused request's successors (possibly its smuggled tail) are
// already in hand when it is answered with a close. They are recorded and never served.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { HopFailure } from '../classify/failure.ts';
import type { Exchange } from '../exchange/record.ts';
import { parseForwardTarget } from './target.ts';

/**
 * Where each request stands on its client connection. Node parses pipelined requests ahead of
 * their answers, so requests behind one answered with `Connection: close` are already in hand
 * when it is refused: they are never forwarded, since after a refused request (its framing not
 * trusted, say) the bytes that follow may be its smuggled tail.
 */
export interface ConnectionState {
  /** Requests seen so far. */
  seen: number;
  /** Position of the first request answered with a close; Infinity while none was. */
  closedAt: number;
  /** The latest request, whose body the parser may still be reading. */
  reading: BodyReader | undefined;
  /** Requests served whose response has not closed yet. */
  unanswered: number;
  /** Runs once `unanswered` drops to 0 (see afterEarlierAnswers). */
  whenAnswered: (() => void) | undefined;
}

export interface BodyReader {
  req: IncomingMessage;
  /** Before forwarding: answers the failure; while forwarding: stops the upstream too. */
  fail: (failure: HopFailure) => void;
}

export const connections = new WeakMap<Socket, ConnectionState>();
export const positions = new WeakMap<IncomingMessage, number>();

export function connectionOf(socket: Socket): ConnectionState {
  let conn = connections.get(socket);
  if (!conn) connections.set(socket, (conn = { seen: 0, closedAt: Infinity, reading: undefined, unanswered: 0, whenAnswered: undefined }));
  return conn;
}

/** Records a request behind a close as not served and ends its record; true when it is one. */
export function notServed(ex: Exchange, req: IncomingMessage): boolean {
  const conn = connections.get(req.socket);
  const position = positions.get(req);
  if (!conn || position === undefined || position <= conn.closedAt) return false;
  ex.reach('parse');
  const target = parseForwardTarget(req.url ?? '');
  if (!(target instanceof HopFailure)) {
    ex.scheme = target.scheme;
    ex.host = target.host;
    ex.port = target.port;
    ex.path = target.path;
  }
  ex.fail(new HopFailure('request_malformed', `pipelined behind request ${conn.closedAt} of this connection, which was answered with a close: not served`));
  req.resume();
  // Never answered (the connection closes behind the earlier answer): the record ends here.
  ex.finish();
  return true;
}

/** Whether a request on this connection was answered with a close: nothing after it is served. */
export function closingAfterRefusal(socket: Socket): boolean {
  return (connections.get(socket)?.closedAt ?? Infinity) !== Infinity;
}

/**
 * The listener's parse errors belong to the request whose body the parser was reading, if any:
 * that request answers them itself (or, with its response under way, cuts the connection) and
 * stops its upstream, instead of a raw 400 written into the middle of its exchange while the
 * body read so far goes on upstream. True when a request took the failure.
 */
export function failRequestBody(socket: Socket, failure: HopFailure): boolean {
  const conn = connections.get(socket);
  const reader = conn?.reading;
  // A complete request is not the one that failed: the error is in a later request's head.
  if (!conn || !reader || reader.req.complete) return false;
  conn.reading = undefined;
  conn.closedAt = Math.min(conn.closedAt, positions.get(reader.req) ?? 0);
  reader.fail(failure);
  return true;
}

/**
 * Runs `answer` once every earlier request on the connection has its response out, and serves
 * nothing after; true when it had to wait. The listener answers a broken request head this way:
 * written at once, its 400 would reach a pipelining client as the answer to an earlier request.
 */
export function afterEarlierAnswers(socket: Socket, answer: () => void): boolean {
  const conn = connections.get(socket);
  if (!conn || conn.unanswered === 0) return false;
  conn.closedAt = Math.min(conn.closedAt, conn.seen);
  conn.whenAnswered = answer;
  return true;
}
