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
const CLIENT_HELLO = 0x01;
const WARNING = 1;
const FATAL = 2;
const CLOSE_NOTIFY = 0;
/** Warning alerts a handshake continues after (RFC 6066 §3 allows a warning unrecognized_name). */
const HARMLESS_WARNINGS = new Set([CLOSE_NOTIFY, 100 /* no_renegotiation */, 112 /* unrecognized_name */]);
/** Give up watching a direction after this many bytes: the handshake is long over. */
const WATCH_LIMIT = 64 * 1024;

type Side = 'client' | 'upstream';

/** Follows record boundaries in one direction, across chunk splits. */
class RecordStream {
  private header = Buffer.alloc(5);
  private headerHave = 0;
  private bodyLeft = 0;
  private bodyLength = 0;
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
        i += this.readHeader(chunk, i);
        continue;
      }
      const take = Math.min(this.bodyLeft, chunk.length - i);
      if (this.currentType === ALERT) this.readAlert(chunk.subarray(i, i + take));
      this.bodyLeft -= take;
      i += take;
    }
  }

  /** Consumes header bytes from chunk[i…]; returns how many. */
  private readHeader(chunk: Buffer, i: number): number {
    const take = Math.min(5 - this.headerHave, chunk.length - i);
    chunk.copy(this.header, this.headerHave, i, i + take);
    this.headerHave += take;
    if (this.headerHave < 5) return take;
    this.headerHave = 0;
    this.currentType = this.header[0]!;
    this.bodyLength = this.header.readUInt16BE(3);
    this.bodyLeft = this.bodyLength;
    this.alertBytes = [];
    this.onRecord(this.currentType);
    return take;
  }

  private readAlert(part: Buffer): void {
    // A plaintext alert record is exactly level + description; an encrypted one (TLS 1.2
    // after ChangeCipherSpec) is longer, with a MAC or tag, and its first bytes are ciphertext.
    if (this.bodyLength !== 2) return;
    for (const byte of part) this.alertBytes.push(byte);
    if (this.alertBytes.length === 2) this.onAlert(this.alertBytes[0]!, this.alertBytes[1]!);
  }
}

/** Whether the first bytes of a tunnel are a TLS ClientHello; 'unsure' until six bytes are in. */
function clientHelloVerdict(head: Buffer): 'yes' | 'no' | 'unsure' {
  if (head.length > 0 && head[0] !== HANDSHAKE) return 'no';
  if (head.length > 1 && head[1] !== 0x03) return 'no';
  if (head.length > 5 && head[5] !== CLIENT_HELLO) return 'no';
  return head.length > 5 ? 'yes' : 'unsure';
}

export class TlsWatcher {
  private readonly ex: Exchange;
  private readonly timeoutMs: number;
  private readonly onFailure: (failure: HopFailure, cut: boolean) => void;
  private clientStream: RecordStream | undefined;
  private upstreamStream: RecordStream | undefined;
  /** Client bytes too few to tell whether they start a ClientHello. */
  private undecided: Buffer | undefined;
  /** The ClientHello record collected until complete, to read its SNI. */
  private hello: Buffer | undefined;
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
      // The first client bytes decide whether this tunnel carries TLS at all; TCP may hand
      // them over a few at a time.
      const head = this.undecided ? Buffer.concat([this.undecided, chunk]) : chunk;
      const verdict = clientHelloVerdict(head);
      if (verdict === 'no') return this.stop();
      if (verdict === 'unsure') {
        this.undecided = head;
        return;
      }
      this.undecided = undefined;
      this.begin();
      chunk = head;
    }
    this.collectHello(chunk);
    this.clientStream?.feed(chunk);
    this.checkDone();
  }

  upstream(chunk: Buffer): void {
    if (!this.active) return;
    // TLS clients speak first: an upstream talking before a ClientHello is another protocol.
    if (!this.clientStream) return this.stop();
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

  /** The upstream closed its side: before any ServerHello, that is a refused handshake. */
  upstreamEnded(how: 'closed' | 'reset'): void {
    if (!this.active || !this.clientStream || this.ex.tls?.serverHello) return;
    this.stop();
    const what = how === 'reset' ? 'reset' : 'closed';
    this.onFailure(
      new HopFailure('tls_protocol_error', `the upstream ${what} the connection after the ClientHello, without a ServerHello or an alert`, {
        hop: 'tls',
        source: 'upstream',
      }),
      false,
    );
  }

  stop(): void {
    this.active = false;
    this.undecided = undefined;
    this.hello = undefined;
    clearTimeout(this.timer);
  }

  private begin(): void {
    this.ex.tls = { mode: 'observed', clientHello: true };
    this.hello = Buffer.alloc(0);
    this.clientStream = new RecordStream((type) => this.record('client', type), (l, d) => this.alert('client', l, d));
    this.timer = setTimeout(() => this.timeout(), this.timeoutMs);
  }

  /** Gathers the first client record and reads the SNI once all of it is in. */
  private collectHello(chunk: Buffer): void {
    if (!this.hello) return;
    this.hello = Buffer.concat([this.hello, chunk]);
    const end = 5 + this.hello.readUInt16BE(3);
    if (this.hello.length < end) return;
    const sni = readSni(this.hello.subarray(0, end));
    if (sni && this.ex.tls) this.ex.tls.sni = sni;
    this.hello = undefined;
  }

  private record(side: Side, type: number): void {
    if (side === 'upstream' && type === HANDSHAKE && this.ex.tls && !this.ex.tls.serverHello) {
      this.ex.tls.serverHello = true;
      clearTimeout(this.timer);
    }
    if (type === APPLICATION_DATA || type === CHANGE_CIPHER_SPEC) this.encrypted[side] = true;
  }

  private alert(side: Side, level: number, description: number): void {
    if (!this.ex.tls || !this.active) return;
    // After a side's ChangeCipherSpec its alerts are encrypted: the two bytes mean nothing.
    if (this.encrypted[side]) return;
    if (level !== WARNING && level !== FATAL) return;
    if (description === CLOSE_NOTIFY || (level === WARNING && HARMLESS_WARNINGS.has(description))) return;
    this.ex.tls.alert = { id: description, from: side };
    // The handshake is over: the first alert is the story, whatever follows it.
    this.stop();
    const who = side === 'upstream' ? 'the upstream refused the handshake' : 'the client rejected the upstream\'s handshake';
    this.onFailure(
      new HopFailure('tls_alert', `${who}: ${level === FATAL ? 'fatal' : 'warning'} alert ${alertName(description)} (${description})`, {
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
    if (!this.active) return;
    const both = this.encrypted.client && this.encrypted.upstream;
    const tooLong = (this.clientStream?.seen ?? 0) > WATCH_LIMIT || (this.upstreamStream?.seen ?? 0) > WATCH_LIMIT;
    if (both || tooLong) this.stop();
  }
}

/**
 * The server_name from the ClientHello record in `record` (header included), when it is all
 * there. Every length is checked against the buffer: a cut-off name is not reported.
 */
export function readSni(record: Buffer): string | undefined {
  try {
    if (record[0] !== HANDSHAKE || record[5] !== CLIENT_HELLO) return undefined;
    let p = 5 + 4 + 2 + 32; // record header, handshake header, client_version, random
    p += 1 + record.readUInt8(p); // session id
    p += 2 + record.readUInt16BE(p); // cipher suites
    p += 1 + record.readUInt8(p); // compression methods
    const end = Math.min(p + 2 + record.readUInt16BE(p), record.length);
    p += 2;
    while (p + 4 <= end) {
      const type = record.readUInt16BE(p);
      const len = record.readUInt16BE(p + 2);
      p += 4;
      if (type === 0) return serverName(record.subarray(p, Math.min(p + len, end)));
      p += len;
    }
  } catch {
    // a truncated or odd ClientHello: no SNI to report
  }
  return undefined;
}

/** The host_name in a server_name extension body: list length(2), name_type(1), length(2), name. */
function serverName(ext: Buffer): string | undefined {
  if (ext.length < 5 || ext[2] !== 0) return undefined;
  const nameLen = ext.readUInt16BE(3);
  if (5 + nameLen > ext.length) return undefined;
  const name = ext.toString('latin1', 5, 5 + nameLen);
  return /^[A-Za-z0-9.-]{1,253}$/.test(name) ? name : undefined;
}
