// HTTP forward proxy front-end: absolute-form requests (GET http://host/path) are forwarded
// through the upstream pool. This file translates between Node's request/response
// objects and the exchange record; classification and upstream work live elsewhere.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { codeForUpstreamStatus } from '../classify/catalogue.ts';
import { HopFailure } from '../classify/failure.ts';
import { proxyStatusForUpstream } from '../classify/proxy-status.ts';
import { classify } from '../classify/rules.ts';
import { admit } from '../exchange/admit.ts';
import { Exchange } from '../exchange/record.ts';
import { parseProxyAuthorization } from '../policy/auth.ts';
import type { PooledConnection } from '../upstream/pool.ts';
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
  const admitted = (denied: HopFailure | undefined) => {
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
  };
  const admission = admit(ex);
  if (admission instanceof Promise) {
    admission.then(admitted, (err: unknown) => void (res.headersSent || answerFailure(ctx, ex, req, res, classify(ex.hop, err))));
  } else {
    admitted(admission);
  }
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
  // Only a new upstream connection needs a signal (DNS, connect and TLS listen to it); a request
  // on a kept-alive connection is stopped through undici's controller.
  let abort: AbortController | undefined;
  let stopped: HopFailure | undefined;
  let controller: Dispatcher.DispatchController | undefined;
  const stop = (why: HopFailure) => {
    stopped ??= why;
    abort?.abort(why);
    controller?.abort(why);
  };
  let responseTimer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;

  const fail = (failure: HopFailure) => {
    clearTimeout(responseTimer);
    clearTimeout(idleTimer);
    ex.fail(failure);
    stop(failure);
    if (!res.headersSent) answerFailure(ctx, ex, req, res, ex.failure ?? failure);
    else res.destroy(); // a response already started: cut it, never leave the client hanging
  };
  reader.fail = fail;

  res.once('close', () => {
    if (!res.writableFinished) {
      // The client left: stop the upstream at once instead of downloading into nothing.
      stop(new HopFailure('client_abort', 'the client closed the connection', { hop: ex.hop }));
      clearTimeout(responseTimer);
      clearTimeout(idleTimer);
    }
  });
  res.on('drain', () => controller?.resume());

  const send = (mayRetry: boolean) => {
    const idle = ctx.pool.takeIdle(target.scheme, target.host, target.port);
    if (idle) return dispatch(idle, true, mayRetry);
    abort = new AbortController();
    if (stopped) abort.abort(stopped);
    ctx.pool.open(ex, target.scheme, target.host, target.port, abort.signal).then(
      (connection) => dispatch(connection, false, mayRetry),
      // The connector's failures arrive classified (dns, connect, tls, client_abort).
      (err: unknown) => fail(classify('connect', err)),
    );
  };

  const dispatch = (connection: PooledConnection, reused: boolean, mayRetry: boolean) => {
    if (ex.failure || res.destroyed) return ctx.pool.release(connection);
    ex.reused = reused;
    if (reused) {
      ex.upstreamIp = connection.remoteAddress;
      ex.upstreamPort = connection.remotePort;
    }
    ex.reach('upstream');
    const sentAt = performance.now();
    let responded = false;
    let settled = false;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (stopped) c.abort(stopped);
      },
      onBodySent(chunk) {
        ex.bytes.fromClient += chunk.length;
        ex.bytes.toUpstream += chunk.length;
      },
      // The response clock starts once the request, body included, is on its way.
      onRequestSent() {
        if (responded || settled) return;
        responseTimer = setTimeout(() => {
          fail(new HopFailure('response_timeout', `no response headers within ${ctx.timeouts.responseMs} ms`));
        }, ctx.timeouts.responseMs);
      },
      onResponseStart(c, status, _headers, statusMessage) {
        responded = true;
        clearTimeout(responseTimer);
        ex.timings.ttfb = performance.now() - sentAt;
        ex.status = status;
        ex.reach('deliver');
        const { headers: outHeaders } = forwardable(rawHeaderStrings(c.rawHeaders));
        outHeaders.push('Via', `1.1 ${ctx.viaName}`, REQUEST_ID_HEADER, ex.id);
        if (status >= 400 && codeForUpstreamStatus(status) !== 'ok') {
          outHeaders.push('Proxy-Status', proxyStatusForUpstream(ctx.proxyName, status));
        }
        if (res.destroyed) return;
        if (ctx.state.draining) res.shouldKeepAlive = false; // so the client goes elsewhere next time
        res.writeHead(status, statusMessage || undefined, outHeaders);
        ex.responseStarted = true;
        idleTimer = setTimeout(() => {
          fail(new HopFailure('idle_timeout', `no response bytes for ${ctx.timeouts.idleMs} ms`, { hop: 'deliver' }));
        }, ctx.timeouts.idleMs);
      },
      onResponseData(c, chunk) {
        idleTimer?.refresh();
        ex.bytes.fromUpstream += chunk.length;
        ex.bytes.toClient += chunk.length;
        if (!res.write(chunk)) c.pause();
      },
      onResponseEnd() {
        settled = true;
        clearTimeout(idleTimer);
        res.end();
        ctx.pool.release(connection);
      },
      onResponseError(_c, err) {
        settled = true;
        clearTimeout(responseTimer);
        clearTimeout(idleTimer);
        ctx.pool.discard(connection);
        if (ex.failure) return; // hopwatch aborted it: the failure is recorded already
        // undici may see the close before the socket reports why (a TLS alert is emitted after
        // the end of the stream): give the socket's own error one turn of the loop to arrive.
        const closed = (err as { code?: string }).code === 'UND_ERR_SOCKET';
        if (closed && !connection.socketError) setImmediate(() => settle(connection.socketError ?? err));
        else settle(closed ? (connection.socketError ?? err) : err);
      },
    };
    const settle = (cause: Error) => {
      if (ex.failure) return;
      const failure = classify(responded ? 'deliver' : 'upstream', cause);
      // A pooled connection the upstream closed just as it was reused: the request never reached
      // it, so a request without a body is sent once more on a fresh connection.
      if (mayRetry && !responded && reused && failure.code === 'upstream_closed' && !res.destroyed) {
        ex.retries++;
        send(false);
        return;
      }
      fail(failure);
    };
    try {
      connection.client.dispatch(
        { path: target.pathAndQuery, method: req.method ?? 'GET', headers, body: forwarded.hasBody ? req : null, headersTimeout: 0, bodyTimeout: 0 },
        handler,
      );
    } catch (err) {
      // undici refuses what it cannot send (a request field it validates): nothing went upstream.
      ctx.pool.release(connection);
      fail(classify('upstream', err));
    }
  };

  if (!forwarded.hasBody) req.resume(); // nothing to read, but the parser must see the end of the message
  send(!forwarded.hasBody);
}

/** undici hands raw response headers as Buffers (name, value, …); forwardable() takes strings. */
function rawHeaderStrings(raw: Dispatcher.DispatchController['rawHeaders']): string[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((part) => (typeof part === 'string' ? part : part.toString('latin1')));
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
