// Layer 5, through the HTTP proxy, the way clients use it: an absolute-form GET for http URLs;
// CONNECT, then TLS inside the tunnel, then the GET for https URLs. What the proxy says about a
// failure (Proxy-Status, X-Request-Id, its body) is read back into a catalogue code.
import type net from 'node:net';
import { CATALOGUE } from '../classify/catalogue.ts';
import type { HopFailure } from '../classify/failure.ts';
import { classify } from '../classify/rules.ts';
import { startTls } from '../upstream/tls.ts';
import type { ProxyEndpoint } from './args.ts';
import { failLayer, getInto, originRequest } from './http.ts';
import { codeFromAnswer, reportingMember } from './proxy-answer.ts';
import type { ProxyLayer, Target } from './types.ts';
import { authority, connectHandshake, dial, proxyAuthorization } from './wire.ts';

export async function proxyLayer(target: Target, proxy: ProxyEndpoint, timeoutMs: number, ca?: string): Promise<ProxyLayer> {
  const layer: ProxyLayer = {
    layer: 'proxy', status: 'ok', ms: 0, proxy: proxy.display,
    mode: target.scheme === 'https' ? 'connect' : 'absolute-form', stage: 'proxy_connect', notes: [],
  };
  const started = performance.now();
  await walk(layer, target, proxy, timeoutMs, ca);
  layer.ms = performance.now() - started;
  return layer;
}

async function walk(layer: ProxyLayer, target: Target, proxy: ProxyEndpoint, timeoutMs: number, ca: string | undefined): Promise<void> {
  const auth = proxyAuthorization(proxy.username, proxy.password);
  const hadCredentials = proxy.username !== undefined;
  let socket: net.Socket;
  try {
    socket = await dial(proxy.host, proxy.port, timeoutMs);
  } catch (err) {
    const failure = classify('connect', err);
    failLayer(layer, { code: failure.code, detail: `cannot reach the proxy at ${authority(proxy.host, proxy.port)}: ${failure.detail}` });
    return;
  }
  if (target.scheme === 'http') {
    layer.stage = 'request';
    const request = { ...originRequest(target, auth), path: target.url };
    const exchange = await getInto(layer, socket, request, timeoutMs);
    if (!exchange) return;
    readProxyHeaders(layer, exchange.headers);
    if (exchange.status >= 400) explainAnswer(layer, exchange.status, exchange.body, hadCredentials);
    return;
  }
  layer.stage = 'proxy_handshake';
  try {
    const answer = await connectHandshake(socket, authority(target.host, target.port), auth, timeoutMs);
    layer.connectStatus = answer.status;
    readProxyHeaders(layer, answer.headers);
    if (answer.status !== 200) {
      socket.destroy();
      explainAnswer(layer, answer.status, answer.body, hadCredentials);
      return;
    }
  } catch (err) {
    socket.destroy();
    failLayer(layer, classify('upstream', err));
    return;
  }
  layer.stage = 'tls';
  let secure: net.Socket;
  try {
    secure = await startTls(socket, { servername: target.host, timeoutMs, ca });
  } catch (err) {
    failLayer(layer, classify('tls', err));
    return;
  }
  layer.stage = 'request';
  // Inside the tunnel the origin answers itself: its headers, not the proxy's.
  await getInto(layer, secure, originRequest(target), timeoutMs);
}

function readProxyHeaders(layer: ProxyLayer, headers: Record<string, string | string[] | undefined>): void {
  const status = headers['proxy-status'];
  const id = headers['x-request-id'];
  if (status !== undefined) layer.proxyStatus = Array.isArray(status) ? status.join(', ') : status;
  if (typeof id === 'string') layer.requestId = id;
  const error = reportingMember(layer.proxyStatus)?.params.error;
  if (error) layer.proxyError = error;
}

/** A status of 400 or more from the proxy: which code, said by whom. */
function explainAnswer(layer: ProxyLayer, status: number, body: string, hadCredentials: boolean): void {
  const code = codeFromAnswer(status, layer.proxyStatus, body, hadCredentials);
  const details = reportingMember(layer.proxyStatus)?.params.details;
  const who = CATALOGUE[code].source === 'upstream' ? `the origin answered ${status} (passed through)` : `the proxy answered ${status}`;
  const failure: Pick<HopFailure, 'code' | 'detail'> = { code, detail: details ? `${who}: ${details}` : who };
  failLayer(layer, failure);
}
