// HTTP forward proxy front-end: absolute-form requests (GET http://host/path) are forwarded
// through the pooled upstream agent. This file translates between Node's request/response
// objects and the exchange record; classification and upstream work live elsewhere.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { codeForUpstreamStatus } from '../classify/catalogue.ts';
import { HopFailure } from '../classify/failure.ts';
import { proxyStatusForUpstream } from '../classify/proxy-status.ts';
import { classify } from '../classify/rules.ts';
import { admit } from '../exchange/admit.ts';
import { Exchange } from '../exchange/record.ts';
import { parseProxyAuthorization } from '../policy/auth.ts';
import type { UpstreamRequestOptions } from '../upstream/agent.ts';
import type { FrontContext } from './context.ts';
import { REQUEST_ID_HEADER, buildErrorAnswer, sendErrorResponse } from './error-response.ts';
import { forwardable, type Forwardable } from './headers.ts';
import { framingFailure } from './framing.ts';
import { connectionOf, connections, notServed, positions, type BodyReader } from './http-pipeline.ts';
import { parseForwardTarget, type ForwardTarget } from './target.ts';

export function handleForward(ctx: FrontContext, req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
  const socket = req.socket;
  const ex = new Exchange(ctx.lifecycle, 'http', socket.remoteAddress ?? '', socket.remotePort ?? 0);
  ex.method = req.method;
  // Whatever happens below, the record ends exactly once, when the client's response closes.
  res.once('close', () => {
    if (!res.writableFinished) ex.fail(new HopFailure('client_abort', 'the client closed the connection', { hop: ex.hop }));
    ex.finish();
  });
  const conn = connectionOf(socket);
  const position = ++conn.seen;
  positions.set(req, position);
  // Until its body is read, a parse error on the connection is this request's (failRequestBody).
  const reader: BodyReader = { req, fail: (failure) => void (res.headersSent || answerFailure(ctx, ex, req, res, failure)) };
  conn.reading = reader;
  if (notServed(ex, req)) return;
  conn.unanswered++;
  res.once('close', () => {
    if (--conn.unanswered === 0) conn.whenAnswered?.();
  });
  const overLimit = ctx.gate.refusal(socket);
  if (overLimit) return answerFailure(ctx, ex, req, res, overLimit);
  ex.reach('parse');
  const badFraming = framingFailure(req);
  if (badFraming) return answerFailure(ctx, ex, req, res, badFraming);
  const target = parseForwardTarget(req.url ?? '');
  if (target instanceof HopFailure) return answerFailure(ctx, ex, req, res, target);
  ex.scheme = target.scheme;
  ex.host = target.host;
  ex.port = target.port;
  ex.path = target.path;
  const forwarded = forwardable(req.rawHeaders, HOST_FIELD);
  ex.request.via = forwarded.via;
  if (ctx.authEnabled) ex.request.credentials = parseProxyAuthorization(req.headers['proxy-authorization']);
  admit(ex).then(
    (denied) => {
      if (res.headersSent) return; // answered meanwhile: its body could not be parsed
      if (denied) return answerFailure(ctx, ex, req, res, denied);
      const go = () => {
        if (res.headersSent || notServed(ex, req)) return;
        if (expectsContinue && !res.destroyed) res.writeContinue();
        forward(ctx, ex, req, res, target, forwarded, reader);
      };
      // A body goes upstream only once the bytes read with its head are parsed (an immediate
      // runs after the read's parser callbacks, ticks and microtasks run between them): a body
      // whose framing breaks within them then never reaches the origin, not even in part.
      if (forwarded.hasBody) setImmediate(go);
      else go();
    },
    (err: unknown) => void (res.headersSent || answerFailure(ctx, ex, req, res, classify(ex.hop, err))),
  );
}

const HOST_FIELD = new Set(['host']);

function forward(
  ctx: FrontContext,
  ex: Exchange,
  req: IncomingMessage,
  res: ServerResponse,
  target: ForwardTarget,
  forwarded: Forwardable,
  reader: BodyReader,
): void {
  if (res.destroyed) return; // the client left during auth/policy
  const headers = forwarded.headers;
  headers.unshift('Host', target.authority);
  headers.push('Via', `1.1 ${ctx.viaName}`);
  const abort = new AbortController();
  let upReq: http.ClientRequest | undefined;
  let responseTimer: NodeJS.Timeout | undefined;

  const fail = (failure: HopFailure) => {
    clearTimeout(responseTimer);
    ex.fail(failure);
    abort.abort(failure);
    upReq?.destroy();
    if (!res.headersSent) answerFailure(ctx, ex, req, res, ex.failure ?? failure);
    else res.destroy(); // a response already started: cut it, never leave the client hanging
  };
  reader.fail = fail;

  res.once('close', () => {
    if (!res.writableFinished) {
      // The client left: stop the upstream at once instead of downloading into nothing.
      abort.abort(new HopFailure('client_abort', 'the client closed the connection', { hop: ex.hop }));
      upReq?.destroy();
    }
  });

  const send = (mayRetry: boolean) => {
    const options: UpstreamRequestOptions = {
      agent: target.scheme === 'https' ? ctx.agents.https : ctx.agents.http,
      host: target.host,
      port: target.port,
      method: req.method,
      path: target.pathAndQuery,
      headers,
      setHost: false,
      // Explicit, so --insecure-http-parser (or NODE_OPTIONS carrying it) cannot make the
      // response parser lenient: on a pooled connection a response framed two ways would hand
      // its smuggled tail to the next client's request.
      insecureHTTPParser: false,
      exchange: ex,
      hopwatchSignal: abort.signal,
    };
    const current = http.request(options);
    upReq = current;
    let responded = false;
    let sentAt = 0;
    // The response clock starts once the request is on a socket and its body fully sent.
    let waitingFor = 2;
    const armResponseTimer = () => {
      if (--waitingFor > 0 || responded) return;
      responseTimer = setTimeout(() => {
        fail(new HopFailure('response_timeout', `no response headers within ${ctx.timeouts.responseMs} ms`));
      }, ctx.timeouts.responseMs);
    };

    current.once('socket', (upSocket) => {
      ex.reused = current.reusedSocket;
      if (current.reusedSocket) {
        ex.upstreamIp = upSocket.remoteAddress;
        ex.upstreamPort = upSocket.remotePort;
      }
      ex.reach('upstream');
      sentAt = performance.now();
      armResponseTimer();
    });
    current.once('finish', armResponseTimer);

    current.on('error', (err) => {
      if (ex.failure || current !== upReq) return;
      // The connector's failures arrive classified already; the rest happened on the HTTP exchange.
      const failure = classify(responded ? 'deliver' : 'upstream', err);
      // A pooled connection the upstream closed just as it was reused: the request never reached
      // it, so a request without a body is sent once more on a fresh connection.
      if (mayRetry && !responded && current.reusedSocket && failure.code === 'upstream_closed' && !res.destroyed) {
        clearTimeout(responseTimer);
        ex.retries++;
        send(false).end();
        return;
      }
      fail(failure);
    });

    current.once('response', (upRes) => {
      responded = true;
      clearTimeout(responseTimer);
      ex.timings.ttfb = performance.now() - sentAt;
      const status = upRes.statusCode ?? 502;
      ex.status = status;
      ex.reach('deliver');
      const { headers: outHeaders } = forwardable(upRes.rawHeaders);
      outHeaders.push('Via', `1.1 ${ctx.viaName}`, REQUEST_ID_HEADER, ex.id);
      if (status >= 400 && codeForUpstreamStatus(status) !== 'ok') {
        outHeaders.push('Proxy-Status', proxyStatusForUpstream(ctx.proxyName, status));
      }
      if (res.destroyed) return;
      if (ctx.state.draining) res.shouldKeepAlive = false; // so the client goes elsewhere next time
      res.writeHead(status, upRes.statusMessage, outHeaders);
      ex.responseStarted = true;
      current.setTimeout(ctx.timeouts.idleMs, () =>
        fail(new HopFailure('idle_timeout', `no response bytes for ${ctx.timeouts.idleMs} ms`, { hop: 'deliver' })),
      );
      upRes.on('data', (chunk: Buffer) => {
        ex.bytes.fromUpstream += chunk.length;
        ex.bytes.toClient += chunk.length;
        if (!res.write(chunk)) upRes.pause();
      });
      res.on('drain', () => upRes.resume());
      upRes.once('end', () => res.end());
      upRes.once('close', () => {
        if (!upRes.complete && !ex.failure) {
          fail(new HopFailure('response_incomplete', `upstream closed after ${ex.bytes.fromUpstream} body bytes`, { hop: 'deliver' }));
        }
      });
      upRes.on('error', () => {}); // 'close' above classifies it; the error itself adds nothing
    });
    return current;
  };

  if (!forwarded.hasBody) {
    send(true).end();
    req.resume(); // nothing to read, but the parser must see the end of the message
    return;
  }
  const withBody = send(false);
  req.on('data', (chunk: Buffer) => {
    ex.bytes.fromClient += chunk.length;
    ex.bytes.toUpstream += chunk.length;
    if (!withBody.write(chunk)) req.pause();
  });
  withBody.on('drain', () => req.resume());
  req.once('end', () => withBody.end());
}

function answerFailure(ctx: FrontContext, ex: Exchange, req: IncomingMessage, res: ServerResponse, failure: HopFailure): void {
  ex.fail(failure);
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const recorded = ex.failure ?? failure;
  const answer = buildErrorAnswer(ctx, ex.id, recorded, req.headers.accept);
  ex.status = answer.status;
  // Unread request bytes would desynchronise a kept-alive connection: close instead.
  const close = !req.complete || recorded.hop === 'parse' || recorded.hop === 'client' || ctx.state.draining;
  if (close) {
    const conn = connections.get(req.socket);
    if (conn) conn.closedAt = Math.min(conn.closedAt, positions.get(req) ?? 0);
  }
  sendErrorResponse(res, answer, close);
  if (!req.complete) req.resume();
}
