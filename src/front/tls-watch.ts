// Watches a TLS handshake passing through a tunnel without decrypting anything: TLS record
// headers are plaintext (RFC 8446 §5.1), and so are a ClientHello's SNI and any alert sent
// before encryption starts. That is enough to tell "the upstream never answered the
// ClientHello" (tls_timeout) and "the upstream refused with alert 70" (tls_alert) apart from
// an ordinary close, for tunnels whose bytes the proxy otherwise only copies.
import { HopFailure } from '../classify/failure.ts';
import { alertName } from '../classify/tls-alerts.ts';
import type { Exchange } from '../exchange/record.ts';

const HANDSHAKE = 0x16;
const ALERT = 0x15;
const CHANGE_CIPHER_SPEC = 0x14;
const APPLICATION_DATA = 0x17;
/** Give up watching a direction after this many bytes: the handshake is long over. */
const WATCH_LIMIT = 64 * 1024;

type Side = 'client' | 'upstream';

/** Follows record boundaries in one direction, across chunk splits. */
class RecordStream {
  private header = Buffer.alloc(5);
  private headerHave = 0;
  private bodyLeft = 0;
  private alertBytes: number[] = [];
  private currentType = 0;
  seen = 0;
  private readonly onRecord: (type: number) => void;
  private readonly onAlert: (level: number, description: number) => void;

  constructor(onRecord: (type: number) => void, onAlert: (level: number, description: number) => void) {
    this.onRecord = onRecord;
    this.onAlert = onAlert;
  }

  feed(chunk: Buffer): void {
    this.seen += chunk.length;
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft === 0) {
        const take = Math.min(5 - this.headerHave, chunk.length - i);
        chunk.copy(this.header, this.headerHave, i, i + take);
        this.headerHave += take;
        i += take;
        if (this.headerHave < 5) return;
        this.headerHave = 0;
        this.currentType = this.header[0]!;
        this.bodyLeft = this.header.readUInt16BE(3);
        this.alertBytes = [];
        this.onRecord(this.currentType);
        continue;
      }
      const take = Math.min(this.bodyLeft, chunk.length - i);
      if (this.currentType === ALERT) {
        for (let k = 0; k < take && this.alertBytes.length < 2; k++) this.alertBytes.push(chunk[i + k]!);
        if (this.alertBytes.length === 2 && take > 0 && this.bodyLeft - take >= 0) {
          const [level, description] = this.alertBytes as [number, number];
          this.alertBytes.push(-1); // report once per record
          this.onAlert(level, description);
        }
      }
      this.bodyLeft -= take;
      i += take;
    }
  }
}

export class TlsWatcher {
  private readonly ex: Exchange;
  private readonly timeoutMs: number;
  private readonly onFailure: (failure: HopFailure, cut: boolean) => void;
  private clientStream: RecordStream | undefined;
  private upstreamStream: RecordStream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private encrypted = { client: false, upstream: false };
  active = true;

  constructor(ex: Exchange, timeoutMs: number, onFailure: (failure: HopFailure, cut: boolean) => void) {
    this.ex = ex;
    this.timeoutMs = timeoutMs;
    this.onFailure = onFailure;
  }

  client(chunk: Buffer): void {
    if (!this.active) return;
    if (!this.clientStream) {
      // The first client bytes decide whether this tunnel carries TLS at all.
      if (chunk[0] !== HANDSHAKE || chunk[1] !== 0x03 || chunk[5] !== 0x01) return this.stop();
      this.ex.tls = { mode: 'observed', clientHello: true };
      const sni = readSni(chunk);
      if (sni) this.ex.tls.sni = sni;
      this.clientStream = new RecordStream((type) => this.record('client', type), (l, d) => this.alert('client', l, d));
      this.timer = setTimeout(() => this.timeout(), this.timeoutMs);
    }
    this.clientStream.feed(chunk);
    this.checkDone();
  }

  upstream(chunk: Buffer): void {
    if (!this.active || !this.clientStream) return;
    if (!this.upstreamStream) {
      const type = chunk[0];
      if (type !== HANDSHAKE && type !== ALERT) {
        this.stop();
        return this.onFailure(
          new HopFailure('tls_protocol_error', 'the upstream answered a TLS ClientHello with bytes that are not TLS', { hop: 'tls', source: 'upstream' }),
          false,
        );
      }
      this.upstreamStream = new RecordStream((t) => this.record('upstream', t), (l, d) => this.alert('upstream', l, d));
    }
    this.upstreamStream.feed(chunk);
    this.checkDone();
  }

  stop(): void {
    this.active = false;
    clearTimeout(this.timer);
  }

  private record(side: Side, type: number): void {
    if (side === 'upstream' && type === HANDSHAKE && this.ex.tls && !this.ex.tls.serverHello) {
      this.ex.tls.serverHello = true;
      clearTimeout(this.timer);
    }
    if (type === APPLICATION_DATA || type === CHANGE_CIPHER_SPEC) this.encrypted[side] = true;
  }

  private alert(side: Side, level: number, description: number): void {
    if (!this.ex.tls || description === 0) return; // close_notify is an orderly end
    this.ex.tls.alert = { id: description, from: side };
    clearTimeout(this.timer);
    const who = side === 'upstream' ? 'the upstream refused the handshake' : 'the client rejected the upstream\'s handshake';
    this.onFailure(
      new HopFailure('tls_alert', `${who}: ${level === 2 ? 'fatal' : 'warning'} alert ${alertName(description)} (${description})`, {
        hop: 'tls',
        source: side,
        params: { 'alert-id': description, 'alert-message': alertName(description) },
      }),
      false,
    );
  }

  private timeout(): void {
    if (!this.active) return;
    this.stop();
    this.onFailure(
      new HopFailure('tls_timeout', `ClientHello sent but no ServerHello within ${this.timeoutMs} ms`, { hop: 'tls', source: 'upstream' }),
      true,
    );
  }

  private checkDone(): void {
    const both = this.encrypted.client && this.encrypted.upstream;
    const tooLong = (this.clientStream?.seen ?? 0) > WATCH_LIMIT || (this.upstreamStream?.seen ?? 0) > WATCH_LIMIT;
    if (both || tooLong) this.stop();
  }
}

/** The server_name from a ClientHello contained in `chunk`, when it is all there. */
export function readSni(chunk: Buffer): string | undefined {
  try {
    let p = 5 + 4 + 2 + 32; // record header, handshake header, client_version, random
    p += 1 + chunk[p]!; // session id
    p += 2 + chunk.readUInt16BE(p); // cipher suites
    p += 1 + chunk[p]!; // compression methods
    const end = p + 2 + chunk.readUInt16BE(p);
    p += 2;
    while (p + 4 <= end && p + 4 <= chunk.length) {
      const type = chunk.readUInt16BE(p);
      const len = chunk.readUInt16BE(p + 2);
      p += 4;
      if (type === 0) {
        // server_name_list: length(2), then name_type(1) length(2) name
        const nameLen = chunk.readUInt16BE(p + 3);
        if (chunk[p + 2] !== 0) return undefined;
        const name = chunk.toString('latin1', p + 5, p + 5 + nameLen);
        return /^[A-Za-z0-9.-]{1,253}$/.test(name) ? name : undefined;
      }
      p += len;
    }
  } catch {
    // a truncated or odd ClientHello: no SNI to report
  }
  return undefined;
}
