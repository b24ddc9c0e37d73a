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
import { afterEarlierAnswers, closingAfterRefusal, failRequestBody } from './http-pipeline.ts';

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
    // Explicit, so --insecure-http-parser (or NODE_OPTIONS carrying it) cannot turn the lenient
    // llhttp flags on for a proxy: with them, Content-Length beside Transfer-Encoding, folded and
    // malformed fields pass, and a request could be framed one way here and another upstream.
    insecureHTTPParser: false,
  });
  server.on('connection', (socket: Socket) => {
    ctx.gate.admit(socket, 'http');
  });
  server.on('request', (req, res) => handleForward(ctx, req, res));
  // Expect: 100-continue is answered only once the request passed auth and policy, so a client
  // without credentials does not upload its body just to be refused.
  server.on('checkContinue', (req, res) => handleForward(ctx, req, res, true));
  server.on('connect', (req, socket: Socket, head: Buffer) => {
    // A CONNECT pipelined behind a request answered with a close may be a refused request's
    // smuggled tail: no tunnel for it (the connection closes behind the earlier answer).
    if (closingAfterRefusal(socket)) return refusePipelined(ctx, socket);
    handleConnect(ctx, req, socket, head);
  });
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
  const reason = (err as { reason?: string }).reason;
  const detail = code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? `request headers not complete within ${ctx.timeouts.requestHeadersMs} ms`
    : `${code}${reason ? `: ${reason}` : ''}`;
  // A failed parser reports its error again for every further chunk: one answer is enough.
  if (parseFailed.has(socket)) return;
  parseFailed.add(socket);
  const failure = new HopFailure(PARSE_ERRORS[code] ?? 'request_malformed', detail, { cause: err });
  // A body that breaks off (a bad chunk size) fails its own request, which stops the upstream
  // it was already streaming to; the answer goes out in order through that request.
  if (failRequestBody(socket, failure)) return;
  const ex = new Exchange(ctx.lifecycle, 'http', socket.remoteAddress ?? '', socket.remotePort ?? 0);
  ex.reach('parse');
  ex.fail(failure);
  const answer = buildErrorAnswer(ctx, ex.id, failure, undefined);
  ex.status = answer.status;
  socket.once('close', () => ex.finish());
  // Earlier pipelined requests still being answered go first, or the client would take this 400
  // for the answer to one of them.
  if (afterEarlierAnswers(socket, () => writeErrorToSocket(socket, answer))) return;
  writeErrorToSocket(socket, answer);
}

/** Connections whose request parser failed (and whose failure is answered or being answered). */
const parseFailed = new WeakSet<Socket>();

/** Records a CONNECT that is not served and lets the connection close behind the earlier answer. */
function refusePipelined(ctx: FrontContext, socket: Socket): void {
  const ex = new Exchange(ctx.lifecycle, 'connect', socket.remoteAddress ?? '', socket.remotePort ?? 0);
  ex.method = 'CONNECT';
  ex.reach('parse');
  ex.fail(new HopFailure('request_malformed', 'CONNECT pipelined behind a request answered with a close: not served'));
  ex.finish();
  socket.resume(); // what the client still sends is dropped; the earlier answer's end closes the socket
}
