// Relays bytes between a client and an upstream once a tunnel is established (CONNECT and
// SOCKS5 sessions): counts bytes each way, keeps half-closes, watches the TLS handshake passing
// through, enforces the idle timeout and records how the tunnel ended.
//
// This runs for every byte a tunnel carries, so it is written for that: 'data' handlers that
// write straight on (cheaper than pipe(), which adds its own listeners and state), the upstream
// read through UpstreamReads (large reused buffers instead of a Buffer per 64 KiB), and one
// shared idle sweep instead of a socket timer refreshed on every read and write.
import type { Socket } from 'node:net';
import { HopFailure } from '../classify/failure.ts';
import type { Exchange, StreamEnd } from '../exchange/record.ts';
import { unwatchIdle, watchIdle, type Idler } from './idle-sweep.ts';
import { TlsWatcher } from './tls-watch.ts';
import type { UpstreamReads } from './upstream-reads.ts';

/** Reads smaller than this are left to the garbage collector: they are not what adds up. */
const RELEASE_MIN = 16 * 1024;

/**
 * The client side is read with 'data' events (a server's sockets cannot take `onread`), and Node
 * gives every read an ArrayBuffer of its own. Left to the garbage collector, those 64 KiB count as
 * external memory, and V8 answers the pressure with a full mark-compact every 64 MB or so: a
 * quarter of the proxy's CPU while uploading, measured. Once the write of such a read has
 * completed nothing else holds it (the write's callback comes only after libuv is done with the
 * bytes, or after they were dropped unsent), so it is detached, which frees its memory at once.
 * Only a chunk that is its whole ArrayBuffer qualifies: a view into a shared one (Buffer's pool,
 * a concatenation) is never one Node handed to 'data' alone.
 */
function releaseAfterWrite(chunk: Buffer): (() => void) | undefined {
  const buffer = chunk.buffer;
  if (chunk.length < RELEASE_MIN || chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength || !(buffer instanceof ArrayBuffer)) return undefined;
  return () => void buffer.transfer(0);
}

export interface TunnelOptions {
  idleMs: number;
  tlsMs: number;
  /** Close the tunnel after this long whatever it carries; 0: no limit. */
  maxMs: number;
}

/**
 * Relays until both sides have closed, then finishes the record. `head`: client bytes that came
 * before the tunnel opened. `reads`: the UpstreamReads the upstream socket was opened with;
 * without one the upstream is read through 'data' events.
 */
export function relay(ex: Exchange, client: Socket, upstream: Socket, options: TunnelOptions, head?: Buffer, reads?: UpstreamReads): void {
  new Tunnel(ex, client, upstream, options, reads).start(head);
}

class Tunnel implements Idler {
  private readonly ex: Exchange;
  private readonly client: Socket;
  private readonly upstream: Socket;
  private readonly reads: UpstreamReads | undefined;
  private readonly idleMs: number;
  private readonly watcher: TlsWatcher;
  private readonly establishedAt = performance.now();
  private readonly lifetime: NodeJS.Timeout | undefined;
  private firstUpstreamByte = true;
  private clientDone = false;
  private upstreamDone = false;
  /** Upstream reads stopped until the client has taken what was written to it. */
  private upstreamHeld = false;
  idleMoved = 0;
  idleSince = 0;

  constructor(ex: Exchange, client: Socket, upstream: Socket, options: TunnelOptions, reads: UpstreamReads | undefined) {
    this.ex = ex;
    this.client = client;
    this.upstream = upstream;
    this.reads = reads;
    this.idleMs = options.idleMs;
    this.watcher = new TlsWatcher(ex, options.tlsMs, this.onTlsFailure);
    this.lifetime = options.maxMs > 0 ? setTimeout(this.onMaxDuration, options.maxMs, options.maxMs) : undefined;
  }

  start(head: Buffer | undefined): void {
    const { client, upstream } = this;
    client.on('data', this.onClientData);
    client.on('drain', this.onClientDrain);
    client.on('end', this.onClientEnd);
    client.on('error', this.onClientError);
    client.on('close', this.onClientClose);
    if (this.reads) this.reads.attach(this.onUpstreamData);
    else upstream.on('data', (chunk: Buffer) => this.onUpstreamData(chunk, false));
    upstream.on('drain', this.onUpstreamDrain);
    upstream.on('end', this.onUpstreamEnd);
    upstream.on('error', this.onUpstreamError);
    upstream.on('close', this.onUpstreamClose);
    watchIdle(this, this.idleMs);
    // Flowing, so the upstream's end is emitted (with `onread` no 'data' listener makes it so).
    upstream.resume();
    // The front-end may have paused the client while it held early bytes; from here on only the
    // relay's own back pressure pauses it.
    client.resume();
    if (head?.length) this.toUpstream(head, false);
    // A client that half-closed before the tunnel opened has no 'end' left to emit.
    if (client.readableEnded) this.onClientEnd();
  }

  moved(): number {
    return this.ex.bytes.fromClient + this.ex.bytes.fromUpstream;
  }

  readonly onIdle = (): void => {
    this.ex.fail(new HopFailure('idle_timeout', `no bytes either way for ${this.idleMs} ms`, { hop: 'deliver' }));
    this.shutdown('idle_timeout');
  };

  private readonly onMaxDuration = (maxMs: number): void => {
    this.ex.fail(new HopFailure('tunnel_max_duration', `the tunnel reached timeouts.maxTunnelMs (${maxMs} ms)`, { hop: 'deliver' }));
    this.shutdown('max_duration');
  };

  private readonly onTlsFailure = (failure: HopFailure, cut: boolean): void => {
    this.ex.fail(failure);
    if (cut) this.shutdown('tls_failure');
  };

  private shutdown(end: StreamEnd): void {
    if (!this.ex.end) this.ex.end = end;
    this.client.destroy();
    this.upstream.destroy();
  }

  private readonly onClientData = (chunk: Buffer): void => {
    this.toUpstream(chunk, true);
  };

  /** `read`: the chunk is a read of the client socket, not bytes a front-end held. */
  private toUpstream(chunk: Buffer, read: boolean): void {
    const bytes = this.ex.bytes;
    bytes.fromClient += chunk.length;
    if (this.watcher.active) this.watcher.client(chunk);
    bytes.toUpstream += chunk.length;
    // While the watcher is active it may keep a view of the chunk.
    const release = read && !this.watcher.active ? releaseAfterWrite(chunk) : undefined;
    if (!this.upstream.write(chunk, release)) this.client.pause();
  }

  /** Every upstream read: `pooled` chunks are reused by the next read (see UpstreamReads). */
  private readonly onUpstreamData = (chunk: Buffer, pooled: boolean): boolean => {
    const { ex, client } = this;
    if (this.firstUpstreamByte) {
      this.firstUpstreamByte = false;
      ex.timings.ttfb = performance.now() - this.establishedAt;
    }
    ex.bytes.fromUpstream += chunk.length;
    if (this.watcher.active) this.watcher.upstream(chunk);
    ex.bytes.toClient += chunk.length;
    const room = pooled ? client.write(chunk, this.onPooledWritten) : client.write(chunk);
    // A pooled chunk still queued must not be overwritten by the next read: wait for the write.
    if (room && !(pooled && client.writableLength > 0)) return true;
    this.upstreamHeld = true;
    if (!this.reads) this.upstream.pause();
    return false;
  };

  private readonly onPooledWritten = (): void => {
    if (this.upstreamHeld && this.client.writableLength === 0) this.resumeUpstream();
  };

  private readonly onClientDrain = (): void => {
    if (this.upstreamHeld) this.resumeUpstream();
  };

  private resumeUpstream(): void {
    this.upstreamHeld = false;
    if (!this.upstream.destroyed) this.upstream.resume();
  }

  private readonly onUpstreamDrain = (): void => {
    this.client.resume();
  };

  // Half-close is passed on, so protocols that send a request and then shut down their write
  // side still get their answer.
  private readonly onClientEnd = (): void => {
    this.clientDone = true;
    if (!this.ex.end && !this.upstreamDone) this.ex.end = 'client_closed';
    this.upstream.end();
    if (this.upstreamDone) this.client.end();
  };

  private readonly onUpstreamEnd = (): void => {
    if (this.watcher.active) this.watcher.upstreamEnded('closed');
    this.upstreamDone = true;
    if (!this.ex.end && !this.clientDone) this.ex.end = 'upstream_closed';
    this.client.end();
  };

  private readonly onClientError = (err: NodeJS.ErrnoException): void => {
    if (!this.ex.end) this.ex.end = err.code === 'ECONNRESET' ? 'client_reset' : 'client_closed';
    this.upstream.destroy();
  };

  private readonly onUpstreamError = (err: NodeJS.ErrnoException): void => {
    if (this.watcher.active) this.watcher.upstreamEnded(err.code === 'ECONNRESET' ? 'reset' : 'closed');
    if (!this.ex.end) this.ex.end = err.code === 'ECONNRESET' ? 'upstream_reset' : 'upstream_closed';
    this.client.destroy();
  };

  private readonly onClientClose = (): void => {
    if (!this.upstreamDone || !this.clientDone) this.upstream.destroySoon();
    this.maybeFinish();
  };

  private readonly onUpstreamClose = (): void => {
    if (!this.upstreamDone || !this.clientDone) this.client.destroySoon();
    this.maybeFinish();
  };

  private maybeFinish(): void {
    if (!this.client.destroyed || !this.upstream.destroyed) return;
    this.watcher.stop();
    clearTimeout(this.lifetime);
    unwatchIdle(this, this.idleMs);
    // Both sockets are closed: no write can still point into the tunnel's read buffer.
    this.reads?.release();
    this.ex.finish();
  }
}
