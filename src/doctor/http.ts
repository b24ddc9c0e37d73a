// Layer 4, the origin directly: the guide's "send a direct request to the upstream, bypassing the
// proxy". The same GET a client would send, to the address that connected, timed to first byte.
// This is the baseline the proxied request is compared with.
import type net from 'node:net';
import { codeForUpstreamStatus } from '../classify/catalogue.ts';
import type { HopFailure } from '../classify/failure.ts';
import { classify } from '../classify/rules.ts';
import { connectAny } from '../upstream/connect.ts';
import { startTls } from '../upstream/tls.ts';
import type { HttpAnswer, HttpLayer, LayerBase, Target } from './types.ts';
import { authority, httpGet, oneLine, type GetRequest, type HttpExchange } from './wire.ts';

/** The guide's risk indicator: "Average response time > 2s: elevated 504 risk". */
export const SLOW_RESPONSE_MS = 2_000;

export async function httpLayer(target: Target, address: { address: string; family: 4 | 6 }, timeoutMs: number, ca?: string): Promise<HttpLayer> {
  const layer: HttpLayer = { layer: 'http', status: 'ok', ms: 0, address: address.address, notes: [] };
  const started = performance.now();
  let socket: net.Socket;
  try {
    socket = await connectAny([address], target.port, timeoutMs, []);
    if (target.scheme === 'https') socket = await startTls(socket, { servername: target.host, timeoutMs, ca });
  } catch (err) {
    layer.ms = performance.now() - started;
    return failLayer(layer, classify('connect', err));
  }
  await getInto(layer, socket, originRequest(target), timeoutMs);
  layer.ms = performance.now() - started;
  return layer;
}

export function originRequest(target: Target, headers: Record<string, string> = {}): GetRequest {
  return { path: target.path, host: authority(target.host, target.port, target.scheme === 'https' ? 443 : 80), headers };
}

/** Runs the GET and writes status, times and any failure into `layer`; returns the exchange. */
export async function getInto(
  layer: LayerBase & HttpAnswer,
  socket: net.Socket,
  request: GetRequest,
  timeoutMs: number,
): Promise<HttpExchange | undefined> {
  let exchange: HttpExchange;
  try {
    exchange = await httpGet(socket, request, timeoutMs);
  } catch (err) {
    socket.destroy();
    failLayer(layer, classify('upstream', err));
    return undefined;
  }
  layer.status = 'ok';
  layer.ttfbMs = exchange.ttfbMs;
  layer.totalMs = exchange.totalMs;
  layer.httpStatus = exchange.status;
  const code = codeForUpstreamStatus(exchange.status);
  if (code !== 'ok') failLayer(layer, { code, detail: `the origin answered ${exchange.status}` });
  else if (exchange.bodyFailure) failLayer(layer, exchange.bodyFailure);
  if (exchange.truncated) layer.notes.push('the body was cut after 1 MiB: only reachability and timing are measured');
  if (exchange.ttfbMs > SLOW_RESPONSE_MS) layer.notes.push(`time to first byte over ${SLOW_RESPONSE_MS / 1000} s (the guide's 504 risk indicator)`);
  return exchange;
}

export function failLayer<T extends LayerBase>(layer: T, failure: Pick<HopFailure, 'code' | 'detail'>): T {
  layer.status = 'failed';
  layer.code = failure.code;
  layer.detail = oneLine(failure.detail);
  return layer;
}
