// Relays bytes between a client and an upstream once a tunnel is established (CONNECT, and
// SOCKS5 sessions later): counts bytes each way, keeps half-closes, watches the TLS handshake
// passing through, enforces the idle timeout and records how the tunnel ended.
import type { Socket } from 'node:net';
import { HopFailure } from '../classify/failure.ts';
import type { Exchange } from '../exchange/record.ts';
import { TlsWatcher } from './tls-watch.ts';

export interface TunnelOptions {
  idleMs: number;
  tlsMs: number;
  /** Close the tunnel after this long whatever it carries; 0: no limit. */
  maxMs: number;
}

export function relay(ex: Exchange, client: Socket, upstream: Socket, options: TunnelOptions, head?: Buffer): void {
  const watcher = new TlsWatcher(ex, options.tlsMs, (failure, cut) => {
    ex.fail(failure);
    if (cut) shutdown('tls_failure');
  });
  let firstUpstreamByte = true;
  let clientDone = false;
  let upstreamDone = false;
  const establishedAt = performance.now();

  function shutdown(end: Exchange['end']) {
    if (!ex.end) ex.end = end;
    client.destroy();
    upstream.destroy();
  }

  function maybeFinish() {
    if (client.destroyed && upstream.destroyed) {
      watcher.stop();
      clearTimeout(lifetime);
      ex.finish();
    }
  }

  const lifetime = options.maxMs > 0
    ? setTimeout(() => {
        ex.fail(new HopFailure('tunnel_max_duration', `the tunnel reached timeouts.maxTunnelMs (${options.maxMs} ms)`, { hop: 'deliver' }));
        shutdown('max_duration');
      }, options.maxMs)
    : undefined;

  client.on('data', (chunk: Buffer) => {
    ex.bytes.fromClient += chunk.length;
    if (watcher.active) watcher.client(chunk);
    ex.bytes.toUpstream += chunk.length;
    if (!upstream.write(chunk)) client.pause();
  });
  upstream.on('data', (chunk: Buffer) => {
    if (firstUpstreamByte) {
      firstUpstreamByte = false;
      ex.timings.ttfb = performance.now() - establishedAt;
    }
    ex.bytes.fromUpstream += chunk.length;
    if (watcher.active) watcher.upstream(chunk);
    ex.bytes.toClient += chunk.length;
    if (!client.write(chunk)) upstream.pause();
  });
  upstream.on('drain', () => client.resume());
  client.on('drain', () => upstream.resume());

  // Half-close is passed on, so protocols that send a request and then shut down their write
  // side still get their answer.
  const onClientEnd = () => {
    clientDone = true;
    if (!ex.end && !upstreamDone) ex.end = 'client_closed';
    upstream.end();
    if (upstreamDone) client.end();
  };
  client.on('end', onClientEnd);
  upstream.on('end', () => {
    if (watcher.active) watcher.upstreamEnded('closed');
    upstreamDone = true;
    if (!ex.end && !clientDone) ex.end = 'upstream_closed';
    client.end();
  });
  client.on('error', (err: NodeJS.ErrnoException) => {
    if (!ex.end) ex.end = err.code === 'ECONNRESET' ? 'client_reset' : 'client_closed';
    upstream.destroy();
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (watcher.active) watcher.upstreamEnded(err.code === 'ECONNRESET' ? 'reset' : 'closed');
    if (!ex.end) ex.end = err.code === 'ECONNRESET' ? 'upstream_reset' : 'upstream_closed';
    client.destroy();
  });
  client.on('close', () => {
    if (!upstreamDone || !clientDone) upstream.destroySoon();
    maybeFinish();
  });
  upstream.on('close', () => {
    if (!upstreamDone || !clientDone) client.destroySoon();
    maybeFinish();
  });

  // Activity either way resets the client socket's timer: it reads one direction and writes the other.
  client.setTimeout(options.idleMs, () => {
    ex.fail(new HopFailure('idle_timeout', `no bytes either way for ${options.idleMs} ms`, { hop: 'deliver' }));
    shutdown('idle_timeout');
  });

  // The front-end may have paused the client while it held early bytes; from here on only the
  // relay's own back pressure pauses it.
  client.resume();
  if (head?.length) client.emit('data', head);
  // A client that half-closed before the tunnel opened has no 'end' left to emit.
  if (client.readableEnded) onClientEnd();
}
