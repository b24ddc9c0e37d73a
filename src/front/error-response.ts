// The answer an HTTP client gets when hopwatch itself fails its request: the classified status,
// a Proxy-Status member (RFC 9209), the request id that matches the log line, and a short body
// in plain text or JSON. Shared by the forward handler, CONNECT and parse errors.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CATALOGUE } from '../classify/catalogue.ts';
import type { HopFailure } from '../classify/failure.ts';
import { proxyStatusForFailure } from '../classify/proxy-status.ts';

export const REQUEST_ID_HEADER = 'X-Request-Id';
/** Seconds a client should wait before retrying after a connection_limit 503. */
export const RETRY_AFTER_SECONDS = 1;

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What an answer needs to know about this proxy. */
export interface AnswerContext {
  readonly proxyName: string;
  readonly realm: string;
}

export function buildErrorAnswer(ctx: AnswerContext, requestId: string, failure: HopFailure, accept: string | undefined): ErrorAnswer {
  const entry = CATALOGUE[failure.code];
  const status = entry.status ?? 502;
  const reason = STATUS_CODES[status] ?? 'Error';
  const json = accept !== undefined && accept.includes('application/json');
  const fields = {
    status,
    code: failure.code,
    hop: failure.hop,
    category: entry.category,
    proxy_status: entry.proxyStatus,
    temporary: entry.temporary,
    detail: failure.detail,
    cause: entry.cause,
    action: entry.action,
    request_id: requestId,
  };
  const body = json
    ? JSON.stringify(fields) + '\n'
    : `${status} ${reason}: ${failure.code} at hop ${failure.hop}\n` +
      `${sentence(entry.cause)}\n` +
      `What to do: ${sentence(entry.action)}\n` +
      `Detail: ${oneLine(failure.detail)}\n` +
      `Request id: ${requestId}\n`;
  const headers: Record<string, string> = {
    'Proxy-Status': proxyStatusForFailure(ctx.proxyName, failure),
    [REQUEST_ID_HEADER]: requestId,
    'Content-Type': json ? 'application/json' : 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
  };
  if (failure.code === 'connection_limit' || failure.code === 'client_connection_limit') headers['Retry-After'] = String(RETRY_AFTER_SECONDS);
  // RFC 9110 §11.7.1: a 407 must say how to authenticate (RFC 7617 Basic, UTF-8 credentials).
  if (status === 407) headers['Proxy-Authenticate'] = `Basic realm="${ctx.realm}", charset="UTF-8"`;
  return { status, headers, body };
}

/** Answers through Node's response object (forward requests). */
export function sendErrorResponse(res: ServerResponse, answer: ErrorAnswer, close: boolean): void {
  if (close) res.shouldKeepAlive = false;
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/** Answers on a raw socket (CONNECT, parse errors) and closes it once written. */
export function writeErrorToSocket(socket: Socket, answer: ErrorAnswer): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}\r\n`;
  for (const [name, value] of Object.entries(answer.headers)) head += `${name}: ${value}\r\n`;
  head += 'Connection: close\r\n\r\n';
  socket.end(head + answer.body);
  // A client that never reads must not hold the socket open.
  socket.setTimeout(5_000, () => socket.destroy());
}

function sentence(text: string): string {
  return /[.?!]$/.test(text) ? text : `${text}.`;
}

/** Header values and body lines must not break lines, whatever a detail contains. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
