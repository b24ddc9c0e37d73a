// The HTTP listener: one node:http server carries both forward requests and CONNECT. Requests
// Node cannot parse (garbage, oversized or slow headers) are answered and recorded here.
import http from 'node:http';
import type { Socket } from 'node:net';
import { HopFailure } from '../classify/failure.ts';
import type { Code } from '../classify/catalogue.ts';
import { Exchange } from '../exchange/record.ts';
import type { FrontContext } from './context.ts';
import { buildErrorAnswer, writeErrorToSocket } from './error-response.ts';
import { handleConnect } from './http-connect.ts';
import { handleForward } from './http-forward.ts';

export interface HttpListenerOptions {
  maxHeaderBytes: number;
}

export function createHttpListener(ctx: FrontContext, options: HttpListenerOptions): http.Server {
  const server = http.createServer({
    maxHeaderSize: options.maxHeaderBytes,
    headersTimeout: ctx.timeouts.requestHeadersMs,
    // Bodies may stream for as long as they move; the idle timeout governs them instead.
    requestTimeout: 0,
    keepAliveTimeout: ctx.timeouts.keepAliveMs,
    // How often Node checks headersTimeout: often enough that a 408 comes close to on time.
    connectionsCheckingInterval: Math.min(1_000, Math.max(50, Math.floor(ctx.timeouts.requestHeadersMs / 4))),
    requireHostHeader: false,
    noDelay: true,
  });
  server.on('connection', (socket: Socket) => {
    ctx.gate.admit(socket, 'http');
  });
  server.on('request', (req, res) => handleForward(ctx, req, res));
  // Expect: 100-continue is answered only once the request passed auth and policy, so a client
  // without credentials does not upload its body just to be refused.
  server.on('checkContinue', (req, res) => handleForward(ctx, req, res, true));
  server.on('connect', (req, socket: Socket, head: Buffer) => handleConnect(ctx, req, socket, head));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => onClientError(ctx, err, socket));
  return server;
}

const PARSE_ERRORS: Readonly<Record<string, Code>> = {
  HPE_HEADER_OVERFLOW: 'request_header_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_header_timeout',
};

function onClientError(ctx: FrontContext, err: NodeJS.ErrnoException, socket: Socket): void {
  const code = err.code ?? '';
  // A reset or an idle keep-alive connection closing is not a request: nothing to record.
  if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable || socket.bytesRead === 0 && code !== 'ERR_HTTP_REQUEST_TIMEOUT') {
    socket.destroy();
    return;
  }
  const ex = new Exchange(ctx.lifecycle, 'http', socket.remoteAddress ?? '', socket.remotePort ?? 0);
  ex.reach('parse');
  const reason = (err as { reason?: string }).reason;
  const detail = code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? `request headers not complete within ${ctx.timeouts.requestHeadersMs} ms`
    : `${code}${reason ? `: ${reason}` : ''}`;
  const failure = new HopFailure(PARSE_ERRORS[code] ?? 'request_malformed', detail, { cause: err });
  ex.fail(failure);
  const answer = buildErrorAnswer(ctx, ex.id, failure, undefined);
  ex.status = answer.status;
  socket.once('close', () => ex.finish());
  writeErrorToSocket(socket, answer);
}
