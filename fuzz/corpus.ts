// Valid inputs the mutations start from, as segments (an HTTP line, a SOCKS5 field) so a
// mutation can duplicate, drop, swap or inflate a whole field as well as flip bits anywhere.
// Targets point at the fuzzer's own origin (by address and by a name the fake DNS serves), so
// an input that survives mutation goes the whole way: auth, policy, DNS, connect, upstream.
import { Prng } from './prng.ts';

export interface Targets {
  originPort: number;
  /** A name the fake DNS answers with 127.0.0.1. */
  originName: string;
  /** hopwatch's own HTTP listener: requests to it must be refused as a loop. */
  proxyPort: number;
  username: string;
  password: string;
}

export type Seed = Buffer[];

const CRLF = '\r\n';
const line = (text: string) => Buffer.from(`${text}${CRLF}`, 'latin1');

function basic(t: Targets): string {
  return `Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}`;
}

function headers(t: Targets, host: string, extra: string[], auth = true): Buffer[] {
  return [
    line(`Host: ${host}`),
    ...(auth ? [line(`Proxy-Authorization: ${basic(t)}`)] : []),
    line('User-Agent: hopwatch-fuzz/1'),
    line('Accept: */*'),
    ...extra.map(line),
    line(''),
  ];
}

/** One valid HTTP/1.1 proxy request (absolute-form or CONNECT), chosen at random. */
export function httpSeed(rng: Prng, t: Targets): Seed {
  const host = rng.chance(0.6) ? `127.0.0.1:${t.originPort}` : `${t.originName}:${t.originPort}`;
  const path = rng.pick(['/', '/a/b?c=d&e=f', '/%7Euser/index.html', '/big', '/' + 'x'.repeat(200)]);
  const url = `http://${host}${path}`;
  const inner = [line('GET / HTTP/1.1'), line(`Host: ${host}`), line('')];
  switch (rng.int(11)) {
    case 0:
      return [line(`GET ${url} HTTP/1.1`), ...headers(t, host, [])];
    case 1: {
      const body = Buffer.from('{"a":1,"b":[true,null,"x"]}');
      return [line(`POST ${url} HTTP/1.1`), ...headers(t, host, ['Content-Type: application/json', `Content-Length: ${body.length}`]), body];
    }
    case 2:
      return [
        line(`POST ${url} HTTP/1.1`), ...headers(t, host, ['Transfer-Encoding: chunked']),
        line('5'), line('hello'), line('1a;ext=1'), line('abcdefghijklmnopqrstuvwxyz'), line('0'), line('X-Trailer: 1'), line(''),
      ];
    case 3:
      return [line(`CONNECT ${host} HTTP/1.1`), ...headers(t, host, []), ...inner];
    case 4:
      return [line(`PUT ${url} HTTP/1.1`), ...headers(t, host, ['Expect: 100-continue', 'Content-Length: 4']), Buffer.from('data')];
    case 5:
      // Pipelined: the second request waits behind the first on the same connection.
      return [line(`GET ${url} HTTP/1.1`), ...headers(t, host, []), line(`HEAD ${url} HTTP/1.1`), ...headers(t, host, ['Connection: close'])];
    case 6:
      return [line(`GET ${url} HTTP/1.0`), ...headers(t, host, ['Connection: keep-alive', 'Cookie: a=1; b=2', 'X-Forwarded-For: 10.0.0.1'])];
    case 7:
      return [line(`GET ${url} HTTP/1.1`), ...headers(t, host, [], false)];
    case 8:
      return [line(`GET https://${host}/ HTTP/1.1`), ...headers(t, host, [])];
    case 9:
      return [line(`GET http://127.0.0.1:${t.proxyPort}/ HTTP/1.1`), ...headers(t, `127.0.0.1:${t.proxyPort}`, [])];
    default:
      return [line(`OPTIONS ${url} HTTP/1.1`), ...headers(t, host, ['Max-Forwards: 3', 'Via: 1.1 other', 'Content-Length: 0'])];
  }
}

const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

/** A valid SOCKS5 session opening: greeting, username/password, request, first tunnel bytes. */
export function socksSeed(rng: Prng, t: Targets): Seed {
  const user = Buffer.from(t.username);
  const pass = Buffer.from(t.password);
  const greeting = rng.pick([[0x05, 0x01, 0x02], [0x05, 0x02, 0x00, 0x02], [0x05, 0x03, 0x00, 0x01, 0x02]]);
  const command = rng.weighted<number>([[0x01, 8], [0x02, 1], [0x03, 1]]);
  let address: Buffer[];
  switch (rng.int(4)) {
    case 0:
      address = [Buffer.from([0x01, 127, 0, 0, 1])];
      break;
    case 1: {
      const name = Buffer.from(t.originName);
      address = [Buffer.from([0x03, name.length]), name];
      break;
    }
    case 2: // ::ffff:127.0.0.1
      address = [Buffer.from([0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1])];
      break;
    default: // ::1
      address = [Buffer.from([0x04, ...new Array<number>(15).fill(0), 1])];
  }
  return [
    Buffer.from(greeting),
    Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass,
    Buffer.from([0x05, command, 0x00]), ...address, u16(t.originPort),
    Buffer.from(`GET / HTTP/1.1\r\nHost: ${t.originName}\r\nConnection: close\r\n\r\n`),
  ];
}
