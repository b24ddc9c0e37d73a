// Graceful shutdown: readiness goes first (so load balancers stop sending), the proxy listeners
// stop accepting, in-flight requests, tunnels and SOCKS sessions get shutdownGraceMs to finish,
// and whatever is left is cut and recorded as proxy_shutdown. The admin listener stays up to
// the end, so /readyz can be seen saying 503 while the rest drains.
import { setTimeout as delay } from 'node:timers/promises';
import { Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import { HopFailure } from './classify/failure.ts';
import type { Lifecycle } from './exchange/lifecycle.ts';
import type { ConnectionGate } from './front/connections.ts';

export interface DrainParts {
  proxyListeners: readonly Server[];
  admin: HttpServer | undefined;
  lifecycle: Lifecycle;
  gate: ConnectionGate;
  /** Pools of upstream connections, destroyed once nothing uses them. */
  pools: ReadonlyArray<{ destroy(): void }>;
  logger: Logger;
  graceMs: number;
}

export async function drain(parts: DrainParts): Promise<void> {
  const { lifecycle, logger } = parts;
  const stopped = parts.proxyListeners.map((s) => closed(s));
  const started = performance.now();
  const open = lifecycle.open.size;
  const grace = new AbortController();
  await Promise.race([lifecycle.whenIdle(), delay(parts.graceMs, undefined, { signal: grace.signal }).catch(() => {})]);
  grace.abort();
  const cut = lifecycle.open.size;
  for (const ex of lifecycle.open) {
    ex.fail(new HopFailure('proxy_shutdown', `cut after shutdownGraceMs (${parts.graceMs} ms)`));
    if (ex.responseStarted && !ex.end) ex.end = 'proxy_closed';
  }
  // Idle keep-alive connections, and whatever the grace period did not see finish.
  for (const server of parts.proxyListeners) if (server instanceof HttpServer) server.closeAllConnections();
  parts.gate.destroyAll();
  for (const pool of parts.pools) pool.destroy();
  await Promise.all(stopped);
  logger.info({ open_at_start: open, cut, drain_ms: Math.round(performance.now() - started) }, 'drained');
  if (parts.admin) {
    const adminClosed = closed(parts.admin);
    parts.admin.closeAllConnections();
    await adminClosed;
  }
}

function closed(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    // Idle HTTP keep-alive connections would otherwise hold close() open until they time out.
    if (server instanceof HttpServer) server.closeIdleConnections();
  });
}
