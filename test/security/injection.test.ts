// Header and body injection: whatever a client puts in a target name, a path or a username
// (CR/LF, quotes, backslashes, structured-field delimiters, NUL and non-UTF-8 bytes, raw or
// percent-encoded), the answers hopwatch generates keep exactly their own fields, Proxy-Status
// stays one RFC 8941 member whose details say what the log says, the body's Detail line stays
// one line, what goes upstream carries no extra field, and the log line is one JSON object with
// the value intact.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CATALOGUE, type Code } from '../../src/classify/catalogue.ts';
import { rawExchange } from '../helpers/client.ts';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { startProxy, type LogLine, type TestProxy } from '../helpers/proxy.ts';
import { RawSocks, failureReply, greeting, requestDomain, userPass } from '../helpers/socks.ts';
import {
  RESPONSE_ANSWER_FIELDS, SOCKET_ANSWER_FIELDS, assertFieldNames, assertTextBody, parseSfMember, readHead, recordingOrigin, settle, tapRawLog,
  type RawHead, type RecordingOrigin,
} from './support.ts';

const T = { timeout: 10_000 };
const INJECTED = /x-injected/i;
/** How the resolver may judge a name full of odd characters (c-ares says EBADNAME or asks). */
const DNS_FAILURES: readonly Code[] = ['dns_nxdomain', 'dns_nodata', 'dns_server_failure'];

let dns: FakeDns;
let origin: RecordingOrigin;
let proxy: TestProxy;
let tap: ReturnType<typeof tapRawLog>;
before(async () => {
  dns = await startDnsServer({});
  origin = await recordingOrigin();
  proxy = await startProxy({ dns: { servers: [dns.address] }, socks: { enabled: true, port: 0 } });
  tap = tapRawLog(proxy.logs);
});
after(async () => {
  await proxy.close();
  await origin.close();
  await dns.close();
  // Every line written over the whole file: one JSON object each.
  tap.assertAllOneJsonObject();
});

/**
 * Checks a generated failure answer end to end: exactly `fields`, one Proxy-Status member whose
 * details (if any) equal the log line's detail, one Detail body line, and the log line itself.
 */
async function assertGenerated(head: RawHead, fields: readonly string[], expected: { status: number; code: Code | readonly Code[] }): Promise<LogLine> {
  assert.equal(head.status, expected.status, head.body);
  assertFieldNames(head, fields);
  assert.ok(!INJECTED.test(head.names.join(' ')));
  const log = await proxy.logs.exchange(head.headers['x-request-id']);
  const code = log.code as Code;
  assert.ok(([] as Code[]).concat(expected.code).includes(code), `logged ${code}, expected ${String(expected.code)}`);
  assert.equal(log.status, expected.status);
  const member = parseSfMember(head.headers['proxy-status'] ?? '');
  assert.equal(member.item, 'hopwatch');
  assert.equal(member.params.get('error'), CATALOGUE[code].proxyStatus);
  const body = assertTextBody(head.body, expected.status, code);
  const detail = String(log.detail);
  assert.equal(body.detail, detail.replace(/[\r\n]+/g, ' '), 'the Detail line is the logged detail on one line');
  // sfString keeps printable ASCII only (200 characters at most): for those details it is exact.
  if (/^[ -~]{0,200}$/.test(detail)) assert.equal(member.params.get('details'), detail);
  return log;
}

describe('injection: CONNECT authority', () => {
  // A name that cannot be a host is refused before DNS, and neither echoed nor logged.
  for (const [what, name] of [
    ['percent-encoded CR LF in the name', 'a%0d%0aX-Injected%3a%201.test'],
    ['structured-field delimiters in the name (; = ,)', "a;b=c,d!$&'()*+~_-.test"],
  ]) {
    it(`${what}: 400 invalid_target, one member, one Detail line, the name not echoed`, T, async () => {
      const head = readHead(await rawExchange(proxy.port, `CONNECT ${name}:443 HTTP/1.1\r\nHost: x\r\n\r\n`));
      const log = await assertGenerated(head, SOCKET_ANSWER_FIELDS, { status: 400, code: 'invalid_target' });
      assert.equal(log.target, undefined);
      assert.ok(!String(log.detail).includes(name!) && !head.body.includes(name!));
    });
  }

  const refused: Array<[string, string]> = [
    ['a quote and a backslash', 'CONNECT a"b\\c.test:443 HTTP/1.1'],
    ['raw CR LF and a field inside the authority', 'CONNECT a\r\nX-Injected: 1\r\n:443 HTTP/1.1'],
    ['a bare CR inside the authority', 'CONNECT a\rX-Injected: 1:443 HTTP/1.1'],
    ['a NUL inside the authority', 'CONNECT a\0b.test:443 HTTP/1.1'],
  ];
  for (const [what, line] of refused) {
    it(`${what}: refused by the parser with 400, exactly the answer's own fields`, T, async () => {
      const head = readHead(await rawExchange(proxy.port, `${line}\r\nHost: x\r\n\r\n`));
      await assertGenerated(head, SOCKET_ANSWER_FIELDS, { status: 400, code: 'request_malformed' });
    });
  }
});

describe('injection: absolute URL host', () => {
  const cases: Array<[string, string, number, Code | readonly Code[], string | undefined]> = [
    // [what, host as sent, status, code, the name as resolved and logged]
    ['percent-encoded CR LF (the URL parser refuses it)', 'a%0d%0aX-Injected:%201.test', 400, 'invalid_target', undefined],
    // Decoded names that cannot be hosts are refused before DNS, and not logged as a target.
    ['a percent-encoded quote (decoded: a"b.test)', 'a%22b.test', 400, 'invalid_target', undefined],
    ['percent-encoded ; , = (decoded into the name)', 'a%3B%2C%3D.test', 400, 'invalid_target', undefined],
    ['raw ; = , in the name', 'a;b=c,d.test', 400, 'invalid_target', undefined],
    ['a raw quote (the request parser refuses it)', 'a"b.test', 400, 'request_malformed', undefined],
    ['a raw backslash (the request parser refuses it)', 'a\\b.test', 400, 'request_malformed', undefined],
  ];
  for (const [what, host, status, code, logged] of cases) {
    it(`${what} → ${status}`, T, async () => {
      const head = readHead(await rawExchange(proxy.port, `GET http://${host}/p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      const fields = code === 'request_malformed' ? SOCKET_ANSWER_FIELDS : RESPONSE_ANSWER_FIELDS;
      const log = await assertGenerated(head, fields, { status, code });
      assert.equal(log.target, logged === undefined ? undefined : `${logged}:80`);
    });
  }
});

describe('injection: absolute URL path goes upstream encoded, never as a field', () => {
  const cases: Array<[string, string, string]> = [
    // [what, path as sent, path as the origin must get it]
    ['percent-encoded CR LF and a field', '/a%0d%0aX-Injected:%201', '/a%0d%0aX-Injected:%201'],
    ['percent-encoded NUL and 0xff', '/a%00%ff', '/a%00%ff'],
    ['a raw quote (encoded on the way)', '/a"b', '/a%22b'],
    ['a percent-encoded quote and backslash', '/a%22%5c', '/a%22%5c'],
  ];
  for (const [what, path, upstream] of cases) {
    it(what, T, async () => {
      origin.reset();
      const raw = await rawExchange(proxy.port, `GET ${origin.origin}${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const head = readHead(raw);
      assert.equal(head.status, 200);
      assert.ok(!INJECTED.test(head.names.join(' ')));
      assert.equal(head.body, `origin saw GET ${upstream}`);
      const [seen] = origin.requests;
      const names = seen!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()).sort();
      assert.deepEqual(names, ['connection', 'host', 'via'], 'no field besides the ones hopwatch sets');
      assert.ok(origin.bytes().toString('latin1').toLowerCase().startsWith(`get ${upstream} http/1.1\r\nhost: 127.0.0.1:${origin.port}\r\n`.toLowerCase()));
      const log = await proxy.logs.exchange(head.headers['x-request-id']);
      assert.equal(log.path, upstream);
    });
  }

  it('a raw backslash in the path becomes a slash (WHATWG URL): normalised, not injected', T, async () => {
    origin.reset();
    const head = readHead(await rawExchange(proxy.port, `GET ${origin.origin}/a\\b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    assert.equal(head.body, 'origin saw GET /a/b');
  });
});

describe('injection: SOCKS5 domain names', () => {
  /** A 255-byte name holding `inner` in the middle, padded with letters. */
  const fullLength = (inner: Buffer) => {
    const pad = 255 - inner.length;
    return Buffer.concat([Buffer.alloc(Math.floor(pad / 2), 'a'), inner, Buffer.alloc(Math.ceil(pad / 2), 'b')]);
  };
  const names: Array<[string, Buffer]> = [
    ['CR LF and a field', Buffer.from('x\r\nX-Injected: 1\r\n\r\ny')],
    ['a quote, a backslash and a closing brace', Buffer.from('"\\"}{"a":1,')],
    ['NUL, DEL and bytes that are not UTF-8', Buffer.from([0x00, 0x7f, 0xff, 0xfe, 0xc3, 0x28, 0x0d, 0x0a])],
  ];
  for (const [what, inner] of names) {
    it(`${what}, inside a 255-byte name: a full-length 0x01 reply (invalid_target), the name not logged`, T, async () => {
      const name = fullLength(inner);
      assert.equal(name.length, 255);
      const client = await RawSocks.open(proxy.socksPort!);
      client.send(greeting(0x00));
      assert.deepEqual([...(await client.read(2))], [0x05, 0x00]);
      client.send(requestDomain(name, 443));
      const since = proxy.logs.lines.length;
      const reply = await client.read(10);
      client.destroy();
      const log = await proxy.logs.nextExchange(since - 5 < 0 ? 0 : since - 5, (l) => l.protocol === 'socks5' && l.code === 'invalid_target' && l.client_port === client.localPort);
      assert.deepEqual(reply, failureReply(0x01));
      assert.equal(log.status, reply[1]);
      assert.equal(log.target, undefined, 'a name that cannot be a host is not logged');
    });
  }
});

describe('injection: usernames', () => {
  // No colon: Basic credentials split at the first one (RFC 7617), so a colon would end the name.
  const USERNAME = 'ali\r\nX-Injected 1\r\n\r\n"\\';
  let authed: TestProxy;
  let authTap: ReturnType<typeof tapRawLog>;
  before(async () => {
    authed = await startProxy({ socks: { enabled: true, port: 0 }, auth: { users: [{ username: 'q"u\\ote', password: 'pw-for-quote' }] } });
    authTap = tapRawLog(authed.logs);
  });
  after(async () => {
    await authed.close();
    authTap.assertAllOneJsonObject();
  });

  const basic = (user: string, password: string) => `Proxy-Authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}\r\n`;

  /** Checks a 407: exactly its fields, one member, and the auth_failure event with the username intact. */
  async function assert407(head: RawHead, fields: readonly string[]) {
    assert.equal(head.status, 407);
    assertFieldNames(head, [...fields, 'Proxy-Authenticate']);
    assert.equal(head.headers['proxy-authenticate'], 'Basic realm="hopwatch", charset="UTF-8"');
    const member = parseSfMember(head.headers['proxy-status'] ?? '');
    assert.equal(member.params.get('status-code'), 407);
    assertTextBody(head.body, 407, 'auth_invalid');
    const id = head.headers['x-request-id'];
    const event = await authed.logs.waitFor((l) => l.msg === 'auth_failure' && l.id === id, 'auth_failure event');
    assert.equal(event.username, USERNAME);
  }

  it('CR LF, quote and backslash in a Proxy-Authorization username (forward): 407 with its own fields only', T, async () => {
    const raw = await rawExchange(authed.port, `GET ${origin.origin}/ HTTP/1.1\r\nHost: x\r\n${basic(USERNAME, 'nope')}Connection: close\r\n\r\n`);
    await assert407(readHead(raw), RESPONSE_ANSWER_FIELDS);
  });

  it('the same username on CONNECT: 407 with its own fields only', T, async () => {
    const raw = await rawExchange(authed.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n${basic(USERNAME, 'nope')}\r\n`);
    await assert407(readHead(raw), SOCKET_ANSWER_FIELDS);
  });

  it('the same username over SOCKS5 (RFC 1929): status 0x01, the event holds it intact', T, async () => {
    const client = await RawSocks.open(authed.socksPort!);
    client.send(greeting(0x02));
    assert.deepEqual([...(await client.read(2))], [0x05, 0x02]);
    client.send(userPass(USERNAME, 'nope'));
    assert.deepEqual([...(await client.read(2))], [0x01, 0x01]);
    client.destroy();
    const event = await authed.logs.waitFor((l) => l.msg === 'auth_failure' && l.protocol === 'socks5', 'auth_failure event');
    assert.equal(event.username, USERNAME);
  });

  it('a user whose name holds a quote and a backslash is logged as such, and nothing of it goes upstream', T, async () => {
    origin.reset();
    const raw = await rawExchange(authed.port, `GET ${origin.origin}/who HTTP/1.1\r\nHost: x\r\n${basic('q"u\\ote', 'pw-for-quote')}Connection: close\r\n\r\n`);
    const head = readHead(raw);
    assert.equal(head.status, 200);
    const log = await authed.logs.exchange(head.headers['x-request-id']);
    assert.equal(log.user, 'q"u\\ote');
    await settle(20);
    assert.ok(!origin.bytes().toString('latin1').includes('q"u'), 'the username never reaches the origin');
  });
});

describe('injection: the JSON error body', () => {
  it('a decoded quote in the name keeps the JSON body one valid object', T, async () => {
    const raw = await rawExchange(proxy.port, `GET http://a%22%7D%7B.test/ HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);
    const head = readHead(raw);
    assert.equal(head.status, 400);
    assert.equal(head.headers['content-type'], 'application/json');
    assert.ok(head.body.endsWith('}\n') && head.body.indexOf('\n') === head.body.length - 1, 'one line');
    const body = JSON.parse(head.body) as Record<string, unknown>;
    const log = await proxy.logs.exchange(head.headers['x-request-id']);
    assert.equal(body.detail, log.detail);
    assert.equal(body.code, 'invalid_target');
  });
});
