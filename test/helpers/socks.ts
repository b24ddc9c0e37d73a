// A raw SOCKS5 client for byte-exact tests: it sends exactly the bytes a test gives (fragmented,
// pipelined or garbled) and reads replies by length, so a short or missing reply fails the test.
import { once } from 'node:events';
import net from 'node:net';

const READ_WAIT_MS = 5_000;

export class RawSocks {
  readonly socket: net.Socket;
  /** The client's port, as the proxy logs it (kept: a closed socket forgets it). */
  readonly localPort: number;
  private buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.localPort = socket.localPort ?? 0;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    const onEnd = () => {
      this.ended = true;
      this.wake?.();
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', () => {});
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawSocks> {
    // Like real clients, it closes once the proxy has closed its side.
    const socket = net.connect({ port, host });
    await once(socket, 'connect');
    return new RawSocks(socket);
  }

  send(bytes: Buffer | readonly number[]): this {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
    return this;
  }

  /** Exactly `n` bytes; rejects when the connection ends first or nothing comes for a while. */
  read(n: number): Promise<Buffer> {
    return this.until(() => this.buffer.length >= n, `${n} bytes`).then(() => this.take(n));
  }

  /** Resolves with every byte still to come once the proxy has closed the connection. */
  async closed(): Promise<Buffer> {
    await this.until(() => this.ended, 'the proxy to close the connection', true);
    return this.take(this.buffer.length);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private take(n: number): Buffer {
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  private until(done: () => boolean, what: string, endIsOk = false): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`no ${what} within ${READ_WAIT_MS} ms`), READ_WAIT_MS);
      const fail = (message: string) => {
        clearTimeout(timer);
        this.wake = undefined;
        reject(new Error(`${message}; have ${this.buffer.toString('hex') || 'nothing'}`));
      };
      const check = () => {
        if (done()) {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        } else if (this.ended && !endIsOk) fail(`connection ended before ${what}`);
      };
      this.wake = check;
      check();
    });
  }
}

export const greeting = (...methods: number[]) => [0x05, methods.length, ...methods];

export function userPass(username: string | Buffer, password: string | Buffer): Buffer {
  const u = Buffer.from(username);
  const p = Buffer.from(password);
  return Buffer.concat([Buffer.from([0x01, u.length]), u, Buffer.from([p.length]), p]);
}

function portBytes(port: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(port);
  return out;
}

/** A request to an IPv4 literal. */
export function requestIpv4(address: string, port: number, command = 0x01): Buffer {
  return Buffer.concat([Buffer.from([0x05, command, 0x00, 0x01, ...address.split('.').map(Number)]), portBytes(port)]);
}

/** A request to 16 raw IPv6 bytes (given, not computed, so the test states what goes on the wire). */
export function requestIpv6(bytes: readonly number[], port: number): Buffer {
  return Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x04, ...bytes]), portBytes(port)]);
}

export function requestDomain(name: string | Buffer, port: number): Buffer {
  const n = Buffer.from(name);
  return Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x03, n.length]), n, portBytes(port)]);
}

/** The full-length failure reply: VER REP RSV, ATYP IPv4, 0.0.0.0:0. */
export const failureReply = (code: number) => Buffer.from([0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
