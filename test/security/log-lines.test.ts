// Log integrity: whatever bytes a client sends (binary noise, NUL, invalid UTF-8, 8 KB lines,
// Latin-1 field values, odd SOCKS5 names and usernames), every write to the log is exactly one
// line holding one JSON object, and each connection that was answered has its own line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { rawExchange } from '../helpers/client.ts';
import { startDnsServer, type FakeDns } from '../helpers/dns-server.ts';
import { startProxy, type TestProxy } from '../helpers/proxy.ts';
import { RawSocks, greeting, requestDomain, userPass } from '../helpers/socks.ts';
import { readHead, recordingOrigin, tapRawLog, type RecordingOrigin } from './support.ts';

const T = { timeout: 15_000 };

let dns: FakeDns;
let origin: RecordingOrigin;
let proxy: TestProxy;
let tap: ReturnType<typeof tapRawLog>;
/** Lines written before the tap (the start-up line). */
let untapped = 0;
before(async () => {
  dns = await startDnsServer({});
  origin = await recordingOrigin();
  proxy = await startProxy({
    dns: { servers: [dns.address] },
    socks: { enabled: true, port: 0 },
    auth: { users: [{ username: 'alice', password: 'log-test-password' }] },
  });
  untapped = proxy.logs.lines.length;
  tap = tapRawLog(proxy.logs);
});
after(async () => {
  await proxy.close();
  await origin.close();
  await dns.close();
});

const alice = `Proxy-Authorization: Basic ${Buffer.from('alice:log-test-password').toString('base64')}\r\n`;
const latin1 = (text: string) => Buffer.from(text, 'latin1');
/** Every byte value 0x80–0xff: valid Latin-1 in a field value, never valid UTF-8 in that order. */
const HIGH = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i));

describe('log lines: one JSON object per line whatever the client sends', () => {
  it('HTTP: binary noise, NUL, invalid UTF-8, 8 KB lines and Latin-1 values each get an answer and one line', T, async () => {
    const since = tap.chunks.length;
    const payloads: Array<[string, Buffer]> = [
      ['random binary', randomBytes(512)],
      ['NUL bytes only', Buffer.alloc(64)],
      ['NUL inside a request line', latin1(`GET http://a\0b.test/ HTTP/1.1\r\n\r\n`)],
      ['invalid UTF-8 in the target', Buffer.concat([latin1('GET http://a.test/'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), latin1(' HTTP/1.1\r\n\r\n')])],
      ['an 8 KB line of noise without a newline', Buffer.concat([randomBytes(8 * 1024).map((b) => (b === 0x0a ? 0x20 : b)), latin1('\r\n\r\n')])],
      ['an 8 KB path', latin1(`GET ${origin.origin}/${'p'.repeat(8 * 1024)} HTTP/1.1\r\nHost: x\r\n${alice}Connection: close\r\n\r\n`)],
      ['an 8 KB field of Latin-1 bytes', Buffer.concat([latin1(`GET ${origin.origin}/l1 HTTP/1.1\r\nHost: x\r\n${alice}X-Noise: `), Buffer.concat(Array(64).fill(HIGH)), latin1('\r\nConnection: close\r\n\r\n')])],
      ['a Latin-1 Proxy-Authorization scheme', Buffer.concat([latin1(`GET ${origin.origin}/s HTTP/1.1\r\nHost: x\r\nProxy-Authorization: `), HIGH.subarray(0, 30), latin1(' x\r\nConnection: close\r\n\r\n')])],
      ['a Latin-1 Via next to quotes and backslashes', Buffer.concat([latin1(`GET http://nx.test/ HTTP/1.1\r\nHost: x\r\n${alice}Via: 1.1 "q\\"`), HIGH, latin1('\r\nConnection: close\r\n\r\n')])],
      ['quotes, backslashes and a closing brace in the path', latin1(`GET ${origin.origin}/"}\\{"level":"fatal"} HTTP/1.1\r\nHost: x\r\n${alice}Connection: close\r\n\r\n`)],
    ];
    for (const [what, bytes] of payloads) {
      const head = readHead(await rawExchange(proxy.port, bytes));
      const id = head.headers['x-request-id'];
      assert.ok(id, `${what}: answered ${head.status} without a request id`);
      const line = await proxy.logs.exchange(id);
      assert.equal(line.status, head.status, what);
    }
    const lines = tap.assertAllOneJsonObject(since);
    assert.ok(lines.length >= payloads.length);
    for (const line of lines) assert.equal(typeof line.level, 'string');
  });

  it('SOCKS5: non-UTF-8 usernames and names, NUL and noise get replies or closes, and one line each', T, async () => {
    const since = tap.chunks.length;
    // Noise instead of a greeting: closed without a reply, still one line.
    const noise = await RawSocks.open(proxy.socksPort!);
    noise.send(Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), randomBytes(300)]));
    await noise.closed();

    const weirdUser = Buffer.concat([Buffer.from('u\0'), HIGH.subarray(0, 40), Buffer.from('\r\n"\\')]);
    const login = await RawSocks.open(proxy.socksPort!);
    login.send(greeting(0x02));
    await login.read(2);
    login.send(userPass(weirdUser, randomBytes(100)));
    assert.deepEqual([...(await login.read(2))], [0x01, 0x01]);
    login.destroy();

    const name = await RawSocks.open(proxy.socksPort!);
    name.send(greeting(0x02));
    await name.read(2);
    name.send(userPass('alice', 'log-test-password'));
    assert.deepEqual([...(await name.read(2))], [0x01, 0x00]);
    name.send(requestDomain(Buffer.concat([randomBytes(250), Buffer.from([0x00, 0xff, 0x0a, 0x22, 0x5c])]), 443));
    assert.equal((await name.read(10)).length, 10);
    name.destroy();

    const event = await proxy.logs.waitFor((l) => l.msg === 'auth_failure' && l.protocol === 'socks5' && l.reason === 'unknown_user', 'the SOCKS5 unknown_user event');
    // Invalid UTF-8 arrives as U+FFFD; everything else exactly, NUL and CR LF included.
    assert.equal(event.username, weirdUser.toString('utf8'));
    await proxy.logs.nextExchange(0, (l) => l.protocol === 'socks5' && l.user === 'alice');
    const lines = tap.assertAllOneJsonObject(since);
    assert.ok(lines.filter((l) => l.msg === 'exchange').length >= 3);
  });

  it('the capture parsed every write as exactly one line', T, () => {
    tap.assertAllOneJsonObject();
    assert.equal(proxy.logs.lines.length - untapped, tap.chunks.length);
  });
});
